# /// script
# [tool.marimo.lint]
# # This app is named after the package it drives; the setup cell keeps its own folder off the
# # import path so that `import atlas` finds the package, not this file.
# ignore = ["MR001"]
# ///

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full", app_title="atlas")

with app.setup:
    import dataclasses
    import sys
    import tempfile
    from pathlib import Path

    import marimo as mo

    # `marimo run notebooks/atlas.py` puts notebooks/ on the import path, where this very file
    # would shadow the atlas package.
    _here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]

    import atlas
    from atlas import widgets


@app.cell
def _(access):
    mo.vstack(
        [
            mo.md("""
    # atlas — a map of items from who-liked-what

    Items that the same people like sit together. Tune each stage in the sidebar (filters →
    co-occurrence graph → PyMDE embedding), then the two projections below; only the stages after
    a change are recomputed, and settings seen before come back from the cache.
    """),
            widgets.access_note(access),
        ]
    )
    return


@app.cell
def _():
    _problems = []
    settings = widgets.app_settings(mo.cli_args(), problems=_problems)
    # Which files this visitor may name: locked when the app is shared without a policy.
    access = widgets.visitor_access(settings, mo.app_meta().request, listening=widgets.listening_addresses(), problems=_problems)
    settings_run = widgets.StageRun("command line", settings, " ".join(_problems) or None, 0.0)
    pipe = atlas.Pipeline(cache_dir=settings["cache_dir"])
    upload_dir = Path(tempfile.mkdtemp(prefix="atlas-upload-"))
    return access, pipe, settings, settings_run, upload_dir


@app.cell
def _(access, settings):
    _text = {key: settings[key] or "" for key in ("input", "items", "user_col", "item_col", "weight_col", "items_id_col", "name_col", "label_col")}
    # Path boxes only where typed paths are allowed; uploads wherever files may arrive at all.
    _files = {}
    if access.reads_paths:
        _files["path"] = mo.ui.text(value=_text["input"], label="Interactions file", placeholder="empty: MovieLens demo", full_width=True)
    if access.takes_uploads:
        _files["upload"] = mo.ui.file(
            label="…or upload" if access.reads_paths else "Upload interactions",
            kind="button" if access.reads_paths else "area",
            max_size=access.max_upload_bytes,
        )
    if access.reads_paths:
        _files["items_path"] = mo.ui.text(value=_text["items"], label="Item metadata (optional)", full_width=True)
    if access.takes_uploads:
        _files["items_upload"] = mo.ui.file(
            label="…or upload" if access.reads_paths else "Upload item metadata (optional)",
            kind="button" if access.reads_paths else "area",
            max_size=access.max_upload_bytes,
        )
    data_defaults = {
        **{key: _text["input"] if key == "path" else _text["items"] if key == "items_path" else () for key in _files},
        **{key: _text[key] for key in ("user_col", "item_col", "weight_col", "items_id_col", "name_col", "label_col")},
    }
    data_form = (
        mo.md(
            "\n".join(
                [
                    *(f"{{{key}}}" for key in _files),
                    *([] if access.reads_paths or not access.takes_uploads else [f"<small>Files up to {access.max_upload_mb:g} MB.</small>\n"]),
                    "Columns (empty: the file's first columns)",
                    "{user_col} {item_col} {weight_col}",
                    "Metadata columns (empty: guessed)",
                    "{items_id_col} {name_col} {label_col}",
                ]
            )
        )
        .batch(
            **_files,
            user_col=mo.ui.text(value=_text["user_col"], label="user", placeholder="auto"),
            item_col=mo.ui.text(value=_text["item_col"], label="item", placeholder="auto"),
            weight_col=mo.ui.text(value=_text["weight_col"], label="weight", placeholder="auto"),
            items_id_col=mo.ui.text(value=_text["items_id_col"], label="id", placeholder="first"),
            name_col=mo.ui.text(value=_text["name_col"], label="name", placeholder="title/name"),
            label_col=mo.ui.text(value=_text["label_col"], label="label", placeholder="none"),
        )
        .form(submit_button_label="Load data", bordered=False)
    )
    return data_defaults, data_form


@app.cell
def _(settings):
    _grid = widgets.slider_steps
    filter_defaults = {
        "min_item_users": settings["min_item_users"],
        "min_user_items": settings["min_user_items"],
        "min_weight": "" if settings["min_weight"] is None else f"{settings['min_weight']:g}",
        "max_user_items": "" if settings["max_user_items"] is None else str(settings["max_user_items"]),
    }
    filter_form = (
        mo.md("{min_item_users}\n\n{min_user_items}\n\n{min_weight}\n\n{max_user_items}")
        .batch(
            min_item_users=mo.ui.slider(
                steps=_grid([1, 2, 3, 5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500], settings["min_item_users"]),
                value=settings["min_item_users"], label="min users per item", show_value=True, full_width=True,
            ),
            min_user_items=mo.ui.slider(
                steps=_grid([1, 2, 3, 5, 10, 15, 20, 30, 50, 100], settings["min_user_items"]),
                value=settings["min_user_items"], label="min items per user", show_value=True, full_width=True,
            ),
            min_weight=mo.ui.text(value=filter_defaults["min_weight"], label="weight threshold", placeholder="none"),
            max_user_items=mo.ui.text(value=filter_defaults["max_user_items"], label="max items per user", placeholder="none"),
        )
        .form(submit_button_label="Apply filters", bordered=False)
    )

    graph_defaults = {"weighting": settings["weighting"], "n_neighbors": settings["n_neighbors"], "method": settings["graph_method"]}
    graph_form = (
        mo.md("{weighting}\n\n{n_neighbors}\n\n{method}")
        .batch(
            weighting=mo.ui.dropdown(list(atlas.WEIGHTINGS), value=settings["weighting"], label="weighting"),
            n_neighbors=mo.ui.slider(
                steps=_grid([2, 3, 5, 8, 10, 15, 20, 30, 40, 60, 100], settings["n_neighbors"]),
                value=settings["n_neighbors"], label="graph n_neighbors", show_value=True, full_width=True,
            ),
            method=mo.ui.dropdown(["topk", "recipe"], value=settings["graph_method"], label="graph method"),
        )
        .form(submit_button_label="Apply graph", bordered=False)
    )

    embed_defaults = {key: settings[key] for key in ("embedding_dim", "max_iter", "repulsive_fraction", "init")}
    embed_form = (
        mo.md("{embedding_dim}\n\n{max_iter}\n\n{repulsive_fraction}\n\n{init}")
        .batch(
            embedding_dim=mo.ui.slider(
                steps=_grid([2, 3, 4, 5, 6, 8], settings["embedding_dim"]),
                value=settings["embedding_dim"], label="embedding_dim", show_value=True, full_width=True,
            ),
            max_iter=mo.ui.slider(
                steps=_grid([50, 100, 200, 300, 500, 1000, 2000], settings["max_iter"]),
                value=settings["max_iter"], label="PyMDE iterations", show_value=True, full_width=True,
            ),
            repulsive_fraction=mo.ui.slider(
                steps=_grid(widgets.float_grid(0.1, 3.0, 0.1), settings["repulsive_fraction"]),
                value=settings["repulsive_fraction"], label="repulsion", show_value=True, full_width=True,
            ),
            init=mo.ui.dropdown(["random", "spectral"], value=settings["init"], label="init"),
        )
        .form(submit_button_label="Apply embedding", bordered=False)
    )
    seed = mo.ui.number(start=0, stop=2**31 - 1, value=settings["seed"], label="seed")
    return (
        embed_defaults,
        embed_form,
        filter_defaults,
        filter_form,
        graph_defaults,
        graph_form,
        seed,
    )


@app.cell
def _(data_form, embed_form, filter_form, graph_form, seed):
    mo.sidebar(
        [
            mo.md("## Data"),
            data_form,
            mo.md("## Filters"),
            filter_form,
            mo.md("## Graph"),
            graph_form,
            mo.md("## Embedding (PyMDE)"),
            embed_form,
            seed,
        ],
        width="360px",
    )
    return


@app.cell
def _(settings):
    _grid = widgets.slider_steps

    def _slider(steps, key, label):
        return mo.ui.slider(steps=_grid(steps, settings[key]), value=settings[key], label=label, show_value=True, debounce=True)

    umap_neighbors = _slider([5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300], "umap_n_neighbors", "n_neighbors")
    umap_min_dist = _slider(widgets.float_grid(0.0, 1.0, 0.05), "min_dist", "min_dist")
    umap_spread = _slider(widgets.float_grid(0.5, 3.0, 0.1), "spread", "spread")
    tsne_perplexity = _slider(widgets.float_grid(5, 100, 5), "perplexity", "perplexity")
    tsne_exaggeration = _slider([1.0, 1.3, 2.0, 4.0, 8.0, 12.0, 16.0, 24.0], "early_exaggeration", "early exaggeration")
    tsne_dof = _slider(widgets.float_grid(0.2, 2.0, 0.1), "dof", "degrees of freedom")
    return (
        tsne_dof,
        tsne_exaggeration,
        tsne_perplexity,
        umap_min_dist,
        umap_neighbors,
        umap_spread,
    )


@app.cell
def _(access, data_defaults, data_form, settings, upload_dir):
    _choice = data_form.value or data_defaults

    def _file(box, upload, preset):
        return widgets.resolve_upload(_choice.get(box), _choice.get(upload, ()), upload_dir, access=access, preset=preset)

    data_run = widgets.run_stage(
        "data",
        lambda _report: widgets.load_data(
            path=_file("path", "upload", settings["input"]),
            items_path=_file("items_path", "items_upload", settings["items"]),
            **{key: _choice[key].strip() for key in ("user_col", "item_col", "weight_col", "items_id_col", "name_col", "label_col")},
        ),
        title="Loading data…",
    )
    data = data_run.value
    return data, data_run


@app.cell
def _(data, filter_defaults, filter_form, pipe, seed):
    _f = filter_form.value or filter_defaults
    filter_run = widgets.run_stage(
        "filters",
        lambda _report: atlas.FilterParams(
            min_item_users=int(_f["min_item_users"]),
            min_user_items=int(_f["min_user_items"]),
            min_weight=widgets.optional_number(_f["min_weight"], "weight threshold"),
            max_user_items=widgets.optional_number(_f["max_user_items"], "max items per user", integer=True),
            seed=int(seed.value),
        ),
        spinner=False,
    )
    filter_params = filter_run.value
    profiles_run = widgets.run_stage(
        "profiles",
        lambda _report: pipe.profiles(data, filter_params),
        needs=[data, filter_params],
        title="Filtering users and items…",
    )
    profiles = profiles_run.value
    return filter_params, filter_run, profiles, profiles_run


@app.cell
def _(graph_defaults, graph_form, pipe, profiles, settings):
    _g = graph_form.value or graph_defaults
    graph_params = atlas.GraphParams(n_neighbors=int(_g["n_neighbors"]), method=_g["method"])
    cooccurrence_params = atlas.CooccurrenceParams(
        weighting=_g["weighting"] or "cosine",
        min_count=settings["min_count"],
        n_candidates=max(atlas.CooccurrenceParams().n_candidates, graph_params.n_neighbors),
    )
    if graph_params.method == "topk":
        candidates_run = widgets.run_stage(
            "co-occurrence",
            lambda report: pipe.cooccurrence(profiles, cooccurrence_params, progress=report),
            needs=[profiles],
            title="Counting co-occurrences…",
        )
    else:
        candidates_run = widgets.skipped("co-occurrence")
    candidates = candidates_run.value
    graph_run = widgets.run_stage(
        "graph",
        lambda _report: pipe.graph(profiles, candidates, graph_params),
        needs=[profiles] + ([candidates] if graph_params.method == "topk" else []),
        title="Building the item graph…",
    )
    graph = graph_run.value
    return (
        candidates,
        candidates_run,
        cooccurrence_params,
        graph,
        graph_params,
        graph_run,
    )


@app.cell
def _(embed_defaults, embed_form, graph, pipe, seed):
    _e = embed_form.value or embed_defaults
    embed_params = atlas.EmbedParams(
        embedding_dim=int(_e["embedding_dim"]),
        max_iter=int(_e["max_iter"]),
        repulsive_fraction=float(_e["repulsive_fraction"]),
        init=_e["init"],
        seed=int(seed.value),
    )
    embedding_run = widgets.run_stage(
        "embedding", lambda _report: pipe.embed(graph, embed_params), needs=[graph], title="Embedding the graph with PyMDE…"
    )
    embedding = embedding_run.value
    return embed_params, embedding, embedding_run


@app.cell
def _(embedding, pipe, seed, umap_min_dist, umap_neighbors, umap_spread):
    _params = atlas.UmapParams(
        n_neighbors=int(umap_neighbors.value),
        min_dist=min(float(umap_min_dist.value), float(umap_spread.value)),
        spread=float(umap_spread.value),
        seed=int(seed.value),
    )
    umap_params, _note = (_params, None) if embedding is None else widgets.capped_projection(_params, embedding.coords.shape[0])
    umap_run = widgets.run_stage(
        "UMAP", lambda _report: pipe.project(embedding, umap_params), needs=[embedding], title="Projecting with UMAP…", note=_note
    )
    return umap_params, umap_run


@app.cell
def _(embedding, pipe, seed, tsne_dof, tsne_exaggeration, tsne_perplexity):
    _params = atlas.TsneParams(
        perplexity=float(tsne_perplexity.value),
        early_exaggeration=float(tsne_exaggeration.value),
        dof=float(tsne_dof.value),
        seed=int(seed.value),
    )
    tsne_params, _note = (_params, None) if embedding is None else widgets.capped_projection(_params, embedding.coords.shape[0])
    tsne_run = widgets.run_stage(
        "t-SNE", lambda _report: pipe.project(embedding, tsne_params), needs=[embedding], title="Projecting with t-SNE…", note=_note
    )
    return tsne_params, tsne_run


@app.cell
def _():
    pymde_2d = mo.ui.checkbox(value=False, label="also compare PyMDE's own 2D embedding")
    return (pymde_2d,)


@app.cell
def _(embed_params, graph, pipe, pymde_2d):
    if pymde_2d.value:
        pymde_run = widgets.run_stage(
            "PyMDE 2D",
            lambda _report: pipe.embed(graph, dataclasses.replace(embed_params, embedding_dim=2)),
            needs=[graph],
            title="Embedding the graph in 2D with PyMDE…",
        )
    else:
        pymde_run = widgets.skipped("PyMDE 2D")
    return (pymde_run,)


@app.cell
def _(pymde_run, tsne_run, umap_run):
    aligned = widgets.aligned_layouts(umap=umap_run.value, tsne=tsne_run.value, pymde=pymde_run.value)
    return (aligned,)


@app.cell
def _(
    candidates_run,
    data_run,
    embedding_run,
    filter_run,
    graph_run,
    profiles_run,
    pymde_run,
    settings_run,
    tsne_run,
    umap_run,
):
    pipeline_runs = [data_run, profiles_run, candidates_run, graph_run, embedding_run, umap_run, tsne_run, pymde_run]
    stage_runs = [settings_run, filter_run, *pipeline_runs]
    mo.vstack(widgets.stage_messages(stage_runs))
    return pipeline_runs, stage_runs


@app.cell
def _(data, embedding, graph, profiles):
    mo.stop(profiles is None)
    _summary = profiles.summary()
    _stats = [
        mo.stat(f"{_summary['users']:,}", label="users kept", caption=f"of {data.interactions.n_users:,}"),
        mo.stat(f"{_summary['items']:,}", label="items kept", caption=f"of {data.interactions.n_items:,}"),
        mo.stat(f"{_summary['interactions']:,}", label="interactions kept", caption=f"of {_summary['input_interactions']:,}"),
    ]
    if graph is not None:
        _g = graph.summary()
        _stats += [
            mo.stat(f"{_g['components']:,}", label="graph components", caption=f"largest {_g['largest_component']:,} items"),
            mo.stat(f"{_g['isolated_items']:,}", label="isolated items", caption=f"{_g['edges']:,} edges"),
        ]
    if embedding is not None:
        _stats.append(mo.stat(f"{embedding.distortion:.3f}", label="PyMDE distortion", caption=f"{embedding.dim}D, {embedding.iterations} iterations"))
    _charts = mo.hstack(
        [
            widgets.histogram(profiles.user_lengths, title="Profile length (items per user)", x_title="items", log_x=True),
            widgets.histogram(profiles.item_users, title="Popularity (users per item)", x_title="users", log_x=True),
        ],
        justify="start",
    )
    mo.vstack([mo.md("## Diagnostics"), mo.hstack(_stats, justify="start", wrap=True), _charts])
    return


@app.cell
def _(data, profiles):
    mo.stop(profiles is None)
    item_info = atlas.item_frame(profiles, data)
    return (item_info,)


@app.cell
def _(data):
    mo.stop(data is None)
    _options = widgets.colour_options(data.items, name_column=data.name_column)
    colour_by = mo.ui.dropdown(_options, value=widgets.default_colour(_options, data.items, data.label_column), label="colour by")
    search = mo.ui.text(label="find an item", placeholder="name or id")
    _users = [str(u) for u in data.interactions.user_ids]
    if len(_users) <= 5000:
        user_pick = mo.ui.dropdown(_users, label="place a user", searchable=True)
    else:
        user_pick = mo.ui.text(label="place a user", placeholder="user id")
    pasted = mo.ui.text_area(label="…or paste items (ids or names, one per line)", rows=2)
    return colour_by, pasted, search, user_pick


@app.cell
def _(aligned, data, graph, item_info):
    mo.stop(not aligned or graph is None)
    map_data = widgets.map_table(
        item_info, {key: layout.xy for key, layout in aligned.items()}, name_column=data.name_column, neighbors=graph.neighbors
    )
    return (map_data,)


@app.cell
def _(data, graph, map_data, pasted, profiles, search, user_pick):
    _hits = widgets.find_items(map_data, search.value)
    _search_rows = widgets.with_neighbours(_hits[:1], graph.neighbors)
    _user_rows = widgets.rows_for_user(data.interactions, profiles.item_ids, user_pick.value) if user_pick.value else []
    _pasted_rows = widgets.rows_from_text(map_data, pasted.value)
    highlight_rows = sorted({*map(int, _search_rows), *map(int, _user_rows), *map(int, _pasted_rows)})
    _lines = []
    if search.value.strip():
        if _hits.size:
            _lines.append(f"**{map_data['name'].iloc[_hits[0]]}** and its {len(_search_rows) - 1} graph neighbours are outlined.")
        else:
            _lines.append(f"No item matches “{search.value.strip()}”.")
    if user_pick.value:
        _lines.append(f"User **{user_pick.value}**: {len(_user_rows)} of their items are on the map.")
    if pasted.value.strip():
        _lines.append(f"Pasted list: {len(_pasted_rows)} items found on the map.")
    highlight_note = mo.md("  \n".join(_lines))
    return highlight_note, highlight_rows


@app.cell
def _(
    colour_by,
    pasted,
    search,
    tsne_dof,
    tsne_exaggeration,
    tsne_perplexity,
    umap_min_dist,
    umap_neighbors,
    umap_spread,
    user_pick,
):
    mo.vstack(
        [
            mo.md("## Maps — brush in one view to see the same items in the other"),
            mo.hstack(
                [
                    mo.vstack([mo.md("**UMAP**"), umap_neighbors, umap_min_dist, umap_spread]),
                    mo.vstack([mo.md("**t-SNE**"), tsne_perplexity, tsne_exaggeration, tsne_dof]),
                ],
                widths="equal",
            ),
            mo.hstack([colour_by, search, user_pick, pasted], justify="start", align="end", wrap=True),
        ]
    )
    return


@app.cell
def _(aligned, colour_by, highlight_note, highlight_rows, map_data):
    _titles = {"umap": "UMAP", "tsne": "t-SNE (aligned to UMAP)" if "umap" in aligned else "t-SNE"}
    _chart, _rows = widgets.map_views(
        map_data,
        {_titles[k]: k for k in ("umap", "tsne") if k in aligned},
        color=colour_by.value if colour_by.value in map_data else "n_users",
        highlight_rows=highlight_rows,
    )
    maps = widgets.selectable_chart(_chart)
    _sampled = (
        mo.callout(
            mo.md(f"Showing a sample of **{len(_rows):,}** of {len(map_data):,} items in these views (Altair stays fluid up to {widgets.MAX_CHART_POINTS:,} points); search hits and a user's items are always drawn."),
            kind="info",
        )
        if len(_rows) < len(map_data)
        else mo.md("")
    )
    mo.vstack([_sampled, maps, highlight_note])
    return (maps,)


@app.cell
def _(maps):
    _selected = maps.value
    _columns = [c for c in _selected.columns if c not in ("row", "highlight") and not c.endswith(("_x", "_y"))]
    mo.vstack(
        [
            mo.md(f"**{len(_selected):,} items selected**" if len(_selected) else "_Brush over either map to list the items here._"),
            mo.ui.table(_selected[_columns].reset_index(drop=True), selection=None, page_size=10) if len(_selected) else mo.md(""),
        ]
    )
    return


@app.cell
def _(aligned, colour_by, graph, map_data, pymde_2d):
    _names = {"umap": "UMAP", "tsne": "t-SNE", "pymde": "PyMDE 2D"}
    comparison, _rows = widgets.comparison_view(
        {_names[k]: layout for k, layout in aligned.items()},
        map_data,
        graph.neighbors,
        color=colour_by.value if colour_by.value in map_data else "n_users",
        max_points=widgets.MAX_EMBLAZE_POINTS,
        graph_key=graph.key,
    )
    mo.vstack(
        [
            mo.md("## Compare layouts (Emblaze)"),
            mo.md(
                "Click a frame on the left to animate between layouts; click a point to list its graph neighbours."
                + (f" Showing a sample of {len(_rows):,} of {len(map_data):,} items." if len(_rows) < len(map_data) else "")
            ),
            pymde_2d,
            # mounted only once scrolled into view, so that slider moves above stay quick
            mo.lazy(comparison),
        ]
    )
    return


@app.cell
def _(aligned, data, embedding, graph, pipe, profiles):
    mo.stop(not aligned)
    _labels = atlas.item_labels(profiles, data)
    layout_metrics = {key: pipe.metrics(layout, graph, embedding, _labels) for key, layout in aligned.items()}
    mo.vstack(
        [
            mo.md("## Quality at a glance"),
            mo.md(
                "*knn_recall*: share of each item's graph neighbours among its nearest points on the map; "
                "*trustworthiness*: are map neighbours true embedding neighbours; "
                "*label_agreement*: share of map neighbours with the same label (vs. *label_chance*)."
            ),
            mo.ui.table(widgets.metrics_table(layout_metrics), selection=None, pagination=False),
        ]
    )
    return (layout_metrics,)


@app.cell
def _(pipeline_runs):
    mo.vstack(
        [
            mo.md("**Time per stage** (a stage served from the cache takes almost no time)"),
            mo.ui.table(widgets.timing_table(pipeline_runs), selection=None, pagination=False),
        ]
    )
    return


@app.cell
def _(access, pymde_2d, settings):
    # Not tied to the layouts themselves, so that a typed folder survives a slider move.
    _choices = ["umap", "tsne"] + (["pymde"] if pymde_2d.value else [])
    export_layout_choice = mo.ui.dropdown(
        _choices, value=settings["projection"] if settings["projection"] in _choices else _choices[0], label="layout to keep"
    )
    if access.reads_paths:
        export_dir = mo.ui.text(value=access.default_export_folder(settings["out"]), label="folder on the server", full_width=True)
        export_button = mo.ui.run_button(label="Export")
        _row = mo.hstack([export_layout_choice, export_dir, export_button], widths=[1, 3, 1], align="end")
    else:
        export_dir = export_button = None
        _row = mo.hstack([export_layout_choice], justify="start")
    mo.vstack([mo.md("## Export"), _row])
    return export_button, export_dir, export_layout_choice


@app.cell
def _(
    aligned,
    candidates,
    cooccurrence_params,
    embed_params,
    embedding,
    export_layout_choice,
    filter_params,
    graph,
    graph_params,
    layout_metrics,
    pipeline_runs,
    profiles,
    tsne_params,
    umap_params,
):
    mo.stop(
        export_layout_choice.value not in aligned,
        mo.callout(mo.md(f"**Export** — there is no **{export_layout_choice.value}** layout to write (see the messages above); choose another."), kind="danger"),
    )
    export_result = atlas.BuildResult(
        params=atlas.BuildParams(
            filter=filter_params,
            cooccurrence=cooccurrence_params,
            graph=graph_params,
            embed=embed_params,
            umap=umap_params,
            tsne=tsne_params,
        ),
        profiles=profiles,
        candidates=candidates,
        graph=graph,
        embedding=embedding,
        layouts={export_layout_choice.value: aligned[export_layout_choice.value], **{k: v for k, v in aligned.items() if k != export_layout_choice.value}},
        metrics=layout_metrics,
        timings={run.stage: run.computed_seconds or run.seconds for run in pipeline_runs if run.value is not None},
    )
    return (export_result,)


@app.cell
def _(data, export_layout_choice, export_result):
    # Built only when pressed, in a temporary folder on the server that is removed afterwards.
    _projection = export_layout_choice.value
    export_download = mo.download(
        data=lambda: widgets.export_zip(export_result, data, projection=_projection),
        filename=f"atlas-{_projection}.zip",
        mimetype="application/zip",
        label=f"Download the {_projection} export (.zip with atlas.html)",
    )
    export_download
    return


@app.cell
def _(access, data, export_button, export_dir, export_layout_choice, export_result):
    mo.stop(export_dir is None)
    export_folder_run = widgets.run_stage("export folder", lambda _report: access.resolve_write(export_dir.value), spinner=False)
    mo.stop(not export_folder_run.ok, mo.callout(mo.md(f"**Export** — {export_folder_run.error}"), kind="danger"))
    mo.stop(not export_button.value, mo.md(f"_…or press **Export** to write the files into `{export_folder_run.value}` on the server._"))
    export_run = widgets.run_stage(
        "export",
        lambda _report: widgets.export_with_page(export_folder_run.value, export_result, data, projection=export_layout_choice.value),
        title="Writing the export…",
    )
    if export_run.ok:
        _paths = "\n".join(f"- `{path}`" for path in export_run.value.values())
        _out = mo.callout(mo.md(f"Wrote the **{export_layout_choice.value}** layout:\n\n{_paths}"), kind="success")
    else:
        _out = mo.callout(mo.md(f"**Export failed** — {export_run.error}"), kind="danger")
    _out
    return


if __name__ == "__main__":
    app.run()
