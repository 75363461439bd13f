import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full", app_title="atlas sweep")

with app.setup:
    import marimo as mo

    import atlas
    import atlas.app
    from atlas import widgets


@app.cell
def _():
    mo.md("""
    # atlas — parameter sweep

    A small grid of each projection's settings (UMAP, t-SNE, PaCMAP: the grids they declare) on
    one embedding, every layout aligned to the first, with the core's metrics. The data and the upstream stages come from the command line
    (`marimo run notebooks/sweep.py -- --input FILE ...`, the names of `atlas build`); without
    one, the MovieLens demo.
    """)
    return


@app.cell
def _():
    settings = atlas.app.app_settings(mo.cli_args(), collect=True)
    settings_error = " ".join(settings.problems) or None
    stage_cache = settings.stage_cache()
    return settings, settings_error, stage_cache


@app.cell
def _(settings, stage_cache):
    # one build: the sweep reads its embedding, then builds that differ from it in one projection
    data_run = atlas.app.run_stage("data", lambda _report: settings.source.load(), title="Loading data…")
    build = None if data_run.value is None else atlas.Build(data_run.value, atlas.build_params(settings.values, demo=settings.source.is_demo), cache=stage_cache)
    upstream_run = atlas.app.run_stage("filters → embedding", lambda report: build.reading(report).embedding, needs=[build], title="Building the embedding…")
    return build, data_run, upstream_run


@app.cell
def _():
    # each swept projection's grid comes from the registry (``Projection.sweep``)
    swept = [name for name, method in atlas.projections.projections().items() if method.sweep and method.compare_by_default]
    grid_form = (
        mo.md("  \n".join(f"**{atlas.projections.get(name).title}** " + " ".join(f"{{{name}__{key}}}" for key in atlas.projections.get(name).sweep) for name in swept))
        .batch(
            **{
                f"{name}__{key}": mo.ui.multiselect([f"{v:g}" for v in offered], value=[f"{v:g}" for v in chosen], label=key)
                for name in swept
                for key, (offered, chosen) in atlas.projections.get(name).sweep.items()
            }
        )
        .form(submit_button_label="Run sweep")
    )
    grid_form
    return grid_form, swept


@app.cell
def _(data_run, grid_form, settings, settings_error, swept, upstream_run):
    _problems = [mo.callout(settings_error, kind="danger")] if settings_error else []
    mo.stop(upstream_run.value is None, mo.vstack([*_problems, *atlas.app.stage_messages([data_run, upstream_run])]))
    sweep_params = atlas.projections.sweep_grid(swept, grid_form.value, seed=settings.seed)
    return (sweep_params,)


@app.cell
def _(build, sweep_params):
    sweep_runs = {}
    _n = build.embedding.coords.shape[0]
    for _label, _params in mo.status.progress_bar(list(sweep_params.items()), title="Projecting", remove_on_exit=True):
        _capped, _note = atlas.projections.of(_params).capped(_params, _n)
        _one = build.with_params(projections=(_capped,))
        sweep_runs[_label] = atlas.app.run_stage(_label, lambda _report, b=_one: b if b.layouts else None, spinner=False, note=_note)
    return (sweep_runs,)


@app.cell
def _(build, sweep_runs):
    _done = {label: run.value for label, run in sweep_runs.items() if run.ok}
    mo.stop(not _done, mo.vstack(atlas.app.stage_messages(list(sweep_runs.values()))))
    _layouts = {label: next(iter(one.layouts.values())) for label, one in _done.items()}
    sweep_layouts = atlas.pipeline.aligned(_layouts)  # every layout aligned to the first
    sweep_metrics = {label: one.metrics[one.params.export] for label, one in _done.items()}
    data = build.data
    _options = widgets.colour_options(data.items, name_column=data.name_column)
    _colour = _options[widgets.default_colour(_options, data.items, data.label_column)]
    _items = atlas.item_frame(build.profiles, data)
    _sampled = len(_items) > widgets.SWEEP_POINTS
    _charts = widgets.small_multiples(
        _items,
        {f"{label} · recall {sweep_metrics[label]['knn_recall']:.2f}": layout.xy for label, layout in sweep_layouts.items()},
        name_column=data.name_column,
        color=_colour,
    )
    mo.vstack(
        [
            *atlas.app.stage_messages(list(sweep_runs.values())),
            *([mo.md(f"Each map draws the same {widgets.SWEEP_POINTS:,} of the {len(_items):,} items, sampled at random.")] if _sampled else []),
            widgets.selectable_chart(_charts),  # its data goes to the page as a file, not inside the output
            mo.md("**Metrics** (all layouts aligned to the first)"),
            mo.ui.table(widgets.metrics_table(sweep_metrics), selection=None, pagination=False),
        ]
    )
    return sweep_layouts, sweep_metrics


if __name__ == "__main__":
    app.run()
