"""``atlas diff``: two hand-made exports with planted changes, checked against values worked out by hand."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from atlas.cli import main
from atlas.diff import DiffParams, compare, write_diff
from atlas.errors import AtlasError
from atlas.web.pack import read_export

HOSTILE = '<img src=x onerror="window.__pwned=1">'
SHIFT_EAST = 3.0


def _cluster(prefix: str, count: int, centre, region, rng) -> pd.DataFrame:
    xy = np.asarray(centre) + rng.normal(0, 1.0, size=(count, 2))
    return pd.DataFrame({"item_id": [f"{prefix}{k}" for k in range(count)], "x": xy[:, 0], "y": xy[:, 1], "region": region})


def write_export(folder: Path, layout: pd.DataFrame, *, aligned_to: Path | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    layout = layout.reset_index(drop=True).copy()
    layout["n_users"] = np.arange(len(layout), 0, -1) + 10
    titles = layout["item_id"].map(lambda i: f"Title {i}")
    layout["title"] = layout["title"].fillna(titles) if "title" in layout else titles
    layout.to_parquet(folder / "layout.parquet", index=False)
    ids = layout["item_id"].tolist()
    pd.DataFrame({"item_id": ids, "neighbor_id": ids[1:] + ids[:1], "rank": 0, "weight": 1.0}).to_parquet(folder / "neighbors.parquet", index=False)
    manifest = {"name_column": "title", "projection": "umap"}
    if aligned_to is not None:
        manifest["alignment"] = {"directory": str(aligned_to.resolve())}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """OLD: five regions. NEW (built with --align-to OLD): five West items gone, eight new items
    in a new region (Fresh), East moved right by SHIFT_EAST, North split in two halves, South
    renamed Deep South, West and Center merged into Middle."""
    root = tmp_path_factory.mktemp("diff")
    rng = np.random.default_rng(1)
    north = _cluster("n", 20, (0, 12), "North", rng)
    south = _cluster("s", 20, (0, -12), "South", rng)
    east = _cluster("e", 20, (12, 0), "East", rng)
    west = _cluster("w", 20, (-12, 0), "West", rng)
    centre = _cluster("c", 10, (0, 0), "Center", rng)
    old = pd.concat([north, south, east, west, centre], ignore_index=True)
    new_n = north.assign(region=["North A"] * 10 + ["North B"] * 10)
    new_s = south.assign(region="Deep South")
    new_e = east.assign(x=east["x"] + SHIFT_EAST)
    new_w = west.iloc[5:].assign(region="Middle")
    new_c = centre.assign(region="Middle")
    fresh = _cluster("f", 8, (12, 12), "Fresh", rng)
    fresh["title"] = [HOSTILE] + [f"Fresh {k}" for k in range(1, 8)]
    new = pd.concat([new_n, new_s, new_e, new_w, new_c, fresh], ignore_index=True)
    old_dir = write_export(root / "old", old)
    new_dir = write_export(root / "new", new, aligned_to=old_dir)
    return old_dir, new_dir, old, new


def diameter(xy: np.ndarray) -> float:
    return float(np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2)).max())


def test_counts_moves_and_region_events_match_the_planted_changes(planted):
    old_dir, new_dir, old, _ = planted
    result = compare(read_export(old_dir), read_export(new_dir))
    report, table = result.report, result.table.set_index("item_id")
    assert report["aligned"] == "at build time (--align-to)"
    assert report["counts"] == {"kept": 85, "new": 8, "gone": 5, "old_items": 90, "new_items": 93}
    assert sorted(table.index[table["status"] == "gone"]) == [f"w{k}" for k in range(5)]
    assert sorted(table.index[table["status"] == "new"]) == [f"f{k}" for k in range(8)]
    d = diameter(old[["x", "y"]].to_numpy())
    east = table.loc[[f"e{k}" for k in range(20)], "moved"]
    np.testing.assert_allclose(east, SHIFT_EAST / d, rtol=1e-6)
    still = table[(table["status"] == "kept") & ~table.index.str.startswith("e")]["moved"]
    assert still.max() < 1e-6
    assert report["median_move"] == pytest.approx(0.0, abs=1e-6)  # 65 of the 85 kept items did not move
    assert {m["item_id"] for m in report["biggest_movers"]} == {f"e{k}" for k in range(20)}
    assert table["moved"][table["status"] != "kept"].isna().all()
    assert table.loc["s3", "region_old"] == "South" and table.loc["s3", "region_new"] == "Deep South"
    assert table.loc["w0", "region_new"] is None and table.loc["f0", "region_old"] is None

    regions = report["regions"]
    assert [(e["region"], e["into"]) for e in regions["split"]] == [("North", ["North A", "North B"])]
    assert [(e["region"], e["from"], e["shares"]) for e in regions["merged"]] == [("Middle", ["West", "Center"], [0.6, 0.4])]
    assert [(e["old"], e["new"]) for e in regions["renamed"]] == [("South", "Deep South")]
    assert [(e["region"], e["items"]) for e in regions["appeared"]] == [("Fresh", 8)]
    assert regions["vanished"] == []
    # a region change flies to where it happened: Fresh lies around (12, 12)
    assert np.hypot(regions["appeared"][0]["at"][0] - 12, regions["appeared"][0]["at"][1] - 12) < 1.5


def test_a_region_whose_items_all_left_vanished(planted, tmp_path):
    old_dir, _, _, new = planted
    gone = write_export(tmp_path / "gone", new[~new["item_id"].str.startswith("s")], aligned_to=old_dir)
    regions = compare(read_export(old_dir), read_export(gone)).report["regions"]
    assert [(e["region"], e["items"]) for e in regions["vanished"]] == [("South", 20)]
    assert regions["renamed"] == []


def test_a_map_not_built_aligned_is_aligned_here_and_says_so(planted, tmp_path, capsys):
    old_dir, _, old, _ = planted
    xy = old[["x", "y"]].to_numpy()
    angle = np.deg2rad(30)
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = old.assign(x=0, y=0)
    moved[["x", "y"]] = 2.0 * xy @ turn.T + [5.0, -3.0]
    turned = write_export(tmp_path / "turned", moved)
    assert main(["diff", str(old_dir), str(turned), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert f"{turned} was not built with --align-to {old_dir}: aligned it to the old map here" in out
    report = json.loads((tmp_path / "out" / "diff.json").read_text())
    assert report["aligned"] == "here" and report["counts"]["kept"] == 90
    table = pd.read_parquet(tmp_path / "out" / "diff.parquet")
    assert list(table.columns[:6]) == ["item_id", "name", "status", "moved", "region_old", "region_new"]
    assert table["moved"].max() < 1e-9  # a turn, a scale and a shift are not moves
    assert (tmp_path / "out" / "diff.html").stat().st_size > 10_000


@pytest.mark.parametrize(
    "how, message",
    [
        ("other", r"share 0 item id\(s\); atlas diff compares two exports of the same kind of data"),
        ("empty", r"manifest.json is missing; run 'atlas build"),
        ("same", r"OLD and NEW are the same folder"),
        ("missing", r"No export directory at"),
    ],
)
def test_bad_inputs_are_one_line_errors_and_write_nothing(planted, tmp_path, capsys, how, message):
    old_dir, _, old, _ = planted
    if how == "other":
        new = write_export(tmp_path / "other", old.assign(item_id=[f"track {k}" for k in range(len(old))]))
    elif how == "empty":
        new = tmp_path / "empty"
        new.mkdir()
    elif how == "same":
        new = old_dir
    else:
        new = tmp_path / "nowhere"
    assert main(["diff", str(old_dir), str(new), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ") and re.search(message, err)
    assert not (tmp_path / "out").exists()


def test_diff_params_are_checked():
    with pytest.raises(AtlasError, match=r"share must be between 0.01 and 0.5, got 0.9"):
        DiffParams(share=0.9)


def test_a_failed_write_leaves_no_partial_diff(planted, tmp_path, monkeypatch):
    old_dir, new_dir, _, _ = planted
    out = tmp_path / "out"
    write_diff(old_dir, new_dir, out)
    before = (out / "diff.json").read_text()

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", broken)
    with pytest.raises(AtlasError, match=r"cannot write the diff into .*No space left on device"):
        write_diff(old_dir, new_dir, out)
    assert (out / "diff.json").read_text() == before
    assert sorted(p.name for p in out.iterdir()) == ["diff.html", "diff.json", "diff.parquet"]


# ---------------------------------------------------------------- the page, in Chromium


@pytest.mark.browser
def test_diff_page_marks_new_items_ghosts_gone_ones_and_animates_kept_ones(planted, tmp_path):
    from browser import chromium_page

    old_dir, new_dir, old, new = planted
    write_diff(old_dir, new_dir, tmp_path)
    page_path = tmp_path / "diff.html"
    text = page_path.read_text(encoding="utf-8")
    assert HOSTILE not in text and not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    with chromium_page() as (page, log):
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(page_path.as_uri())
        page.wait_for_function("window.diffMap && window.diffMap.ready", timeout=30000)
        assert page.locator("#diff-summary").text_content().startswith("85 kept · 8 new · 5 gone")
        assert "built aligned to the old one" in page.locator("#diff-aligned").text_content()
        e0 = page.evaluate("atlasId => diffMap.indexOf(atlasId)", "e0")
        assert page.evaluate("i => diffMap.item(i).status", e0) == "kept"
        at_new = page.evaluate("i => diffMap.project(i)", e0)
        page.evaluate("diffMap.setTime(0)")
        at_old = page.evaluate("i => diffMap.project(i)", e0)
        k = page.evaluate("diffMap.view.k")
        assert at_new["x"] - at_old["x"] == pytest.approx(SHIFT_EAST * k, rel=1e-3) and at_new["y"] == pytest.approx(at_old["y"], abs=0.01)
        page.evaluate("diffMap.play()")
        assert page.evaluate("diffMap.state.t") == 1
        moved = page.evaluate("i => diffMap.project(i)", e0)
        assert moved["x"] == pytest.approx(at_new["x"], abs=0.01)
        # new items glow green; gone items are faint ghosts against the background
        f1 = page.evaluate("id => diffMap.indexOf(id)", "f1")
        w0 = page.evaluate("id => diffMap.indexOf(id)", "w0")
        pixel = """(i) => { const p = diffMap.project(i), gl = document.getElementById('atlas-gl'), r = gl.width / gl.clientWidth;
          const c = document.createElement('canvas'); c.width = gl.width; c.height = gl.height; const x = c.getContext('2d');
          x.drawImage(gl, 0, 0); return Array.from(x.getImageData(Math.round(p.x * r), Math.round(p.y * r), 1, 1).data); }"""
        green, ghost = page.evaluate(pixel, f1), page.evaluate(pixel, w0)
        assert green[1] > 150 and green[1] > green[0] + 40
        assert ghost[0] > ghost[1] and ghost[0] < 120  # red, but faint on the dark background
        # the biggest movers are listed and fly to their place
        first = page.locator("#diff-movers button").first
        assert first.locator(".diff-name").text_content().startswith("Title e")
        first.click()
        index = int(first.get_attribute("data-index"))
        page.wait_for_function("""i => { const p = diffMap.project(i), v = diffMap.view;
            return Math.abs(p.x - v.width / 2) < 2 && Math.abs(p.y - v.height / 2) < 2 && diffMap.state.selected === i; }""", arg=index, timeout=10000)
        kinds = page.locator("#diff-regions .diff-kind").all_text_contents()
        assert sorted(kinds) == ["appeared", "merged", "renamed", "split"]
        page.locator("#diff-regions button", has_text="North split into North A and North B").click()
        page.wait_for_timeout(1500)
        page.screenshot(path="/tmp/diff_page.png")
        page.evaluate("diffMap.setTime(1); diffMap.flyTo(diffMap.indexOf('f0'))")
        page.wait_for_timeout(1200)
        page.mouse.move(*page.evaluate("i => [diffMap.project(i).x, diffMap.project(i).y]", page.evaluate("diffMap.indexOf('f0')")))
        page.wait_for_timeout(200)
        assert page.locator("#atlas-tooltip-name").text_content() == HOSTILE  # shown as text
        page.screenshot(path="/tmp/diff_page_hover.png")
        assert log.errors() == [] and dialogs == [] and page.evaluate("window.__pwned") is None


# ---------------------------------------------------------------------------------------------
# The pieces the app shares: moves against an earlier map, the movers, the lines
# ---------------------------------------------------------------------------------------------


def square_anchor():
    """An earlier map of four items on a unit square (diameter √2), and today's items b, c, e, a."""
    from atlas.align import Anchor, match

    old = Anchor("/exports/old", np.array(["a", "b", "c", "d"]), np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]), {}, anyway=True)
    found = match(old, np.array(["b", "c", "e", "a"]))
    placed = np.array([[1.1, 0.0], [1.0, 1.0], [0.5, 0.5], [0.0, 0.5]])  # b moved 0.1, c stayed, e is new, a moved 0.5
    return found, placed


def test_moves_against_an_earlier_map_are_shares_of_its_diameter_worked_out_by_hand():
    from atlas.diff import item_moves

    found, placed = square_anchor()
    moves = item_moves(found.anchor.xy, found.rows, placed)
    root2 = np.sqrt(2.0)
    assert moves.diameter == pytest.approx(root2)
    np.testing.assert_allclose(moves.moved, [0.1 / root2, 0.0, np.nan, 0.5 / root2])
    assert moves.gone.tolist() == [3] and moves.kept.tolist() == [True, True, False, True]
    summary = moves.summary()
    assert summary["counts"] == {"kept": 3, "new": 1, "gone": 1, "old_items": 4, "new_items": 4}
    assert summary["median_move"] == pytest.approx(0.1 / root2)
    assert summary["p90_move"] == pytest.approx((0.1 + 0.8 * 0.4) / root2)  # numpy's linear quantile of 0, 0.1, 0.5


def test_changes_since_an_earlier_map_name_the_new_items_and_the_biggest_movers():
    from atlas.diff import change_line, changes_since, mover_order, movers_line

    found, placed = square_anchor()
    report = changes_since(found, placed, np.array(["b", "c", "e", "a"]), ["Bee", "Sea", "Eel", "**Ay**"], movers=2)
    assert report["directory"] == "/exports/old" and report["new"].tolist() == [False, False, True, False]
    assert [(m["row"], m["item_id"], m["name"]) for m in report["biggest_movers"]] == [(3, "a", "**Ay**"), (0, "b", "Bee")]
    assert report["biggest_movers"][0]["moved"] == pytest.approx(0.5 / np.sqrt(2.0))
    assert change_line(report) == "3 items kept, 1 new, 1 gone; median move 7.1% of the map's diameter (90th percentile 29.7%)"
    assert movers_line(report["biggest_movers"]) == "moved most: **Ay** (35%), Bee (7%)"
    # ties go by item id, and items without a move (new ones) are never movers
    assert mover_order(np.array([0.2, np.nan, 0.2, 0.3]), np.array(["z", "y", "b", "c"]), 5).tolist() == [3, 2, 0]


def test_the_report_of_atlas_diff_is_built_from_the_same_pieces(planted):
    """compare's counts, moves and movers are those of item_moves/mover_order on its own table."""
    from atlas.diff import mover_order

    old_dir, new_dir, _, _ = planted
    result = compare(read_export(old_dir), read_export(new_dir))
    kept = result.table[result.table["status"] == "kept"]
    assert result.report["median_move"] == pytest.approx(float(np.median(kept["moved"])))
    expected = kept["item_id"].to_numpy()[mover_order(kept["moved"].to_numpy(), kept["item_id"].to_numpy(), 20)]
    assert [m["item_id"] for m in result.report["biggest_movers"]] == expected.tolist()
    assert all(m["item_id"].startswith("e") for m in result.report["biggest_movers"][:5])  # East moved right by SHIFT_EAST
