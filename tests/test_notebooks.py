"""The marimo notebooks: run as scripts on small data, linted, and served to a real browser."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import atlas
from atlas import widgets
from browser import SYMBOL_MARKS_JS, umap_min_dist_stops

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
APP = NOTEBOOKS / "app.py"
SWEEP = NOTEBOOKS / "sweep.py"
SMALL_FILTERS = ["--min-item-users", "3", "--min-user-items", "2"]


@pytest.fixture(scope="module")
def small_files(tmp_path_factory) -> tuple[Path, Path]:
    """A CSV of (user, item, stars) with planted communities, and an item metadata CSV."""
    folder = tmp_path_factory.mktemp("small")
    data = atlas.synthetic_profiles(n_users=400, n_items=150, n_communities=5, mean_profile_length=15, seed=1)
    inter = data.interactions
    stars = np.random.default_rng(0).integers(1, 6, len(inter))
    plays = pd.DataFrame({"listener": inter.user_ids[inter.user], "track": inter.item_ids[inter.item], "stars": stars})
    plays.to_csv(folder / "plays.csv", index=False)
    data.items.reset_index().to_csv(folder / "tracks.csv", index=False)
    return folder / "plays.csv", folder / "tracks.csv"


def kept_profiles(plays: Path) -> atlas.Profiles:
    data = atlas.load_dataset(plays, atlas.IngestParams(user_col="listener", item_col="track"))
    return atlas.build_profiles(data, atlas.FilterParams(min_item_users=3, min_user_items=2))


def expected_items(plays: Path) -> int:
    return kept_profiles(plays).n_items


def load_notebook(path: Path):
    """Import a notebook file under a private module name (not ``atlas``)."""
    spec = importlib.util.spec_from_file_location(f"notebook_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


def run_notebook(path: Path, args: list[str], monkeypatch) -> dict:
    monkeypatch.setattr(sys, "argv", [str(path), *args])
    _, defs = load_notebook(path).run()
    return defs


def app_args(small_files, *extra: str) -> list[str]:
    plays, tracks = small_files
    return ["--input", str(plays), "--items", str(tracks), "--user-col", "listener", "--item-col", "track", *SMALL_FILTERS, *extra]


# ---------------------------------------------------------------------------------------------
# As scripts
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_app_runs_every_stage_on_small_data(small_files, monkeypatch):
    defs = run_notebook(APP, app_args(small_files, "--n-neighbors", "8", "--embedding", "pymde", "--embedding-dim", "4", "--seed", "3"), monkeypatch)
    failed = [(run.stage, run.error) for run in defs["stage_runs"] if run.error]
    assert failed == []
    n_items = expected_items(small_files[0])
    assert defs["profiles"].n_items == n_items
    assert defs["graph_params"].n_neighbors == 8  # from the command line
    assert defs["embedding"].coords.shape == (n_items, 4)
    assert list(defs["aligned"]) == ["umap", "tsne", "pacmap"]  # every registered projection compared by default
    table = defs["map_data"]
    assert len(table) == n_items
    assert {"umap_x", "umap_y", "tsne_x", "tsne_y", "pacmap_x", "pacmap_y", "community", "neighbours"} <= set(table.columns)
    assert table["name"].str.startswith("item ").all()  # names from the metadata file
    assert len(defs["maps"].dataframe) == n_items  # small data: nothing sampled
    assert set(defs["layout_metrics"]) == {"umap", "tsne", "pacmap"}
    assert 0 <= defs["layout_metrics"]["umap"]["knn_recall"] <= 1
    faithful = defs["map_faithfulness"]  # each map's own, measured once and coloured from the table
    assert set(faithful) == {"umap", "tsne", "pacmap"}
    np.testing.assert_array_equal(table["tsne_faithfulness"], faithful["tsne"])
    assert np.nanmin(faithful["umap"]) >= 0 and np.nanmax(faithful["umap"]) <= 1
    assert defs["comparison"]().data["frameLabels"] == ["UMAP", "t-SNE", "PaCMAP"]  # built when scrolled to


@pytest.mark.slow
@pytest.mark.parametrize(
    ("extra", "stage", "message"),
    [
        (["--input", "/nonexistent/plays.csv"], "data", "plays.csv"),
        (["--min-item-users", "100000"], "profiles", "lower the minimums"),
        (["--min-item-users", "lots"], "command line", "--min-item-users must be a whole number"),
    ],
)
def test_app_reports_bad_input_and_keeps_running(small_files, monkeypatch, extra, stage, message):
    defs = run_notebook(APP, app_args(small_files, *extra), monkeypatch)
    runs = {run.stage: run for run in defs["stage_runs"]}
    assert message in runs[stage].error
    if stage == "command line":  # the bad option keeps its default, the others apply, the map is made
        assert defs["filter_params"].min_item_users == atlas.FilterParams().min_item_users
        assert defs["filter_params"].min_user_items == 2
        assert set(defs["aligned"]) == {"umap", "tsne", "pacmap"}
    else:
        assert defs["aligned"] == {} and runs["embedding"].error is None  # skipped, not crashed


@pytest.fixture()
def data_root(small_files, tmp_path) -> tuple[Path, Path]:
    """A data root holding the interactions and a symlink to the metadata, which lies outside:
    (root, outside)."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    shutil.copy(small_files[0], root / "plays.csv")
    shutil.copy(small_files[1], outside / "tracks.csv")
    (root / "linked.csv").symlink_to(outside / "tracks.csv")
    return root, outside


def root_args(root: Path, *extra: str) -> list[str]:
    return ["--data-root", str(root), "--user-col", "listener", "--item-col", "track", *SMALL_FILTERS, *extra]


@pytest.mark.slow
@pytest.mark.parametrize(
    "files",
    [["--input", "../../etc/passwd"], ["--input", "OUTSIDE/tracks.csv"], ["--input", "plays.csv", "--items", "linked.csv"]],
    ids=["dot-dot", "absolute", "symlink"],
)
def test_app_with_a_data_root_reads_nothing_outside_it(data_root, monkeypatch, files):
    root, outside = data_root
    files = [part.replace("OUTSIDE", str(outside)) for part in files]
    defs = run_notebook(APP, root_args(root, *files), monkeypatch)
    assert defs["access"].mode == "root" and defs["access"].root == root.resolve()
    runs = {run.stage: run for run in defs["stage_runs"]}
    assert "lies outside the data root" in runs["data"].error
    assert defs["data"] is None and defs["aligned"] == {}  # nothing was read, nothing built


@pytest.mark.slow
def test_app_with_a_data_root_reads_inside_it_and_refuses_an_export_folder_outside(data_root, monkeypatch):
    root, outside = data_root
    before = sorted(outside.rglob("*"))
    defs = run_notebook(APP, root_args(root, "--input", "plays.csv", "--out", str(outside / "atlas-out")), monkeypatch)
    assert [run.error for run in defs["stage_runs"] if run.error] == []
    assert defs["profiles"].n_items == expected_items(root / "plays.csv")  # read relative to the root
    assert "lies outside the data root" in defs["export_folder_run"].error
    assert sorted(outside.rglob("*")) == before


@pytest.mark.slow
def test_sweep_projects_the_default_grid(small_files, monkeypatch):
    defs = run_notebook(SWEEP, app_args(small_files), monkeypatch)
    swept = [m for m in atlas.projections.projections().values() if m.sweep and m.compare_by_default]
    expected = sum(int(np.prod([len(first) for _offered, first in m.sweep.values()])) for m in swept)
    assert len(defs["sweep_params"]) == expected >= 8  # UMAP's and t-SNE's 2 × 2, and any other registered grid
    assert [run.error for run in defs["sweep_runs"].values()] == [None] * expected
    n_items = expected_items(small_files[0])
    assert all(layout.xy.shape == (n_items, 2) for layout in defs["sweep_layouts"].values())
    assert set(defs["sweep_metrics"]) == set(defs["sweep_params"])
    umap_15 = defs["sweep_params"]["UMAP n_neighbors=15 min_dist=0.1"]
    assert (umap_15.n_neighbors, umap_15.min_dist) == (15, 0.1)


def test_notebooks_pass_marimo_check():
    marimo = Path(sys.executable).parent / "marimo"
    result = subprocess.run([str(marimo), "check", "--strict", str(NOTEBOOKS)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_stages_the_maps_wait_for_show_their_progress_under_the_maps_controls():
    """A cell's spinner shows where the cell sits on the page: the stages that grey out the maps
    (filters, graph, embedding, the projections with their Cancel) sit between the maps' heading
    and the maps, not at the top of the page."""
    codes = [cell.code for cell in load_notebook(APP)._cell_manager.cell_data()]

    def at(snippet: str) -> int:
        (index,) = [k for k, code in enumerate(codes) if snippet in code]
        return index

    heading, maps = at("## Maps — brush in one view"), at("widgets.map_views(")
    stages = [at(s) for s in ("profiles_run = atlas.app.run_stage(", "graph_run = atlas.app.run_stage(", "embedding_run = atlas.app.run_stage(", "cancel_layouts = ", "layouts_now = (")]
    assert heading < min(stages) and max(stages) < maps, (heading, stages, maps)
    assert stages == sorted(stages)  # in the order they run
    assert at('"Counting co-occurrences and building the item graph…"') == stages[1]  # says which stage runs


# ---------------------------------------------------------------------------------------------
# In a browser
# ---------------------------------------------------------------------------------------------

# Each drawn point of the named symbol marks: [row, x, y, opacity, name].
VEGA_MARKS_JS = f"""
() => {{
  const marks = ({SYMBOL_MARKS_JS})();
  return Object.fromEntries(Object.entries(marks).map(([name, items]) =>
    [name, items.map(i => [i.datum.row, i.x, i.y, i.opacity, i.datum.name])]));
}}
"""


def drawn_marks(page) -> dict[str, list]:
    return page.evaluate(VEGA_MARKS_JS)


def wait_for(page, condition, timeout: float = 180.0, what: str = "the app"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        page.wait_for_timeout(500)
    raise AssertionError(f"timed out waiting for {what}")


def layout_of(marks: list) -> dict[int, tuple[float, float]]:
    return {int(row): (x, y) for row, x, y, *_ in marks}


@pytest.fixture(scope="module")
def served_app(small_files, tmp_path_factory):
    from browser import chromium_page, marimo_server

    out = tmp_path_factory.mktemp("export") / "atlas-out"
    with marimo_server(APP, app_args(small_files, "--out", str(out))) as url, chromium_page(viewport=(1500, 2600)) as (page, log):
        page.goto(url)
        wait_for(page, lambda: {"umap_map_marks", "tsne_map_marks", "pacmap_map_marks"} <= set(drawn_marks(page)), what="every map")
        wait_for(page, lambda: page.get_by_text("Quality at a glance").count() > 0, what="the metrics")
        page.wait_for_timeout(1500)
        yield page, log, out


@pytest.mark.browser
@pytest.mark.slow
def test_app_renders_without_errors(served_app, tmp_path):
    page, log, _ = served_app
    page.screenshot(path=str(tmp_path / "app.png"))
    assert log.errors_but_replaced_charts() == []
    danger = page.locator("marimo-callout-output[data-kind*='danger']")
    assert danger.count() == 0, [danger.nth(i).evaluate("e => e.outerHTML.slice(0, 600)") for i in range(danger.count())]
    assert page.locator(".text-error").count() == 0
    for heading in ("Diagnostics", "Maps", "Compare layouts (Emblaze)", "Quality at a glance", "Export"):
        assert page.get_by_text(heading, exact=False).count() > 0, heading


@pytest.mark.browser
@pytest.mark.slow
def test_both_maps_draw_every_item(served_app, small_files):
    page, _, _ = served_app
    marks = drawn_marks(page)
    n_items = expected_items(small_files[0])
    assert len(marks["umap_map_marks"]) == n_items
    assert len(marks["tsne_map_marks"]) == n_items
    assert sorted(layout_of(marks["umap_map_marks"])) == list(range(n_items))


@pytest.mark.browser
@pytest.mark.slow
def test_emblaze_comparison_is_drawn(served_app):
    page, _, _ = served_app
    # mounted once in view: the heading to the top of the window, the comparison under it (below the
    # two rows of maps it lies past the bottom of even a 2,600 px window)
    page.get_by_role("heading", name="Compare layouts (Emblaze)").evaluate("e => e.scrollIntoView({block: 'start'})")
    canvases = page.locator("marimo-anywidget canvas")
    wait_for(page, lambda: any((canvases.nth(i).bounding_box() or {}).get("width", 0) > 300 for i in range(canvases.count())), timeout=120, what="the Emblaze plot")
    boxes = [canvases.nth(i).bounding_box() for i in range(canvases.count())]
    plot = [i for i, box in enumerate(boxes) if box and box["width"] > 300]
    assert plot, "no Emblaze plot canvas"
    from test_widgets import coloured_pixels

    assert coloured_pixels(canvases.nth(plot[0]).screenshot()) > 500
    assert page.locator("marimo-anywidget .text-error").count() == 0


@pytest.mark.browser
@pytest.mark.slow
def test_search_outlines_the_item_and_its_neighbours(served_app, small_files):
    page, _, _ = served_app
    before = drawn_marks(page)["umap_map_marks"]
    assert all(opacity == pytest.approx(0.75) for _, _, _, opacity, _ in before)
    profiles = kept_profiles(small_files[0])
    favourite = profiles.item_ids[int(np.argmax(profiles.item_users))]
    box = page.locator("marimo-text[data-label*='find an item'] input")
    box.fill(f"item {favourite} (")
    box.press("Enter")
    faded = lambda: [m for m in drawn_marks(page).get("umap_map_marks", []) if m[3] < 0.5]  # noqa: E731
    wait_for(page, faded, timeout=30, what="the search highlight")
    marks = drawn_marks(page)
    for name in ("umap_map_marks", "tsne_map_marks"):
        lit = sorted(int(row) for row, _, _, opacity, _ in marks[name] if opacity == 1)
        assert 2 <= len(lit) <= 11, lit  # the item and its graph neighbours
    assert page.get_by_text(re.compile(r"\(outlined in red\) and its \d+ graph neighbours \(in black\)")).count() == 1
    box.fill("")
    box.press("Enter")
    wait_for(page, lambda: not faded(), timeout=30, what="the highlight to clear")


@pytest.mark.browser
@pytest.mark.slow
def test_moving_a_projection_slider_redraws_the_layout(served_app):
    page, _, _ = served_app
    before = layout_of(drawn_marks(page)["umap_map_marks"])
    thumb = page.get_by_role("complementary").locator("marimo-slider[data-label*='min_dist'] [role='slider']")
    _, moved_to = umap_min_dist_stops()
    thumb.focus()
    thumb.press("ArrowRight")  # the default -> the next stop

    def moved():
        now = layout_of(drawn_marks(page).get("umap_map_marks", []))
        return len(now) == len(before) and any(np.hypot(*np.subtract(now[r], before[r])) > 1 for r in before)

    wait_for(page, moved, timeout=120, what="the UMAP view to change")
    assert page.get_by_role("complementary").locator("marimo-slider[data-label*='min_dist']").get_by_text(moved_to, exact=True).count() == 1

    thumb.press("ArrowLeft")  # back to the default: served from the stage cache, the same layout again

    def restored():
        now = layout_of(drawn_marks(page).get("umap_map_marks", []))
        return len(now) == len(before) and all(np.hypot(*np.subtract(now[r], before[r])) < 0.5 for r in before)

    wait_for(page, restored, timeout=60, what="the earlier UMAP layout")


@pytest.mark.browser
@pytest.mark.slow
def test_export_button_writes_the_files(served_app):
    page, _, out = served_app
    page.locator("marimo-button[data-label*='Export'] button").click()
    wait_for(page, lambda: page.get_by_text("Wrote the").count() > 0, timeout=120, what="the export")
    for name in ("layout.csv", "layout.parquet", "neighbors.parquet", "manifest.json"):
        assert (out / name).is_file(), name
    layout = pd.read_csv(out / "layout.csv")
    assert {"item_id", "x", "y"} <= set(layout.columns)
    assert len(layout) == len(drawn_marks(page)["umap_map_marks"])


@pytest.mark.browser
@pytest.mark.slow
def test_the_apps_export_has_the_manifest_of_the_command_it_records(served_app, tmp_path):
    """Export from the app, then run the `atlas build` words its manifest records: the CLI's
    manifest and files are the app's, apart from the time, the stage times and threads (they
    follow the load and skip cached stages) and the output folder."""
    import json

    from atlas import cli

    page, _, out = served_app
    page.locator("marimo-button[data-label*='Export'] button").click()
    wait_for(page, lambda: (out / "manifest.json").is_file() and page.get_by_text("Wrote the").count() > 0, timeout=120, what="the export")
    app_manifest = json.loads((out / "manifest.json").read_text())
    assert cli.main(["build", *app_manifest["argv"], "--out", str(tmp_path / "cli"), "--no-cache", "--quiet"]) == 0

    def comparable(folder):
        plain = json.loads((folder / "manifest.json").read_text())
        for key in ("created", "timings", "command"):
            plain.pop(key)
        plain["threads"].pop("stages")
        return plain

    assert comparable(out) == comparable(tmp_path / "cli")
    for name in ("layout.parquet", "neighbors.parquet", "regions.parquet"):
        assert (out / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name


@pytest.mark.browser
@pytest.mark.slow
def test_uploaded_files_replace_the_data(served_app, small_files, tmp_path):
    """Upload an interactions file and a metadata file through the data form: the maps are
    redrawn from them, with the uploaded names. (A second app, in a new tab of the browser.)"""
    from browser import PageLog, marimo_server

    plays, tracks = small_files
    subset = pd.read_csv(plays)
    subset = subset[subset["track"].isin(sorted(subset["track"].unique())[:90])]
    upload_plays = tmp_path / "my plays.csv"
    subset.to_csv(upload_plays, index=False)
    names = pd.read_csv(tracks)
    names["title"] = [f"Uploaded track {i}" for i in range(len(names))]
    upload_tracks = tmp_path / "my tracks.csv"
    names[["item_id", "title"]].to_csv(upload_tracks, index=False)
    n_expected = expected_items(upload_plays)
    assert n_expected < expected_items(plays)

    with marimo_server(APP, app_args(small_files)) as url:
        page = served_app[0].context.new_page()
        log = PageLog(page)
        page.goto(url)
        wait_for(page, lambda: len(drawn_marks(page).get("umap_map_marks", [])) == expected_items(plays), what="the first maps")
        uploads = page.get_by_role("button", name="…or upload")
        assert uploads.count() == 2  # interactions, then item metadata
        for button, path in zip((uploads.nth(0), uploads.nth(1)), (upload_plays, upload_tracks)):
            with page.expect_file_chooser() as chooser:
                button.click()
            chooser.value.set_files(str(path))
            page.wait_for_timeout(500)
        page.get_by_role("button", name="Load data").click()

        def redrawn():
            marks = drawn_marks(page)
            return all(len(marks.get(name, [])) == n_expected for name in ("umap_map_marks", "tsne_map_marks"))

        wait_for(page, redrawn, timeout=180, what="the maps of the uploaded file")
        drawn_names = {name for *_, name in drawn_marks(page)["umap_map_marks"]}
        assert all(name.startswith("Uploaded track ") for name in drawn_names), sorted(drawn_names)[:5]
        assert page.locator("marimo-callout-output[data-kind*='danger']").count() == 0
        assert log.errors_but_replaced_charts() == []
        page.close()


@pytest.mark.browser
@pytest.mark.slow
def test_a_visitor_through_a_proxy_gets_no_file_access(served_app, tmp_path):
    """The app was started without a file policy: a visitor who arrives through a proxy (or from
    another address) sees no path box, no upload and no export folder, and is told why."""
    from browser import PageLog

    page = served_app[0].context.new_page()
    log = PageLog(page)
    page.set_extra_http_headers({"X-Forwarded-For": "203.0.113.7"})
    page.goto(served_app[0].url)
    wait_for(page, lambda: page.get_by_text("This app reads and writes no files.").count() > 0, timeout=120, what="the refusal")
    wait_for(page, lambda: page.get_by_role("heading", name="Export").count() > 0, timeout=180, what="the export section")
    labels = " ".join(page.locator("marimo-text").evaluate_all("els => els.map(e => e.dataset.label || '')"))
    assert "user" in labels  # the column boxes are there...
    for box in ("Interactions file", "Item metadata", "folder on the server"):  # ...the path boxes are not
        assert box not in labels and page.get_by_text(box).count() == 0, box
    assert page.locator("marimo-file").count() == 0
    wait_for(page, lambda: page.locator("marimo-download").count() == 1, timeout=180, what="the download button")  # once a layout is there
    page.screenshot(path=str(tmp_path / "locked.png"))
    assert log.errors_but_replaced_charts() == []
    page.close()


@pytest.mark.browser
@pytest.mark.slow
def test_uploads_only_app_uploads_draws_and_downloads(served_app, small_files, tmp_path):
    """Served with --uploads-only: no path box on the page; an upload above the cap is refused
    with a message, one below it is drawn, and the export comes back as a zip download.
    (A second app, in a new tab of the browser.)"""
    import zipfile

    from browser import PageLog, marimo_server

    plays, tracks = small_files
    subset = pd.read_csv(plays)
    subset = subset[subset["track"].isin(sorted(subset["track"].unique())[:90])]
    upload = tmp_path / "my plays.csv"
    subset.to_csv(upload, index=False)
    names = pd.read_csv(tracks)
    names["title"] = [f"Uploaded track {i}" for i in range(len(names))]
    upload_names = tmp_path / "my tracks.csv"
    names[["item_id", "title"]].to_csv(upload_names, index=False)
    too_big = tmp_path / "too big.csv"
    too_big.write_text("listener,track\n" + "u,t\n" * 60_000)  # 240 kB, over the 0.2 MB cap
    n_expected = expected_items(upload)
    assert upload.stat().st_size < 200_000 and n_expected < expected_items(plays)

    args = ["--uploads-only", "--max-upload-mb", "0.2", *app_args(small_files)]
    with marimo_server(APP, args) as url:
        page = served_app[0].context.new_page()
        log = PageLog(page)
        page.goto(url)
        wait_for(page, lambda: len(drawn_marks(page).get("umap_map_marks", [])) == expected_items(plays), what="the first maps")
        assert page.get_by_text("uploads up to 0.2 MB; exports come as a download").count() == 1
        labels = " ".join(page.locator("marimo-text").evaluate_all("els => els.map(e => e.dataset.label || '')"))
        for box in ("Interactions file", "Item metadata", "folder"):
            assert box not in labels and page.get_by_text(box, exact=True).count() == 0, box
        assert page.locator("marimo-button[data-label*='Export']").count() == 0  # no export into a server folder

        sidebar = page.get_by_role("complementary")
        button = sidebar.get_by_text("Upload interactions")
        with page.expect_file_chooser() as chooser:
            button.click()
        chooser.value.set_files(str(too_big))
        wait_for(page, lambda: page.get_by_text("File upload failed").count() > 0, timeout=30, what="the refusal of the large file")
        assert page.get_by_text("File is larger than 200000 bytes").count() > 0
        for button, path in ((button, upload), (sidebar.get_by_text("Upload item metadata"), upload_names)):
            with page.expect_file_chooser() as chooser:
                button.click()
            chooser.value.set_files(str(path))
            page.wait_for_timeout(500)
        page.get_by_role("button", name="Load data", exact=True).click()

        def redrawn():
            marks = drawn_marks(page)
            return all(len(marks.get(name, [])) == n_expected for name in ("umap_map_marks", "tsne_map_marks"))

        wait_for(page, redrawn, timeout=180, what="the maps of the uploaded file")
        drawn_names = {name for *_, name in drawn_marks(page)["umap_map_marks"]}
        assert all(name.startswith("Uploaded track ") for name in drawn_names), sorted(drawn_names)[:5]
        wait_for(page, lambda: page.get_by_role("heading", name="Quality at a glance").count() > 0, what="the metrics")
        page.screenshot(path=str(tmp_path / "uploads_only.png"))

        with page.expect_download(timeout=120_000) as download:
            page.get_by_text("Download the umap export").click()
        assert download.value.suggested_filename == "atlas-umap.zip"
        archive = zipfile.ZipFile(download.value.path())
        files = ["layout.csv", "layout.parquet", "regions.parquet", "neighbors.parquet", "manifest.json", "atlas.html"]
        assert sorted(archive.namelist()) == sorted(f"atlas-umap/{name}" for name in files)
        layout = pd.read_csv(archive.open("atlas-umap/layout.csv"))
        assert len(layout) == n_expected and layout["title"].str.startswith("Uploaded track ").all()
        assert page.locator("marimo-callout-output[data-kind*='danger']").count() == 0
        assert log.errors_but_replaced_charts() == []  # the maps were replaced as each layout of the upload arrived
        page.close()


@pytest.mark.browser
@pytest.mark.slow
def test_a_projection_change_shows_the_layout_as_it_forms(served_app, small_files, tmp_path):
    """A new t-SNE setting is computed in the background: the panel above the maps redraws the
    layout as it forms (at least twice during one optimisation), then the map itself changes.
    (A second app, in a new tab of the browser.)"""
    from browser import PageLog, marimo_server

    slow = ["--tsne-iter", "6000", "--tsne-warm-iter", "6000", "--tsne-exaggeration-iter", "250"]
    with marimo_server(APP, app_args(small_files, *slow)) as url:
        page = served_app[0].context.new_page()
        log = PageLog(page)
        page.goto(url)
        wait_for(page, lambda: {"umap_map_marks", "tsne_map_marks", "pacmap_map_marks"} <= set(drawn_marks(page)), timeout=400, what="every map")
        before = layout_of(drawn_marks(page)["tsne_map_marks"])
        thumb = page.get_by_role("complementary").locator("marimo-slider[data-label*='perplexity'] [role='slider']")
        thumb.focus()
        thumb.press("ArrowRight")  # 30 -> 35
        previews, lines = [], set()
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            marks = drawn_marks(page)
            frame = tuple(page.evaluate("() => [...document.querySelectorAll('svg[data-atlas-preview] circle')].slice(0, 20).map(c => c.getAttribute('cx'))"))
            if frame and (not previews or frame != previews[-1]):
                previews.append(frame)
            lines |= {line for line in page.inner_text("body").splitlines() if "steps" in line and "t-SNE" in line}
            now = layout_of(marks.get("tsne_map_marks", []))
            if len(now) == len(before) and any(np.hypot(*np.subtract(now[r], before[r])) > 1 for r in before):
                break
            page.wait_for_timeout(250)
        else:
            raise AssertionError("the t-SNE map never changed")
        assert len(previews) >= 2, previews  # the layout redrawn while it formed
        assert any("refining the map on screen" in line and "left" in line for line in lines), lines
        page.screenshot(path=str(tmp_path / "forming.png"))



@pytest.mark.browser
@pytest.mark.slow
def test_on_two_cores_the_first_map_forms_alone_then_the_others_side_by_side(served_app, small_files, tmp_path):
    """With two cores the app computes its first map (UMAP) alone, so that it is drawn as soon as
    can be, then t-SNE and PaCMAP at once: the panel above the maps shows UMAP's progress line on
    its own, then one for each of the others at the same time, under the UMAP map already drawn.
    (A second app, in a new tab of the browser; long schedules, so that each phase is seen.)"""
    from browser import PageLog, marimo_server

    slow = ["--umap-epochs", "5000", "--tsne-iter", "20000", "--pacmap-iter", "20000"]
    with marimo_server(APP, app_args(small_files, *slow), env={"ATLAS_THREADS": "2"}) as url:
        page = served_app[0].context.new_page()
        log = PageLog(page)
        page.goto(url)
        def running() -> dict[str, int]:  # method -> steps done, from the panel's progress lines (PaCMAP's says "starting")
            lines = [line for line in page.inner_text("body").splitlines() if ("steps ·" in line or "starting ·" in line) and "from PCA" in line]
            return {line.split(" (")[0]: int(found.group(1).replace(",", "")) if (found := re.search(r": ([\d,]+) of", line)) else 0 for line in lines}

        wait_for(page, lambda: running().get("UMAP", 0) >= 100 and set(running()) == {"UMAP"}, timeout=300, what="UMAP forming alone")
        wait_for(page, lambda: page.locator("svg[data-atlas-preview]").count() == 1, timeout=60, what="the layout forming")
        wait_for(page, lambda: {"t-SNE", "PaCMAP"} <= set(running()), timeout=300, what="t-SNE and PaCMAP forming at the same time")
        assert "UMAP" not in running()
        drawn = wait_for(page, lambda: set(drawn_marks(page)), timeout=60, what="the UMAP map")
        assert "umap_map_marks" in drawn and "tsne_map_marks" not in drawn, drawn
        page.screenshot(path=str(tmp_path / "side_by_side.png"))
        failed = [text for text in page.locator("marimo-callout-output[data-kind*='danger']").all_inner_texts() if any(t in text for t in ("UMAP", "t-SNE", "PaCMAP"))]
        assert failed == []  # (the export's "no layout to write yet" waits for them meanwhile)
        assert log.errors_but_replaced_charts() == []
        page.close()

def test_above_the_chart_limit_the_app_draws_every_item_with_webgl(served_app, small_files, tmp_path):
    """With --max-chart-points below the number of items, the maps are the WebGL views: every
    item in each of them, and a lasso in one lists the selected items under the maps.
    (A second app, in a new tab of the browser.)"""
    from browser import PageLog, marimo_server
    from test_scatter import lasso_rows

    plays, tracks = small_files
    kept = kept_profiles(plays)
    n_items = kept.n_items
    community = pd.read_csv(tracks, dtype={"item_id": str}).set_index("item_id")["community"]
    members = np.flatnonzero(community.reindex(np.asarray(kept.item_ids, dtype=str)).to_numpy() == "c0")
    assert 10 < len(members) < n_items and n_items > 100

    with marimo_server(APP, app_args(small_files, "--max-chart-points", "100")) as url:
        page = served_app[0].context.new_page()
        log = PageLog(page)
        page.goto(url)
        canvases = page.locator(".atlas-maps-surface canvas[data-drawn]")
        wait_for(page, lambda: canvases.count() == 3, what="the three WebGL views")
        assert [canvases.nth(i).get_attribute("data-drawn") for i in range(3)] == [str(n_items)] * 3
        assert [canvases.nth(i).get_attribute("data-buffered") for i in range(3)] == [str(n_items)] * 3
        assert page.get_by_text(f"All {n_items:,} items are drawn, with WebGL").count() == 1
        assert "umap_map_marks" not in drawn_marks(page)  # no Altair map on the page

        listed = lambda: page.get_by_text("(c0)", exact=False).count()  # noqa: E731
        before = listed()
        lasso_rows(page, members)
        shown = lambda: page.locator(".atlas-maps").get_attribute("data-selected")  # noqa: E731
        wait_for(page, lambda: shown() not in (None, "0"), timeout=30, what="the lasso selection")
        selected = int(shown())
        assert selected >= len(members)
        wait_for(page, lambda: page.get_by_text(f"{selected:,} items selected").count() == 1, timeout=60, what="the selected items in Python")
        wait_for(page, lambda: listed() > before, timeout=30, what="the selected items' names")  # as the metadata file gives them
        page.screenshot(path=str(tmp_path / "webgl_app.png"))
        assert page.locator("marimo-callout-output[data-kind*='danger']").count() == 0
        assert log.errors_but_replaced_charts() == []
        page.close()


# ---------------------------------------------------------------------------------------------
# Region names and stable rebuilds in the app
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_app_aligns_to_a_previous_export_and_names_regions(small_files, tmp_path, monkeypatch):
    from atlas.cli import main

    plays, tracks = small_files
    old = tmp_path / "old"
    words = [str(plays), "--items", str(tracks), "--user-col", "listener", "--item-col", "track", *SMALL_FILTERS]
    assert main(["build", *words, "--out", str(old), "--no-cache", "--quiet", "--compare", "umap"]) == 0
    defs = run_notebook(APP, app_args(small_files, "--align-to", str(old), "--seed", "1", "--region-levels", "1"), monkeypatch)
    assert [run.error for run in (defs["align_run"], defs["regions_run"])] == [None, None]
    n_items = expected_items(plays)
    changes = defs["map_changes"]  # said under the maps, as atlas diff says it
    assert changes["directory"] == str(old.resolve()) and changes["counts"] == {"kept": n_items, "new": 0, "gone": 0, "old_items": n_items, "new_items": n_items}
    assert changes["median_move"] < 0.15  # the same data with another seed stays where it was
    assert not changes["new"].any() and set(defs["map_data"]["since_export"]) == {"on its map too"}
    assert "Since old** (UMAP): " in widgets.changes_note(changes, "UMAP")
    assert all(layout.started_from for layout in defs["raw_layouts"].values())  # every layout ran from the old map
    assert defs["aligned"]["umap"].key.endswith(f":onto:{defs['align_match'].anchor.digest}")
    assert defs["region_names"] == {} and defs["layout_regions"] == {}  # the overlay starts off: no regions are looked for
    result = defs["export_result"]()  # what an export writes: the same layouts and report, and the regions of each
    report = result.alignment  # the export's record of the same moves
    assert report["shared_items"] == n_items and report["median_displacement"] == pytest.approx(changes["median_move"])
    assert [m["item_id"] for m in report["most_moved"][:5]] == [m["item_id"] for m in changes["biggest_movers"]]
    assert result.params.regions.levels == 1
    assert {name: found.levels for name, found in result.regions.items()} == {"umap": 1, "tsne": 1, "pacmap": 1}
    assert all(len(found.labels) == n_items and (found.labels >= 0).any() for found in result.regions.values())


# The datum "name" of every drawn text mark (the region names; axes and titles are no marks).
TEXT_MARKS_JS = f"""
() => {{
  const marks = ({SYMBOL_MARKS_JS.replace("item.marktype === 'symbol'", "item.marktype === 'text'")})();
  return Object.values(marks).flatMap(items => items.filter(i => i.datum && i.datum.name).map(i => i.datum.name));
}}
"""


def drawn_texts(page) -> list[str]:
    return page.evaluate(TEXT_MARKS_JS)


@pytest.mark.browser
@pytest.mark.slow
def test_region_names_can_be_switched_on_over_the_maps(served_app):
    page, log, _ = served_app
    page.get_by_text("Regions and stable rebuilds").click()
    choice = page.locator("marimo-dropdown[data-label*='region names'] select")
    choice.select_option(label="continents (coarsest level)")
    names = wait_for(page, lambda: drawn_texts(page), timeout=60, what="region names on the maps")
    assert any(name.startswith("c") for name in names)  # the planted communities name the continents
    marks = drawn_marks(page)
    assert "umap_map_0_marks" in marks  # points and names share a view (a layer: Altair numbers its points)
    choice.select_option(label="off")
    wait_for(page, lambda: {"umap_map_marks", "tsne_map_marks"} <= set(drawn_marks(page)), timeout=60, what="the plain maps")
    assert drawn_texts(page) == [] and log.errors_but_replaced_charts() == []


# ---------------------------------------------------------------------------------------------
# A reload of the demo, every stage cached
# ---------------------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.slow
def test_a_reload_of_the_demo_draws_its_maps_from_the_disk_cache(served_app, tmp_path):
    """The demo computed once, a reload and a second tab draw every map from the stage cache on
    disk (the app's default), and the table of stage times says so. The times are printed for
    the record; the bound asserted is loose, for a busy machine. (A second app, in a new tab of
    the module's browser: one Playwright per process.)"""
    from browser import PageLog, marimo_server

    every = {"umap_map_marks", "tsne_map_marks", "pacmap_map_marks"}
    with marimo_server(APP, ["--cache-dir", str(tmp_path / "cache")]) as url:
        page = served_app[0].context.new_page()
        log = PageLog(page)
        page.goto(url)
        wait_for(page, lambda: every <= set(drawn_marks(page)), timeout=900, what="the demo's maps, computed")
        wait_for(page, lambda: page.get_by_text("Quality at a glance").count() > 0, timeout=300, what="the metrics")
        page.wait_for_load_state("networkidle")
        times = {}
        for kind in ("reload", "second tab", "third tab"):
            tab = page if kind == "reload" else page.context.new_page()
            tab_log = log if kind == "reload" else PageLog(tab)
            began = time.monotonic()
            if kind == "reload":
                tab.reload()
            else:
                tab.goto(url)
            wait_for(tab, lambda: every <= set(drawn_marks(tab)), timeout=300, what=f"the maps after a {kind}")
            times[kind] = time.monotonic() - began
            rows = lambda: {text.split("\t")[0].strip(): text for text in tab.locator("table.atlas-table tr").all_inner_texts()}  # noqa: E731
            stages = ("profiles", "graph", "embedding", "UMAP", "t-SNE", "PaCMAP")
            wait_for(tab, lambda: all(s in rows() for s in stages), timeout=120, what="the table of stage times")
            table = rows()
            assert all("cached" in table[s] for s in stages), {s: table[s] for s in stages}
            tab.wait_for_load_state("networkidle")
            assert tab_log.errors_but_replaced_charts() == []
            if kind != "reload":
                tab.close()
        print("demo, warm disk cache, page.goto to every map drawn: " + ", ".join(f"{k} {v:.2f} s" for k, v in times.items()))
        assert max(times.values()) < 60
        page.close()
