import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full", app_title="atlas")

with app.setup:
    import dataclasses
    import tempfile
    from pathlib import Path

    import marimo as mo

    import atlas
    import atlas.app
    import atlas.diff
    from atlas import widgets


@app.cell
def _(access):
    mo.vstack(
        [
            mo.md("""
    # atlas — a map of items from who-liked-what

    Items that the same people like sit together. Every stage is tuned in the sidebar (data →
    filters → co-occurrence graph → embedding → projections); only the stages after a change are
    recomputed, and settings seen before come back from the cache.
    """),
            atlas.app.access_note(access),
        ]
    )
    return


@app.cell
def _():
    # the command line's presets, with the options of the page's address on top (a reload, a shared link)
    settings = atlas.app.app_settings(mo.cli_args(), collect=True).with_address(mo.query_params().to_dict())
    _problems = list(settings.problems)
    # Which files this visitor may name: locked when the app is shared without a policy.
    access = atlas.app.visitor_access(settings, mo.app_meta().request, listening=atlas.app.listening_addresses(), problems=_problems)
    settings_run = atlas.app.StageRun("command line", settings, " ".join(_problems) or None, 0.0)
    stage_cache = settings.stage_cache()  # shared by every build of this session
    memo = widgets.shared_memo()  # charts and comparison parts, shared by the server's sessions (widgets are not)
    upload_dir = Path(tempfile.mkdtemp(prefix="atlas-upload-"))
    return access, memo, settings, settings_run, stage_cache, upload_dir


@app.cell
def _(access, settings):
    _text = {key: getattr(settings.source, key) or "" for key in ("input", "items", "user_col", "item_col", "weight_col", "items_id_col", "name_col", "label_col")}
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
    _fields = atlas.plan.stage_fields()
    _graph_fields = _fields["cooccurrence"] + _fields["graph"]
    filter_defaults = widgets.form_defaults(_fields["filter"], settings)
    filter_form = widgets.options_form(_fields["filter"], settings, "Apply filters")
    graph_defaults = widgets.form_defaults(_graph_fields, settings)
    graph_form = widgets.options_form(_graph_fields, settings, "Apply graph")
    embed_defaults = widgets.form_defaults(_fields["embed"], settings)
    embed_form = widgets.options_form(_fields["embed"], settings, "Apply embedding")
    seed = mo.ui.number(start=0, stop=atlas.errors.MAX_SEED, value=settings.seed, label="seed")
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
def _(data_form, embed_form, filter_form, graph_form, projection_controls, seed, shown):
    # every setting of the build lives here, so that the maps lead the page and keep its width
    mo.sidebar(
        [
            mo.md("## Data"),
            data_form,
            mo.md("## Filters"),
            filter_form,
            mo.md("## Graph"),
            graph_form,
            mo.md("## Embedding"),
            embed_form,
            seed,
            mo.md("## Projections"),
            widgets.controls_panel(projection_controls, shown, stacked=True),
        ],
        width=widgets.SIDEBAR_WIDTH,
    )
    return


@app.cell
def _(settings):
    pymde_2d = mo.ui.checkbox(value=settings.compares("pymde"), label="also compare PyMDE's own 2D embedding")
    return (pymde_2d,)


@app.cell
def _(pymde_2d):
    # the projections on show: every one compared by default, PyMDE's 2D layout on request
    shown = tuple(
        name for name in atlas.projections.names() if atlas.projections.get(name).compare_by_default or (name == "pymde" and pymde_2d.value)
    )
    return (shown,)


@app.cell
def _(settings):
    projection_controls = widgets.projection_controls(settings, atlas.projections.names())
    return (projection_controls,)


@app.cell
def _(access, data_defaults, data_form, settings, stage_cache, upload_dir):
    _choice = data_form.value or data_defaults

    def _file(box, upload, preset):
        return atlas.app.resolve_upload(_choice.get(box), _choice.get(upload, ()), upload_dir, access=access, preset=preset)

    def _load(_report):
        _source = atlas.Source(
            input=_file("path", "upload", settings.source.input),
            items=_file("items_path", "items_upload", settings.source.items),
            **{key: _choice[key] for key in ("user_col", "item_col", "weight_col", "items_id_col", "name_col", "label_col")},
            drop_missing_weights=settings.source.drop_missing_weights,
            align_anyway=settings.source.align_anyway,
        )
        return _source, atlas.app.shared_load(_source, _source.load)  # a reload or a second tab reads it once

    data_run = atlas.app.run_stage("data", _load, title="Loading data…")
    data_run = dataclasses.replace(data_run, status="loaded") if data_run.ok else data_run
    data_source, data = data_run.value or (None, None)
    # the map's build: every cell below reads its stages (atlas/build.py), none runs them in order
    loaded = None if data is None else atlas.Build(data, cache=stage_cache)
    return data, data_run, data_source, loaded


@app.cell
def _(access, align_to, embedded, embedding, settings):
    # A previous export whose map the layouts keep: its items start where they were (atlas/align.py)
    def _anchored(_report):
        _folder = access.resolve_read(align_to.value) if align_to is not None else None
        _build = embedded.with_params(anchor=None if _folder is None else atlas.align.read_anchor(_folder, anyway=settings.source.align_anyway))
        _build.start  # the anchor's positions, read now so that a bad folder is named here
        return _build

    align_run = atlas.app.run_stage("align to", _anchored, needs=[embedding], spinner=False)
    anchored = align_run.value
    align_match = None if anchored is None else anchored.match
    return align_match, align_run, anchored


@app.cell
def _(
    data_run,
    embed_params_run,
    embedding_run,
    filter_run,
    graph_params_run,
    graph_run,
    layout_runs,
    profiles_run,
    settings_run,
):
    pipeline_runs = [data_run, profiles_run, graph_run, embedding_run]
    stage_runs = [settings_run, filter_run, graph_params_run, embed_params_run, *pipeline_runs, *layout_runs.values()]
    mo.vstack(atlas.app.stage_messages(stage_runs))
    return pipeline_runs, stage_runs


@app.cell
def _(data, profiles):
    mo.stop(profiles is None)
    item_info = atlas.item_frame(profiles, data)
    return (item_info,)


@app.cell
def _(access, data, settings):
    mo.stop(data is None)
    # each map's faithfulness, and (where an earlier export can be aligned to) the items new since it
    _options = widgets.colour_options(data.items, name_column=data.name_column, faithfulness=True, since=access.reads_paths)
    _colour = settings.view.get("colour")
    colour_by = mo.ui.dropdown(
        _options, value=_colour if _colour in _options else widgets.default_colour(_options, data.items, data.label_column), label="colour by",
        full_width=True,  # a long option never pushes the box into the next column of the view bar
    )
    # each starts where the page's address says (a reload, a shared link)
    _view = settings.view
    search = mo.ui.text(value=_view.get("find", ""), label="find an item", placeholder="name or id")
    _users = [str(u) for u in data.interactions.user_ids]
    if len(_users) <= 5000:
        user_pick = mo.ui.dropdown(_users, value=_view.get("user") if _view.get("user") in _users else None, label="place a user", searchable=True)
    else:
        user_pick = mo.ui.text(value=_view.get("user", ""), label="place a user", placeholder="user id")
    user_top = mo.ui.number(start=0, step=10, value=int(_view.get("top", 0)), label="their top N by weight (0: all)")
    pasted = mo.ui.text_area(value=_view.get("paste", ""), label="…or paste items (ids or names, one per line)", rows=2)
    return colour_by, pasted, search, user_pick, user_top


@app.cell
def _(colour_by, data, settings):
    # a column of sets (genres "Action|Sci-Fi"): colour by each item's most distinctive value, or by one value
    _choices = atlas.columns.set_choices(data.items[colour_by.selected_key]) if data.items is not None and colour_by.selected_key in data.items else {}
    _has = settings.view.get("has", "")
    colour_has = (
        mo.ui.dropdown(
            _choices, value=next((k for k, v in _choices.items() if v == _has), next(iter(_choices))), label="colour items by", searchable=len(_choices) > 40, full_width=True
        )
        if len(_choices) > 1
        else None
    )
    return (colour_has,)


@app.cell
def _(data, item_info):
    # names and ids of the kept items, for search and pasted lists (kept across slider moves)
    name_table = widgets.map_table(item_info, {}, name_column=data.name_column)
    name_index = widgets.NameIndex(name_table)
    return name_index, name_table


@app.cell
def _(name_table, search, settings):
    _hits = widgets.find_items(name_table, search.value)
    # several items match: the choices, the most likely first (the address's pick, for its search)
    _labels = widgets.choice_labels(name_table, _hits)
    _picked = settings.view.get("pick") if search.value == settings.view.get("find") else None
    _value = next((label for label, row in _labels.items() if name_table["item_id"].iloc[row] == _picked), None)
    search_pick = mo.ui.dropdown(_labels, value=_value, label=f"{len(_hits)} items match — show") if len(_hits) > 1 else None
    search_hits = _hits
    return search_hits, search_pick


@app.cell
def _(graph, name_table):
    mo.stop(graph is None)
    # the tooltip's neighbour names, once per graph rather than after every layout change
    neighbour_text = widgets.neighbour_names(name_table["name"].to_numpy(), graph.neighbors)
    return (neighbour_text,)


@app.cell
def _(align_match, aligned, anchored, data, graph, item_info, name_table, neighbour_text):
    mo.stop(not aligned or graph is None)
    # each item's share of its graph neighbours kept near it, per map: once per layout (the stage cache)
    map_faithfulness = {} if anchored is None else anchored.faithfulness_of(aligned)
    # what changed since the export aligned to, on the first map (the one turned onto it), as atlas diff says it
    map_changes = (
        None
        if align_match is None
        else atlas.diff.changes_since(align_match, next(iter(aligned.values())).xy, name_table["item_id"], name_table["name"])
    )
    map_data = widgets.map_table(
        item_info,
        {key: layout.xy for key, layout in aligned.items()},
        name_column=data.name_column,
        neighbors=graph.neighbors,
        neighbour_text=neighbour_text,
        per_map={widgets.FAITHFULNESS: map_faithfulness},
        columns={} if map_changes is None else {widgets.SINCE: widgets.since_labels(map_changes["new"])},
    )
    return map_changes, map_data, map_faithfulness


@app.cell
def _(cooccurrence_params, data, graph, graphed, name_index, name_table, pasted, profiles, search, search_hits, search_pick, user_pick, user_top):
    _found = search_pick.value if search_pick is not None and search_pick.value is not None else (int(search_hits[0]) if len(search_hits) else None)
    # its graph neighbours in the graph's order, each with the users behind it (counted as the export counts them)
    _why = (
        widgets.neighbour_reasons(_found, graph.neighbors, name_table["name"], profiles, graphed.candidates, pair_weight=cooccurrence_params.pair_weight)
        if _found is not None and graph is not None
        else []
    )
    _near = [n.row for n in _why]
    _user = widgets.user_items(profiles, data.interactions, user_pick.value, top=user_top.value or None) if user_pick.value else None
    # where the interactions carry times, the placed user's items are also drawn as a path in time order
    user_path = (
        atlas.paths.user_path(profiles, data.interactions, user_pick.value, top=user_top.value or None)
        if user_pick.value and atlas.paths.has_times(data.interactions)
        else None
    )
    _pasted = widgets.match_list(name_table, pasted.value, index=name_index)
    highlights = {
        "searched": [] if _found is None else [_found],
        "neighbour": _near,
        "user": [] if _user is None else _user.rows.tolist(),
        "pasted": _pasted.rows.tolist(),
    }
    _lines = []
    if search.value.strip():
        if _found is not None:
            _lines.append(widgets.neighbour_list(name_table["name"].iloc[_found], _why))
        else:
            _close = name_index.closest(search.value)
            _lines.append(widgets.no_match_note(search.value, _close))
    if _user is not None:
        _lines.append(widgets.user_note(user_pick.value, _user, top=user_top.value or None))
    if user_path is not None:
        _lines.append(atlas.paths.path_note(user_path, label=widgets.md_text(user_pick.value)))
    if _pasted.entries:
        _lines.append(widgets.list_report(_pasted))
    highlight_note = mo.md("\n\n".join(_lines))
    return highlight_note, highlights, user_path


@app.cell
def _(settings):
    # the region names over the maps (a view setting, kept in the page's address)
    region_overlay = mo.ui.dropdown(
        {label: level for label, (_, level) in atlas.app.REGION_OVERLAY.items()}, value=atlas.app.region_overlay_label(settings.view), label="region names on the maps"
    )
    return (region_overlay,)

@app.cell
def _(colour_by, colour_has, pasted, region_overlay, search, search_pick, user_pick, user_top):
    # the view's controls in fixed slots (the projections' sliders are in the sidebar): a search's
    # choices fill a slot kept for them, so that nothing moves when results appear
    mo.vstack(
        [
            mo.md("## Maps — brush in one view to see the same items in the others"),
            widgets.view_bar([(colour_by, colour_has, region_overlay), (search, (search_pick, "5.5rem"), pasted), (user_pick, user_top)]),
        ]
    )
    return


@app.cell
def _(data_source, filter_defaults, filter_form, loaded, seed):
    # The stages the maps wait for run here, under the maps' controls: their spinners (which stage,
    # how far) show where the user is looking, not at the top of the page.
    filter_run = atlas.app.run_stage(
        "filters",
        lambda _report: atlas.plan.stage_params(
            "filter", filter_form.value or filter_defaults, seed=seed.value, demo=bool(data_source and data_source.is_demo)
        ),
        spinner=False,
    )
    filter_params = filter_run.value
    filtered = None if loaded is None or filter_params is None else loaded.with_params(filter=filter_params)
    profiles_run = atlas.app.run_stage("profiles", lambda report: filtered.reading(report).profiles, needs=[filtered], title="Filtering users and items…").read_from(filtered, "profiles")
    profiles = profiles_run.value
    return filter_params, filter_run, filtered, profiles, profiles_run


@app.cell
def _(filtered, graph_defaults, graph_form, profiles, seed):
    _values = graph_form.value or graph_defaults
    graph_params_run = atlas.app.run_stage(
        "graph settings",
        lambda _report: (
            atlas.plan.stage_params("cooccurrence", _values, seed=seed.value),
            atlas.plan.stage_params("graph", _values, seed=seed.value),
        ),
        spinner=False,
    )
    cooccurrence_params, graph_params = graph_params_run.value or (None, None)
    graphed = None if profiles is None or graph_params is None else filtered.with_params(cooccurrence=cooccurrence_params, graph=graph_params)
    graph_run = atlas.app.run_stage(
        "graph", lambda report: graphed.reading(report).graph, needs=[graphed], title="Counting co-occurrences and building the item graph…"
    ).read_from(graphed, "candidates", "graph")
    graph = graph_run.value
    return cooccurrence_params, graph, graph_params, graph_params_run, graph_run, graphed


@app.cell
def _(embed_defaults, embed_form, graph, graphed, seed):
    embed_params_run = atlas.app.run_stage(
        "embedding settings", lambda _report: atlas.plan.stage_params("embed", embed_form.value or embed_defaults, seed=seed.value), spinner=False
    )
    embed_params = embed_params_run.value
    embedded = None if graph is None or embed_params is None else graphed.with_params(embed=embed_params)
    embedding_run = atlas.app.run_stage(
        "embedding", lambda report: embedded.reading(report).embedding, needs=[embedded],
        title=f"Embedding the items ({atlas.embeddings.of(embed_params).title})…" if embed_params is not None else "Embedding the items…",
    ).read_from(embedded, "embedding")
    embedding = embedding_run.value
    return embed_params, embed_params_run, embedded, embedding, embedding_run


@app.cell
def _():
    # this session's layouts: what the maps show (a state the background projections update)
    get_layouts, set_layouts = mo.state({})
    layout_jobs = atlas.app.LayoutJobs()
    map_turns = widgets.MapTurns()
    return get_layouts, layout_jobs, map_turns, set_layouts


@app.cell
def _(layout_jobs):
    # Cancel stops the projection computing in the background; the maps keep the layouts they show.
    restart = mo.ui.run_button(label="restart from PCA", tooltip="compute the layouts from the embedding's PCA instead of refining the ones on screen")
    cancel_layouts = mo.ui.button(label="cancel", on_click=lambda _: layout_jobs.cancel(), tooltip="stop the projection being computed")
    turn_to = mo.ui.dropdown(widgets.TURN_CHOICES, value="the first map", label="turn each map to match")
    mo.hstack([restart, cancel_layouts, turn_to], justify="start", align="center")
    return restart, turn_to


@app.cell
def _(anchored, embedding, layout_jobs, projection_controls, restart, seed, set_layouts, shown):
    layout_params, layout_runs = {}, {}
    for _name in shown:
        _method = atlas.projections.get(_name)
        _run = atlas.app.run_stage(
            f"{_method.title} settings",
            lambda _report, n=_name: atlas.plan.projection_params(n, projection_controls[n].value, seed=seed.value),
            spinner=False,
        )
        _params, _note = _run.value, None
        if _params is not None and embedding is not None:
            _params, _note = _method.capped(_params, embedding.coords.shape[0])
        layout_params[_name] = _params
        layout_runs[_name] = atlas.app.StageRun(_run.stage, _params, _run.error, 0.0, _note)
    # layouts seen before are shown at once; the others are computed in the background, shown here as they form
    _ready = {name: p for name, p in layout_params.items() if p is not None}
    built = None if anchored is None or not _ready else anchored.with_params(projections=tuple(_ready.values()))
    layouts_now = (
        {}
        if built is None
        else atlas.app.start_layouts(built, jobs=layout_jobs, publish=set_layouts, from_pca=restart.value, background=mo.running_in_notebook())
    )
    return built, layout_params, layout_runs, layouts_now


@app.cell
def _(align_match, embedding, get_layouts, map_turns, shown, turn_to):
    # the maps follow what is published (``LayoutJobs.publish``), not each run of the cell above: a
    # move whose layout is still being computed leaves them, and the cells below, as they are
    _published = get_layouts()
    raw_layouts = {name: _published[name] for name in shown if name in _published and embedding is not None and _published[name].embedding_key == embedding.key}
    # each map turned to match the first (UMAP), or its own previous map; an earlier export aligned to comes first
    aligned = map_turns.show(raw_layouts, atlas.pipeline.aligned(raw_layouts, onto=align_match), previous=turn_to.value == "previous" and align_match is None)
    return aligned, raw_layouts


@app.cell
def _(
    align_match,
    align_to,
    aligned,
    colour_by,
    colour_has,
    data,
    highlight_note,
    highlights,
    map_changes,
    map_data,
    map_faithfulness,
    memo,
    region_names,
    settings,
    turn_to,
    user_path,
):
    mo.stop(not aligned)
    _titles, _turn_note = widgets.turn_wording(
        list(aligned),
        previous=turn_to.value == "previous" and align_match is None,
        onto=(align_to.value.strip() or None) if align_match is not None and align_to is not None else None,
    )
    _views = {_titles[name]: name for name in aligned}
    _colour, _not_shown = widgets.colour_or_popularity(map_data, colour_by.value, list(aligned))
    _has = (colour_has.value or None) if colour_has is not None else None
    _limit = settings.get("max_chart_points", widgets.MAX_CHART_POINTS)
    if len(map_data) > _limit:  # more than Altair draws fluidly: every item, with WebGL
        maps = widgets.webgl_maps(map_data, _views, color=_colour, has=_has, highlights=highlights, path=() if user_path is None else user_path.rows)
        _colour_note = maps.widget.colour_note
        _sampled = mo.callout(
            mo.md(f"All **{len(map_data):,}** items are drawn, with WebGL (Altair is used up to {_limit:,}). Lasso in one view (or Shift+drag) selects the same items in the others; the wheel zooms."),
            kind="info",
        )
    else:
        _chart, _rows, _colour_note = widgets.map_views(
            map_data, _views, color=_colour, has=_has, highlights=highlights, max_points=_limit, memo=memo.charts, regions=region_names,
            paths=None if user_path is None else widgets.path_frames(map_data, user_path, aligned),
        )
        maps = widgets.selectable_chart(_chart)
        _sampled = mo.md("")
    _notes = [_not_shown, widgets.colour_note(map_data, _colour, _colour_note, data.items, name_column=data.name_column), _turn_note]
    # where each map tears neighbourhoods, and what changed since the export aligned to
    _torn = widgets.torn_note({atlas.projections.get(name).title: share for name, share in map_faithfulness.items()})
    _since = widgets.changes_note(map_changes, atlas.projections.get(next(iter(aligned))).title)
    mo.vstack([_sampled, maps, mo.md(" ".join(n for n in _notes if n)), mo.md(_torn), mo.md(_since), highlight_note])
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
def _(access, settings):
    # Named regions (atlas/regions.py) and a previous export to keep the geography of (atlas/align.py)
    _fields = atlas.plan.stage_fields()["regions"]
    region_defaults = widgets.form_defaults(_fields, settings)
    region_form = widgets.options_form(_fields, settings, "Apply regions")
    align_to = (
        mo.ui.text(value=settings.source.align_to or "", label="align to a previous export (folder)", placeholder="none: a fresh map", full_width=True)
        if access.reads_paths
        else None
    )
    mo.accordion({"Regions and stable rebuilds": mo.vstack([region_form, *([align_to] if align_to is not None else [])])})
    return align_to, region_defaults, region_form


@app.cell
def _(align_run, aligned, anchored, region_defaults, region_form, region_overlay):
    region_params_run = atlas.app.run_stage("region settings", lambda _report: atlas.plan.stage_params("regions", region_form.value or region_defaults), spinner=False)
    region_params = region_params_run.value
    _shown = region_overlay.value >= 0  # found only while their names are shown: an export finds its own
    regions_run = atlas.app.run_stage(
        "regions",
        lambda _report: anchored.with_params(regions=region_params).regions_of(aligned) if _shown else {},
        needs=[region_params, anchored],
        title="Finding and naming regions…",
    )
    layout_regions = regions_run.value or {}
    region_names = {
        name: widgets.region_labels(found, min(region_overlay.value, found.levels - 1))
        for name, found in layout_regions.items()
        if region_overlay.value >= 0 and found.levels
    }
    # what changed since an export aligned to is said under the maps (map_changes), as atlas diff says it
    mo.vstack(atlas.app.stage_messages([align_run, region_params_run, regions_run]))
    return layout_regions, region_names, region_params


@app.cell
def _(data, embedding, graph, memo, profiles):
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
        _title = atlas.embeddings.get(embedding.method).title
        if embedding.distortion == embedding.distortion:  # PyMDE's distortion; NaN for the matrix methods
            _stats.append(mo.stat(f"{embedding.distortion:.3f}", label=f"{_title} distortion", caption=f"{embedding.dim}D, {embedding.iterations} iterations"))
        else:
            _stats.append(mo.stat(_title, label="embedding", caption=f"{embedding.dim}D, compared by {embedding.metric}"))
    _charts = mo.hstack(
        [
            widgets.histogram(profiles.user_lengths, title="Profile length (items per user)", x_title="items", log_x=True, memo=memo.charts),
            widgets.histogram(profiles.item_users, title="Popularity (users per item)", x_title="users", log_x=True, memo=memo.charts),
        ],
        justify="start",
    )
    mo.vstack([mo.md("## Diagnostics"), mo.hstack(_stats, justify="start", wrap=True), _charts])
    return


@app.cell
def _(aligned, colour_by, colour_has, graph, map_data, memo, pymde_2d, shown):
    # built once every layout on show is there (they arrive one by one on the first load)
    mo.stop(set(aligned) != set(shown), mo.vstack([mo.md("## Compare layouts (Emblaze)"), mo.md("_Waiting for every layout…_"), pymde_2d]))
    _shown = min(len(map_data), widgets.MAX_EMBLAZE_POINTS)

    def comparison():
        """The Emblaze comparison of the layouts on show (a new viewer each call)."""
        _viewer, _ = widgets.comparison_view(
            {atlas.projections.get(name).title: layout for name, layout in aligned.items()},
            map_data,
            graph.neighbors,
            color=colour_by.value if colour_by.value in map_data else "n_users",
            has=(colour_has.value or None) if colour_has is not None else None,
            max_points=widgets.MAX_EMBLAZE_POINTS,
            graph_key=graph.key,
            memo=memo.comparisons,
        )
        return _viewer

    mo.vstack(
        [
            mo.md("## Compare layouts (Emblaze)"),
            mo.md(
                "Click a frame on the left to animate between layouts; click a point to list its graph neighbours."
                + (f" Showing a sample of {_shown:,} of {len(map_data):,} items." if _shown < len(map_data) else "")
            ),
            pymde_2d,
            # mounted only once scrolled into view, so that slider moves above stay quick (built here: a
            # viewer built on first sight arrives while the cells above may be running again, and is cut off)
            mo.lazy(comparison()),
        ]
    )
    return (comparison,)


@app.cell
def _(aligned, anchored):
    mo.stop(not aligned or anchored is None)
    layout_metrics = anchored.metrics_of(aligned)
    mo.vstack(
        [
            mo.md("## Quality at a glance"),
            mo.md(
                "*knn_recall*: share of each item's graph neighbours among its nearest points on the map; "
                "*trustworthiness*: are map neighbours true embedding neighbours; "
                "*label_agreement*: share of map neighbours with the same label (vs. *label_chance*)."
            ),
            widgets.static_table(widgets.metrics_table(layout_metrics)),
        ]
    )
    return (layout_metrics,)


@app.cell
def _(layout_jobs, pipeline_runs, raw_layouts):
    _layout_runs = [layout_jobs.run_of(atlas.projections.get(name).title, layout) for name, layout in raw_layouts.items()]
    mo.vstack(
        [
            mo.md("**Time per stage** (a stage served from the cache takes almost no time)"),
            widgets.static_table(atlas.app.timing_table([*pipeline_runs, *_layout_runs])),
        ]
    )
    return


@app.cell
def _(settings, shown):
    _exported = settings.values.get("projection")
    export_layout_choice = mo.ui.dropdown(
        {atlas.projections.get(name).title: name for name in shown},
        value=atlas.projections.get(_exported if _exported in shown else shown[0]).title,
        label="layout to keep",
    )
    return (export_layout_choice,)


@app.cell
def _(access, data_source, export_layout_choice, settings):
    # Not tied to the layouts themselves, so that a typed folder survives a slider move; named
    # after the data and the layout (atlas-out/movielens-umap), unless --out named one.
    _name = None if data_source is None else atlas.app.export_name(data_source, export_layout_choice.value)
    if access.reads_paths:
        export_dir = mo.ui.text(value=access.default_export_folder(settings.out, _name), label="folder on the server", full_width=True)
        export_button = mo.ui.run_button(label="Export")
        overwrite_button = mo.ui.run_button(label="Replace it", kind="warn")
        _row = mo.hstack([export_layout_choice, export_dir, export_button], widths=[1, 3, 1], align="end")
    else:
        export_dir = export_button = overwrite_button = None
        _row = mo.hstack([export_layout_choice], justify="start")
    mo.vstack([mo.md("## Export"), _row])
    return export_button, export_dir, overwrite_button


@app.cell
def _(aligned, stage_runs):
    # without a layout the export cells below cannot run: say why, instead of doing nothing
    mo.stop(bool(aligned))
    mo.callout(mo.md(f"**Export** — there is no layout to export yet: {atlas.app.why_no_layout(stage_runs)}"), kind="warn")
    return


@app.cell
def _(
    access,
    align_to,
    colour_by,
    colour_has,
    cooccurrence_params,
    data_source,
    embed_params,
    export_layout_choice,
    filter_params,
    graph_params,
    name_table,
    pasted,
    projection_controls,
    region_overlay,
    region_params,
    search,
    search_pick,
    seed,
    shown,
    upload_dir,
    user_pick,
    user_top,
):
    # the settings on show: kept in the page's address, and as the command that makes this map
    _params = atlas.app.current_build(
        {"filter": filter_params, "cooccurrence": cooccurrence_params, "graph": graph_params, "embed": embed_params, "regions": region_params},
        {name: projection_controls[name].value for name in shown},
        seed=seed.value,
        export=export_layout_choice.value,
    )
    mo.stop(_params is None or data_source is None)
    _picked = search_pick.value if search_pick is not None else None
    _view = {
        "colour": colour_by.selected_key,
        "has": (colour_has.value or None) if colour_has is not None else None,
        "names": atlas.app.REGION_OVERLAY[region_overlay.selected_key][0],
        "find": search.value.strip(),
        "pick": None if _picked is None else name_table["item_id"].iloc[_picked],
        "user": user_pick.value,
        "top": user_top.value if user_pick.value else None,
        "paste": pasted.value.strip(),
    }
    atlas.app.keep_in_address(
        mo.query_params(), _params, demo=data_source.is_demo, default_compare=atlas.projections.default_names(), view=_view
    )
    _aligned_to = (align_to.value.strip() or None) if align_to is not None else data_source.align_to
    _source = atlas.app.shown_source(dataclasses.replace(data_source, align_to=_aligned_to), access=access, upload_dir=upload_dir)
    _command = atlas.app.build_command(_params, _source, out=f"atlas-out/{atlas.app.export_name(data_source, _params.exported)}")
    mo.md(f"**The same map from the command line** (add `--html` for the web atlas):\n\n```bash\n{_command}\n```")
    return


@app.cell
def _(aligned, built, export_layout_choice, region_params):
    mo.stop(
        export_layout_choice.value not in aligned or built is None,
        # a wait, not an error: the layouts may still be forming (side by side, in any order); a
        # layout that failed says so in red in the panel above the maps
        mo.callout(mo.md(f"**Export** — there is no **{export_layout_choice.selected_key}** layout to write yet (see the messages above); wait for it or choose another."), kind="warn"),
    )

    def export_result():
        """The build the export writes: ``atlas build``'s stages for the settings on show, so that
        a map refined after a slider move is computed again from its start (PCA, or the export
        aligned to) and the manifest's command rebuilds exactly it."""
        return built.with_params(regions=region_params or atlas.RegionParams(), export=export_layout_choice.value).reading(None)

    return (export_result,)


@app.cell
def _(data, export_layout_choice, export_result):
    # Built only when pressed, in a temporary folder on the server that is removed afterwards.
    _projection = export_layout_choice.value
    export_download = mo.download(
        data=lambda: atlas.app.export_zip(export_result(), data, projection=_projection),
        filename=f"atlas-{_projection}.zip",
        mimetype="application/zip",
        label=f"Download the {export_layout_choice.selected_key} export (.zip with atlas.html)",
    )
    export_download
    return


@app.cell
def _(access, data, export_button, export_dir, export_layout_choice, export_result, overwrite_button):
    mo.stop(export_dir is None)
    export_folder_run = atlas.app.run_stage("export folder", lambda _report: access.resolve_write(export_dir.value), spinner=False)
    mo.stop(not export_folder_run.ok, mo.callout(mo.md(f"**Export** — {export_folder_run.error}"), kind="danger"))
    mo.stop(not (export_button.value or overwrite_button.value), mo.md(f"_…or press **Export** to write the files into `{export_folder_run.value}` on the server._"))
    # an export of other data in that folder is replaced only when asked; one of this data at once
    export_other = atlas.app.export_conflict(export_folder_run.value, data)
    mo.stop(
        export_other is not None and not overwrite_button.value,
        mo.callout(
            mo.vstack([mo.md(f"**Export** — `{export_folder_run.value}` holds {export_other}. Replace it with this map, or type another folder."), overwrite_button]),
            kind="warn",
        ),
    )
    export_run = atlas.app.run_stage(
        "export",
        lambda _report: atlas.app.export_with_page(export_folder_run.value, export_result(), data, projection=export_layout_choice.value),
        title="Writing the export…",
    )
    if export_run.ok:
        _paths = "\n".join(f"- `{path}`" for path in export_run.value.values())
        _out = mo.callout(mo.md(f"Wrote the **{export_layout_choice.selected_key}** layout:\n\n{_paths}"), kind="success")
    else:
        _out = mo.callout(mo.md(f"**Export failed** — {export_run.error}"), kind="danger")
    _out
    return


if __name__ == "__main__":
    app.run()
