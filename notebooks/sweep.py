import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full", app_title="atlas sweep")

with app.setup:
    import marimo as mo

    import atlas
    from atlas import widgets


@app.cell
def _():
    mo.md("""
    # atlas — parameter sweep

    A small grid of UMAP and t-SNE settings on one embedding, every layout aligned to the first,
    with the core's metrics. The data and the upstream stages come from the command line
    (`marimo run notebooks/sweep.py -- --input FILE ...`, the names of `atlas build`); without
    one, the MovieLens demo.
    """)
    return


@app.cell
def _():
    settings = widgets.app_settings(mo.cli_args(), collect=True)
    settings_error = " ".join(settings.problems) or None
    pipe = atlas.Pipeline(cache_dir=settings.cache_dir)
    return pipe, settings, settings_error


@app.function
def embed_stages(pipe, data, params, progress=None):
    """Filters → item graph → embedding through ``pipe``'s cache: (profiles, graph, embedding)."""
    profiles = pipe.profiles(data, params.filter)
    _candidates, graph = pipe.item_graph(profiles, params.cooccurrence, params.graph, progress=progress)
    return profiles, graph, pipe.embed(graph, params.embed, profiles=profiles)


@app.cell
def _(pipe, settings):
    data_run = widgets.run_stage("data", lambda _report: settings.source.load(), title="Loading data…")
    upstream_run = widgets.run_stage(
        "filters → embedding",
        lambda report: embed_stages(pipe, data_run.value, atlas.build_params(settings.values, demo=settings.source.is_demo), progress=report),
        needs=[data_run.value],
        title="Building the embedding…",
    )
    return data_run, upstream_run


@app.cell
def _():
    grid_defaults = {"umap_neighbors": ["15", "50"], "min_dist": ["0.1", "0.5"], "perplexity": ["10", "30"], "exaggeration": ["1.3", "12"]}
    grid_form = (
        mo.md("**UMAP** {umap_neighbors} {min_dist}  \n**t-SNE** {perplexity} {exaggeration}")
        .batch(
            umap_neighbors=mo.ui.multiselect(["5", "15", "30", "50", "100", "200"], value=grid_defaults["umap_neighbors"], label="n_neighbors"),
            min_dist=mo.ui.multiselect(["0.0", "0.1", "0.3", "0.5", "0.8"], value=grid_defaults["min_dist"], label="min_dist"),
            perplexity=mo.ui.multiselect(["5", "10", "20", "30", "50", "80"], value=grid_defaults["perplexity"], label="perplexity"),
            exaggeration=mo.ui.multiselect(["1.3", "4", "12"], value=grid_defaults["exaggeration"], label="early exaggeration"),
        )
        .form(submit_button_label="Run sweep")
    )
    grid_form
    return grid_defaults, grid_form


@app.cell
def _(data_run, grid_defaults, grid_form, settings, settings_error, upstream_run):
    _problems = [mo.callout(settings_error, kind="danger")] if settings_error else []
    mo.stop(upstream_run.value is None, mo.vstack([*_problems, *widgets.stage_messages([data_run, upstream_run])]))
    data = data_run.value
    profiles, graph, embedding = upstream_run.value
    _grid = grid_form.value or grid_defaults
    sweep_params = {
        f"UMAP n_neighbors={k} min_dist={d}": atlas.UmapParams(n_neighbors=int(k), min_dist=float(d), seed=settings.seed)
        for k in sorted(_grid["umap_neighbors"], key=float)
        for d in sorted(_grid["min_dist"], key=float)
    }
    sweep_params.update(
        {
            f"t-SNE perplexity={p} exaggeration={e}": atlas.TsneParams(perplexity=float(p), early_exaggeration=float(e), seed=settings.seed)
            for p in sorted(_grid["perplexity"], key=float)
            for e in sorted(_grid["exaggeration"], key=float)
        }
    )
    return data, embedding, graph, profiles, sweep_params


@app.cell
def _(embedding, pipe, sweep_params):
    sweep_runs = {}
    for _label, _params in mo.status.progress_bar(list(sweep_params.items()), title="Projecting", remove_on_exit=True):
        _capped, _note = atlas.projections.of(_params).capped(_params, embedding.coords.shape[0])
        sweep_runs[_label] = widgets.run_stage(_label, lambda _report, p=_capped: pipe.project(embedding, p), spinner=False, note=_note)
    return (sweep_runs,)


@app.cell
def _(data, embedding, graph, pipe, profiles, sweep_runs):
    _done = {label: run.value for label, run in sweep_runs.items() if run.ok}
    mo.stop(not _done, mo.vstack(widgets.stage_messages(list(sweep_runs.values()))))
    _reference = next(iter(_done.values()))
    sweep_layouts = {label: atlas.align_layout(layout, _reference) for label, layout in _done.items()}
    _labels = atlas.item_labels(profiles, data)
    sweep_metrics = {label: pipe.metrics(layout, graph, embedding, _labels) for label, layout in sweep_layouts.items()}
    _keys = {label: f"l{i}" for i, label in enumerate(sweep_layouts)}
    _table = widgets.map_table(
        atlas.item_frame(profiles, data), {_keys[label]: layout.xy for label, layout in sweep_layouts.items()}, name_column=data.name_column
    )
    _table = _table.iloc[widgets.sample_rows(len(_table))]
    _options = widgets.colour_options(data.items, name_column=data.name_column)
    _colour = _options[widgets.default_colour(_options, data.items, data.label_column)]
    _charts = [
        widgets.small_multiple(
            _table, _keys[label], title=f"{label} · recall {sweep_metrics[label]['knn_recall']:.2f}", color=_colour
        )
        for label in sweep_layouts
    ]
    mo.vstack(
        [
            *widgets.stage_messages(list(sweep_runs.values())),
            mo.hstack(_charts, wrap=True, justify="start"),
            mo.md("**Metrics** (all layouts aligned to the first)"),
            mo.ui.table(widgets.metrics_table(sweep_metrics), selection=None, pagination=False),
        ]
    )
    return sweep_layouts, sweep_metrics


if __name__ == "__main__":
    app.run()
