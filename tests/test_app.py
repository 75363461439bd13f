"""atlas.app: the app's settings from its command line, its stage runs and their timings, its
exports and uploads, and the layouts it computes in the background."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import atlas
import atlas.app
import atlas.web.html
from atlas.app.jobs import preview_svg, progress_line
from atlas.app.stages import skipped
from atlas.errors import AtlasError

# ---------------------------------------------------------------------------------------------
# Settings from the command line
# ---------------------------------------------------------------------------------------------


def test_app_settings_read_command_line_names():
    settings = atlas.app.app_settings(
        {"input": "plays.csv", "user-col": 7, "min-item-users": 50, "min-weight": 6, "perplexity": 40, "seed": [1, 2], "pair-weight": "min"}
    )
    assert settings.source == atlas.Source(input="plays.csv", user_col="7")
    assert settings.values == {"min_item_users": 50, "min_weight": 6.0, "perplexity": 40.0, "seed": 2, "pair_weight": "min"}  # the last seed wins
    fields = atlas.plan.all_fields()
    assert settings.initial(fields["weighting"]) == atlas.CooccurrenceParams().weighting
    assert settings.initial(fields["umap_n_neighbors"]) == atlas.UmapParams().n_neighbors
    assert settings.initial(fields["perplexity"]) == 40.0


def test_app_settings_and_the_command_line_make_the_same_parameters():
    from atlas.cli import make_parser
    from atlas.cli_args import params_from_args

    words = ["x.csv", "--min-weight", "3", "--n-neighbors", "20", "--min-dist", "0.1", "--dof", "0.5", "--seed", "7"]
    settings = atlas.app.app_settings({w.lstrip("-"): v for w, v in zip(words[1::2], words[2::2])} | {"input": "x.csv"})
    from_app = atlas.build_params(settings.values, demo=settings.source.is_demo)
    from_cli = params_from_args(make_parser().parse_args(["build", *words]))
    assert from_app == from_cli


def test_the_app_keeps_its_stage_cache_where_atlas_build_does(tmp_path, monkeypatch):
    from atlas.cli import default_cache_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert atlas.app.app_settings({}).cache_dir == str(default_cache_dir()) == str(tmp_path / "xdg" / "atlas")
    assert atlas.app.app_settings({"cache-dir": str(tmp_path / "mine")}).stage_cache().directory == tmp_path / "mine"
    assert atlas.app.app_settings({"no-cache": ""}).stage_cache().directory is None  # memory only
    monkeypatch.setenv("ATLAS_CACHE_MAX_GB", "0.5")
    assert atlas.app.app_settings({}).stage_cache().max_bytes == 512 * 1024**2


def test_app_settings_read_the_sources_switches():
    settings = atlas.app.app_settings({"input": "x.csv", "drop-missing-weights": "", "align-anyway": "true"})
    assert settings.source.drop_missing_weights is True and settings.source.align_anyway is True
    assert atlas.app.app_settings({"input": "x.csv"}).source.drop_missing_weights is False


def test_app_settings_use_the_command_lines_demo_filters():
    demo = atlas.app.app_settings({})
    min_weight = atlas.plan.all_fields()["min_weight"]
    assert demo.source.is_demo
    assert demo.initial(min_weight) == atlas.plan.demo_filter().min_weight
    assert atlas.app.app_settings({"demo": "", "input": "x.csv"}).source.input is None
    assert atlas.app.app_settings({"min-weight": 2}).initial(min_weight) == 2.0
    assert atlas.app.app_settings({"input": "x.csv"}).initial(min_weight) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"min-item-users": "many"}, "--min-item-users must be a whole number"),
        ({"seed": 1.5}, "--seed must be a whole number"),
        ({"seed": -1}, "seed must be a whole number from 0 to 4294967295"),
        ({"min-weight": "x"}, "--min-weight must be a number"),
        ({"weighting": "magic"}, "Unsupported value 'magic' for --weighting"),
        ({"init": "pca"}, "Unsupported value 'pca' for --init"),
        ({"projection": "pca"}, "Unsupported projection 'pca'"),
        ({"colour": "x"}, "unknown option --colour"),
    ],
)
def test_app_settings_name_the_bad_option(args, message):
    with pytest.raises(AtlasError, match=message):
        atlas.app.app_settings(args)


def test_app_settings_can_collect_problems_and_keep_going():
    settings = atlas.app.app_settings({"input": "x.csv", "min-item-users": "lots", "weighting": "magic", "seed": 4}, collect=True)
    assert settings.problems == (
        "--min-item-users must be a whole number, got 'lots'.",
        "Unsupported value 'magic' for --weighting; the supported values are " + ", ".join(repr(w) for w in atlas.WEIGHTINGS) + ".",
    )
    fields = atlas.plan.all_fields()
    assert settings.initial(fields["min_item_users"]) == atlas.FilterParams().min_item_users
    assert settings.initial(fields["weighting"]) == atlas.CooccurrenceParams().weighting
    assert (settings.source.input, settings.seed) == ("x.csv", 4)


# ---------------------------------------------------------------------------------------------
# Stage runs and their timings
# ---------------------------------------------------------------------------------------------


def test_run_stage_turns_problems_into_messages():
    ok = atlas.app.run_stage("double", lambda report: 2 * 21)
    assert ok.ok and ok.value == 42 and ok.seconds >= 0

    def impossible(report):
        raise AtlasError("min_item_users must be at least 1, got 0.")

    failed = atlas.app.run_stage("profiles", impossible)
    assert failed.value is None and failed.error == "min_item_users must be at least 1, got 0."

    def broken(report):
        raise KeyError("x")

    crashed = atlas.app.run_stage("graph", broken)
    assert crashed.error == "KeyError: 'x'"

    waiting = atlas.app.run_stage("embedding", lambda report: 1 / 0, needs=[None])
    assert waiting.value is None and waiting.error is None


def test_run_stage_passes_progress_to_the_stage():
    seen = []

    def compute(report):
        report("cooccurrence", 5, 10)
        seen.append(True)
        return "done"

    assert atlas.app.run_stage("co-occurrence", compute).value == "done"
    assert seen == [True]


def test_timing_table_marks_cached_stages():
    class Result:
        seconds = 4.0

    runs = [
        atlas.app.StageRun("embedding", Result(), None, 4.1),
        atlas.app.StageRun("UMAP", Result(), None, 0.01),
        atlas.app.StageRun("t-SNE", None, "perplexity too large", 0.0),
        skipped("PyMDE 2D"),
    ]
    table = atlas.app.timing_table(runs)
    assert table["stage"].tolist() == ["embedding", "UMAP", "t-SNE"]
    assert table["status"].tolist() == ["computed", "cached", "failed"]


def test_timing_table_says_what_the_stage_cache_served():
    class Result:
        seconds = 0.01  # a stage quicker than its read from the cache: its time alone would call it computed

    runs = [
        atlas.app.StageRun("data", ("source", "dataset"), None, 0.3, status="loaded"),
        atlas.app.StageRun("profiles", Result(), None, 0.02, cached=True),
        atlas.app.StageRun("graph", Result(), None, 0.02, cached=False),
    ]
    assert atlas.app.timing_table(runs)["status"].tolist() == ["loaded", "cached", "computed"]


def test_a_layout_on_show_says_whether_the_cache_served_it():
    jobs = atlas.app.LayoutJobs()
    xy = np.zeros((3, 2))
    read = atlas.projections.Layout(xy, "umap", atlas.UmapParams(), key="layout-a", seconds=12.0)
    made = atlas.projections.Layout(xy, "tsne", atlas.TsneParams(), key="layout-b", seconds=30.0)
    jobs.read["layout-a"] = 0.05
    first, second = jobs.run_of("UMAP", read), jobs.run_of("t-SNE", made)
    assert (first.cached, first.seconds, first.computed_seconds) == (True, 0.05, 12.0)
    assert (second.cached, second.seconds) == (False, 30.0)


# ---------------------------------------------------------------------------------------------
# Exports and uploads
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "projection", "name"),
    [
        (atlas.Source(), "umap", "movielens-umap"),
        (atlas.Source(input="/data/My Plays (2024).csv.gz"), "tsne", "my-plays-2024-tsne"),
        (atlas.Source(input="/tmp/atlas-upload-x/ratings.csv"), "pacmap", "ratings-pacmap"),
        (atlas.Source(candidates="pairs.parquet"), "umap", "pairs-umap"),
        (atlas.Source(input="/data/~~~.csv"), "umap", "data-umap"),
    ],
)
def test_an_export_folder_is_named_after_the_data_and_the_layout(source, projection, name):
    assert atlas.app.export_name(source, projection) == name


def test_an_export_of_other_data_is_named_and_one_of_the_same_data_is_not(tmp_path, built, planted):
    out = tmp_path / "atlas-out" / "planted-umap"
    assert atlas.app.export_conflict(out, planted) is None  # nothing there yet
    atlas.export_layout(out, built, planted, projection="umap")
    assert atlas.app.export_conflict(out, planted) is None  # the same data: replaced without asking
    other = atlas.synthetic_profiles(50, 20, seed=9)
    assert atlas.app.export_conflict(out, other).startswith("an export of other data (made ")

    def manifest(folder: Path, source: dict) -> Path:
        folder.mkdir()
        text = f'{{"created": "2026-12-06T21:00:00+00:00", "input": {{"interactions_fingerprint": "f00", "source": {source}}}}}'
        (folder / "manifest.json").write_text(text.replace("'", '"'), encoding="utf-8")
        return folder

    demo = manifest(tmp_path / "demo", {"demo": "movielens"})
    assert atlas.app.export_conflict(demo, planted) == "an export of the MovieLens demo (made 2026-12-06T21:00:00+00:00)"
    plays = manifest(tmp_path / "plays", {"path": "/data/plays.csv"})
    assert atlas.app.export_conflict(plays, planted) == "an export of “plays.csv” (made 2026-12-06T21:00:00+00:00)"
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{not json", encoding="utf-8")
    assert atlas.app.export_conflict(broken, planted) == "a manifest.json atlas cannot read"


def test_resolve_upload_prefers_the_uploaded_file(tmp_path):
    class Upload:
        name = "../my plays.csv"
        contents = b"user,item\n1,2\n"

    path = atlas.app.resolve_upload("ignored.csv", [Upload()], tmp_path)
    assert Path(path) == tmp_path / "my_plays.csv"
    assert Path(path).read_bytes() == Upload.contents
    assert atlas.app.resolve_upload(" data.csv ", [], tmp_path) == "data.csv"
    assert atlas.app.resolve_upload("", [], tmp_path) is None


def test_the_apps_export_writes_the_page_in_the_same_swap(tmp_path, built, planted, monkeypatch):
    out = tmp_path / "out"
    atlas.app.export_with_page(out, built, planted, projection="umap")
    (out / "mine.txt").write_text("kept", encoding="utf-8")
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken_page(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atlas.web.html, "render_page", broken_page)
    with pytest.raises(AtlasError, match="cannot write the export"):
        atlas.app.export_with_page(out, built, planted, projection="tsne")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(before) == sorted([*atlas.export.OWNED_FILES, "mine.txt"])


# ---------------------------------------------------------------------------------------------
# Layouts computed in the background
# ---------------------------------------------------------------------------------------------


def test_the_forming_layout_is_drawn_inline_from_a_fixed_sample():
    xy = np.random.default_rng(0).normal(size=(5000, 2))
    svg = preview_svg(xy, title="t-SNE <forming>", points=1500)
    assert svg.count("<circle") == 1500 and "t-SNE &lt;forming&gt;" in svg
    assert preview_svg(xy * 3 + 1, title="x", points=1500).count("<circle") == 1500
    assert preview_svg(xy[:10], title="x").count("<circle") == 10


def test_progress_lines_say_how_long_is_left():
    line = progress_line("t-SNE", 250, 750, 12.0, refining=True)
    assert line == "t-SNE (refining the map on screen): 250 of 750 steps · 12 s · about 24 s left"
    assert progress_line("UMAP", 0, 500, 0.4, refining=False) == "UMAP (from PCA): starting · 0 s"


def test_layout_jobs_keep_the_map_on_screen_until_its_replacement_is_ready():
    jobs = atlas.app.LayoutJobs()
    shown = []
    old = atlas.Layout(np.zeros((3, 2), np.float32), "tsne", None, key="t0", embedding_key="e")
    umap = atlas.Layout(np.ones((3, 2), np.float32), "umap", None, key="u1", embedding_key="e")
    jobs.publish({"tsne": old}, ("tsne",), "e", shown.append)
    jobs.publish({"umap": umap}, ("umap", "tsne"), "e", shown.append)  # t-SNE still computing
    assert shown[-1] == {"umap": umap, "tsne": old} and jobs.start_from("tsne", "e") is old
    jobs.publish({"umap": umap}, ("umap", "tsne"), "other embedding", shown.append)
    assert shown[-1] == {"umap": umap} and jobs.start_from("tsne", "other embedding") is None


def test_the_maps_are_not_told_again_while_a_new_layout_forms():
    """A slider move whose layout is still computing publishes what is already on screen: the maps
    (and every cell after them) must not be rebuilt for it; a new layout, or the same one read
    again under another key, is published."""
    jobs = atlas.app.LayoutJobs()
    told = []
    umap = atlas.Layout(np.ones((3, 2), np.float32), "umap", None, key="u1", embedding_key="e")
    tsne = atlas.Layout(np.zeros((3, 2), np.float32), "tsne", None, key="t0", embedding_key="e")
    jobs.publish({"umap": umap, "tsne": tsne}, ("umap", "tsne"), "e", told.append)
    assert len(told) == 1
    jobs.publish({"tsne": tsne}, ("umap", "tsne"), "e", told.append)  # UMAP refining: the old one stays
    jobs.publish({}, ("umap", "tsne"), "e", told.append)  # both refining
    same = atlas.Layout(np.zeros((3, 2), np.float32), "tsne", None, key="t0", embedding_key="e")  # read again from the cache
    jobs.publish({"tsne": same}, ("umap", "tsne"), "e", told.append)
    assert len(told) == 1
    refined = atlas.Layout(np.full((3, 2), 2, np.float32), "umap", None, key="u2", embedding_key="e")
    jobs.publish({"umap": refined}, ("umap", "tsne"), "e", told.append)
    assert {name: layout.key for name, layout in told[-1].items()} == {"umap": "u2", "tsne": "t0"} and len(told) == 2
    jobs.publish({}, ("tsne",), "e", told.append)  # UMAP no longer shown
    assert list(told[-1]) == ["tsne"]
    unnamed = atlas.Layout(np.zeros((3, 2), np.float32), "tsne", None, embedding_key="e")  # no key: compared as an object
    jobs.publish({"tsne": unnamed}, ("tsne",), "e", told.append)
    jobs.publish({"tsne": unnamed}, ("tsne",), "e", told.append)
    assert len(told) == 4 and told[-1]["tsne"] is unnamed


class _TimedBuild:
    """A stand-in for ``atlas.Build`` whose layouts record, as they run, their share of the cores
    and which other layouts ran beside them."""

    def __init__(self, names: tuple[str, ...], seconds: float = 0.15) -> None:
        import threading
        from types import SimpleNamespace

        self.params = SimpleNamespace(names=names)
        self.embedding = SimpleNamespace(key="e")
        self.start = None
        self.seconds = seconds
        self.running: set[str] = set()
        self.beside: dict[str, set[str]] = {}
        self.share: dict[str, int | None] = {}
        self._lock = threading.Lock()

    def known_layout(self, name, *, from_pca=False):
        return None

    def project(self, name, *, warm_from=None, progress=None):
        import time

        from atlas import cores

        with self._lock:
            self.share[name] = cores.current_share()
            self.beside[name] = set(self.running)
            for other in self.running:
                self.beside[other].add(name)
            self.running.add(name)
        time.sleep(self.seconds)
        progress(1, 1, None)
        with self._lock:
            self.running.discard(name)
        return atlas.Layout(np.zeros((3, 2), np.float32), name, None, key=f"{name}-key", embedding_key="e")


def _published(build, monkeypatch, cores: int) -> list[dict]:
    import time

    import atlas.cores

    monkeypatch.setattr(atlas.cores, "side_by_side_cores", lambda: cores)
    shown = []
    jobs = atlas.app.LayoutJobs()
    atlas.app.start_layouts(build, jobs=jobs, publish=shown.append)
    deadline = time.monotonic() + 30
    while (not shown or len(shown[-1]) < len(build.params.names)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return shown


def test_the_first_map_is_computed_alone_on_every_core_then_the_others_side_by_side(monkeypatch):
    """The page's first map (the one the others are turned onto) comes first, with both cores; then
    t-SNE and PaCMAP share them, one each, and each map is published as it is ready."""
    build = _TimedBuild(("umap", "tsne", "pacmap"))
    shown = _published(build, monkeypatch, cores=2)
    assert [list(maps) for maps in shown] == [["umap"], ["umap", "tsne"], ["umap", "tsne", "pacmap"]] or [list(maps) for maps in shown] == [
        ["umap"], ["umap", "pacmap"], ["umap", "tsne", "pacmap"]]  # fmt: skip
    assert build.share == {"umap": 2, "tsne": 1, "pacmap": 1}
    assert build.beside == {"umap": set(), "tsne": {"pacmap"}, "pacmap": {"tsne"}}


def test_a_single_missing_map_or_a_single_core_keeps_one_lane(monkeypatch):
    one_core = _TimedBuild(("umap", "tsne"), seconds=0.05)
    assert list(_published(one_core, monkeypatch, cores=1)[-1]) == ["umap", "tsne"]
    assert one_core.beside == {"umap": set(), "tsne": set()} and one_core.share == {"umap": 1, "tsne": 1}
    alone = _TimedBuild(("tsne",), seconds=0.05)
    assert list(_published(alone, monkeypatch, cores=2)[-1]) == ["tsne"]
    assert alone.share == {"tsne": 2}
