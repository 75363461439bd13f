"""The published web atlas: what write_html packs, how it fails, and what the page does in a
real (headless) Chromium."""

from __future__ import annotations

import base64
import gzip
import json
import re
import struct
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from atlas.errors import AtlasError
from atlas.web import write_html
from atlas.web.html import HTML_NAME

HOSTILE_IMG = '<img src=x onerror="window.__pwned=1;alert(1)">'
HOSTILE_SCRIPT = "</script><script>window.__pwned=2;alert(2)</script>"
BACKGROUND = (11, 14, 21)
GENRES = [f"genre {chr(ord('A') + k)}" for k in range(25)]
WORDS = ["amber", "basalt", "cedar", "delta", "ember", "fjord", "granite", "harbor", "indigo", "juniper",
         "kestrel", "lagoon", "meadow", "nimbus", "onyx", "prairie", "quartz", "raven", "sierra", "tundra"]

# Items placed far from the clusters, so the pointer finds them unambiguously.
LONELY = {"m_lonely": (40.0, 38.0), "m_img": (-40.0, 36.0), "m_script": (40.0, -38.0)}
LONELY_NEIGHBORS = ["m0007", "m0003", "m0042", "m0100", "m0011"]


def make_export(directory: Path, n: int = 400, seed: int = 0, name_column: str | None = "title",
                label_column: str | None = None) -> Path:
    """A small export with planted structure: six clusters, three isolated items (one with a
    plain name, two with hostile names), 25 genres (more than the palette), years with gaps."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    centres = rng.uniform(-25, 25, size=(6, 2))
    cluster = rng.integers(0, 6, size=n)
    xy = centres[cluster] + rng.normal(0, 2.5, size=(n, 2))
    ids = [f"m{k:04d}" for k in range(n)]
    titles = [f"{WORDS[k % 20].title()} {WORDS[(k // 20) % 20]} {k}" for k in range(n)]
    users = rng.integers(5, 400, size=n)
    year = rng.integers(1960, 2024, size=n).astype(float)
    year[::9] = np.nan
    layout = pd.DataFrame({
        "item_id": ids, "x": xy[:, 0], "y": xy[:, 1], "n_users": users, "title": titles,
        "genres": [GENRES[(c * 4 + k) % 25] for k, c in enumerate(cluster)],
        "year": year, "score": rng.uniform(1, 10, size=n).round(2),
    })
    extra = pd.DataFrame({
        "item_id": list(LONELY), "x": [p[0] for p in LONELY.values()], "y": [p[1] for p in LONELY.values()],
        "n_users": [5000, 20, 15], "title": ["Lonely Lighthouse", HOSTILE_IMG, HOSTILE_SCRIPT],
        "genres": [None, "genre A", "genre B"], "year": [1999.0, np.nan, 2001.0], "score": [9.5, 1.0, 2.0],
    })
    layout = pd.concat([layout, extra], ignore_index=True)
    layout["n_users"] = layout["n_users"].astype("int64")
    layout.to_parquet(directory / "layout.parquet", index=False)
    layout.to_csv(directory / "layout.csv", index=False)

    rows = []
    for k in range(n):  # each item's neighbours: nearby items of its own cluster
        same = np.flatnonzero(cluster == cluster[k])
        near = same[np.argsort(np.hypot(*(xy[same] - xy[k]).T))][1:6]
        rows += [(ids[k], ids[j], rank, 1.0 / (rank + 1)) for rank, j in enumerate(near)]
    rows += [("m_lonely", other, rank, 0.5) for rank, other in enumerate(LONELY_NEIGHBORS)]
    rows += [("m_img", "m_script", 0, 0.9), ("m_script", "m_img", 0, 0.9)]
    neighbors = pd.DataFrame(rows, columns=["item_id", "neighbor_id", "rank", "weight"])
    neighbors.sample(frac=1.0, random_state=seed).to_parquet(directory / "neighbors.parquet", index=False)

    manifest = {"name_column": name_column, "label_column": label_column, "projection": "umap",
                "title": "Test atlas", "params": {"k": 5}}
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory) -> Path:
    return make_export(tmp_path_factory.mktemp("export"))


@pytest.fixture(scope="module")
def page_path(export_dir) -> Path:
    return write_html(export_dir)


def read_payload(page: Path) -> tuple[dict, bytes]:
    """Undo what write_html packed: the JSON header and the binary section after it."""
    text = page.read_text(encoding="utf-8")
    blob = re.search(r'<script type="application/octet-stream" id="atlas-data">([^<]*)</script>', text).group(1)
    raw = gzip.decompress(base64.b64decode(blob))
    (head_length,) = struct.unpack("<I", raw[:4])
    return json.loads(raw[4 : 4 + head_length]), raw[4 + head_length :]


def array(binary: bytes, ref: dict) -> np.ndarray:
    dtype = np.dtype({"f32": "<f4", "f64": "<f8", "u8": "u1", "u16": "<u2", "u32": "<u4"}[ref["type"]])
    raw = np.frombuffer(binary, dtype=np.uint8, count=ref["length"] * dtype.itemsize, offset=ref["offset"])
    if ref.get("shuffled"):  # byte planes back to whole numbers
        raw = raw.reshape(dtype.itemsize, ref["length"]).T.copy()
    return raw.view(dtype).ravel()


def texts(binary: bytes, ref: dict) -> list[str]:
    """A packed column of text: UTF-8 bytes one value after another, and each value's length."""
    data, lengths = array(binary, ref["bytes"]).tobytes(), array(binary, ref["lengths"]).astype(int)
    ends = np.cumsum(lengths)
    return [data[end - length:end].decode("utf-8") for end, length in zip(ends, lengths)]


def neighbour_lists(header: dict, binary: bytes) -> list[list[int]]:
    """Each item's neighbours (indexes, rank order), undoing the varint steps along the spatial order."""
    from atlas.web.encode import spatial_order

    packed = header["neighbors"]
    assert packed["coding"] == "spatial-steps"
    data, lengths = array(binary, packed["bytes"]), array(binary, packed["lengths"]).astype(int)
    order = spatial_order(array(binary, header["xy"]).reshape(-1, 2), header["bounds"])
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    lists, at = [], 0
    for i, length in enumerate(lengths):
        found, value, shift = [], 0, 0
        for byte in data[at:at + length]:
            value |= (int(byte) & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                step = value // 2 if value % 2 == 0 else -(value + 1) // 2  # zigzag back to a signed step
                found.append(int(order[rank[i] + step]))
                value, shift = 0, 0
        lists.append(found)
        at += length
    return lists


# ---------------------------------------------------------------- packing, without a browser


def test_write_html_writes_one_offline_file(export_dir, page_path):
    assert page_path == export_dir / HTML_NAME
    text = page_path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "<title>Test atlas</title>" in text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), "the page must not load anything from the network"
    assert not list(export_dir.glob(".*.tmp")), "no temporary file may be left behind"


def test_payload_holds_the_layout_in_popularity_order(export_dir, page_path):
    header, binary = read_payload(page_path)
    layout = pd.read_parquet(export_dir / "layout.parquet")
    expected = layout.sort_values(["n_users", "item_id"], ascending=[False, True]).reset_index(drop=True)
    assert header["count"] == len(layout)
    assert texts(binary, header["ids"]) == expected["item_id"].tolist()
    assert texts(binary, header["names"]) == expected["title"].tolist()
    xy = array(binary, header["xy"]).reshape(-1, 2)
    np.testing.assert_array_equal(xy, expected[["x", "y"]].to_numpy(dtype=np.float32))
    np.testing.assert_array_equal(array(binary, header["users"]), expected["n_users"])

    fields = {f["name"]: f for f in header["fields"]}
    assert set(fields) == {"genres", "year", "score"}
    genres = fields["genres"]
    assert genres["kind"] == "category"
    codes = array(binary, genres["codes"])
    decoded = [genres["table"][c - 1] if c else None for c in codes]
    assert decoded == [None if pd.isna(g) else g for g in expected["genres"]]
    year = array(binary, fields["year"]["values"])
    assert fields["year"]["integer"] is True
    np.testing.assert_array_equal(np.isnan(year), expected["year"].isna())
    np.testing.assert_array_equal(year[~np.isnan(year)], expected["year"].dropna())


def test_payload_neighbours_follow_rank(export_dir, page_path):
    header, binary = read_payload(page_path)
    ids = texts(binary, header["ids"])
    lists = neighbour_lists(header, binary)
    lonely = ids.index("m_lonely")
    assert [ids[j] for j in lists[lonely]] == LONELY_NEIGHBORS
    # every row of the export, in rank order
    rows = pd.read_parquet(export_dir / "neighbors.parquet").sort_values(["item_id", "rank"])
    expected = rows.groupby("item_id")["neighbor_id"].apply(list).to_dict()
    assert {ids[i]: [ids[j] for j in found] for i, found in enumerate(lists) if found} == expected
    assert sum(map(len, lists)) == len(rows)


def test_hostile_text_cannot_end_the_data_block(page_path):
    text = page_path.read_text(encoding="utf-8")
    assert HOSTILE_IMG not in text and HOSTILE_SCRIPT not in text
    assert len(re.findall(r"</script", text, re.IGNORECASE)) == 2  # the data block and the code
    header, binary = read_payload(page_path)
    assert HOSTILE_IMG in texts(binary, header["names"]) and HOSTILE_SCRIPT in texts(binary, header["names"])


def test_output_title_and_escaping(export_dir, tmp_path):
    (tmp_path / "site").mkdir()
    target = write_html(export_dir, output=tmp_path / "site" / "map.html", title="Maps & <b>more</b>")
    assert target == tmp_path / "site" / "map.html"
    text = target.read_text(encoding="utf-8")
    assert "<title>Maps &amp; &lt;b&gt;more&lt;/b&gt;</title>" in text
    assert read_payload(target)[0]["title"] == "Maps & <b>more</b>"


def test_csv_layout_and_id_names(tmp_path):
    directory = make_export(tmp_path / "export", n=60, name_column=None)
    (directory / "layout.parquet").unlink()
    header, binary = read_payload(write_html(directory))
    assert header["names"] is None and header["nameField"] == "item_id"
    ids = texts(binary, header["ids"])
    assert len(ids) == 63 and "m_lonely" == ids[0]
    assert {f["name"] for f in header["fields"]} == {"title", "genres", "year", "score"}
    assert next(f for f in header["fields"] if f["name"] == "title")["kind"] == "text"


@pytest.mark.parametrize("label_column, expected", [("year", "year"), ("genres", "genres"), ("title", None), (None, None)])
def test_the_label_column_colours_the_map_first(tmp_path, label_column, expected):
    header, _ = read_payload(write_html(make_export(tmp_path / "export", n=120, label_column=label_column)))
    assert header["colorField"] == expected


def test_unknown_neighbours_are_dropped(tmp_path, caplog):
    directory = make_export(tmp_path / "export", n=120)
    neighbors = pd.read_parquet(directory / "neighbors.parquet")
    ghost = pd.DataFrame({"item_id": ["m0001"], "neighbor_id": ["no_such_item"], "rank": [0], "weight": [1.0]})
    pd.concat([ghost, neighbors]).to_parquet(directory / "neighbors.parquet", index=False)
    header, binary = read_payload(write_html(directory))
    assert sum(map(len, neighbour_lists(header, binary))) == len(neighbors)
    assert "ignoring 1 neighbour rows" in caplog.text


def test_a_failed_write_keeps_the_old_page(export_dir, tmp_path, monkeypatch):
    target = tmp_path / "atlas.html"
    target.write_text("old page")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("atlas.web.html.os.replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_html(export_dir, output=target)
    assert target.read_text() == "old page"
    assert [p.name for p in tmp_path.iterdir()] == ["atlas.html"]


def _break(directory: Path, how: str) -> None:
    layout = pd.read_parquet(directory / "layout.parquet")
    if how == "no manifest":
        (directory / "manifest.json").unlink()
    elif how == "bad json":
        (directory / "manifest.json").write_text("{name_column: ")
    elif how == "json list":
        (directory / "manifest.json").write_text("[1, 2]")
    elif how == "bad name column":
        (directory / "manifest.json").write_text(json.dumps({"name_column": "label"}))
    elif how == "no layout":
        (directory / "layout.parquet").unlink()
    elif how == "damaged layout":
        (directory / "layout.parquet").write_bytes(b"PAR1 this is not parquet")
    elif how == "no y":
        layout.drop(columns="y").to_parquet(directory / "layout.parquet")
    elif how == "empty layout":
        layout.iloc[:0].to_parquet(directory / "layout.parquet")
    elif how == "nan x":
        layout.loc[3, "x"] = np.nan
        layout.to_parquet(directory / "layout.parquet")
    elif how == "duplicate id":
        layout.loc[4, "item_id"] = layout.loc[5, "item_id"]
        layout.to_parquet(directory / "layout.parquet")
    elif how == "negative users":
        layout.loc[2, "n_users"] = -3
        layout.to_parquet(directory / "layout.parquet")
    elif how == "no neighbours":
        (directory / "neighbors.parquet").unlink()
    elif how == "neighbours without rank":
        pd.read_parquet(directory / "neighbors.parquet").drop(columns="rank").to_parquet(directory / "neighbors.parquet")


@pytest.mark.parametrize(
    "how, message",
    [
        ("no manifest", r"manifest\.json is missing; run 'atlas build \.\.\. --out .*' first"),
        ("bad json", r"manifest\.json is not readable JSON"),
        ("json list", r"manifest\.json must hold a JSON object, not list"),
        ("bad name column", r"name_column 'label', which is not a column of layout\.parquet"),
        ("no layout", r"layout\.parquet is missing; run 'atlas build"),
        ("damaged layout", r"Could not read .*layout\.parquet"),
        ("no y", r"layout\.parquet lacks the column\(s\) 'y'"),
        ("empty layout", r"layout\.parquet has no items"),
        ("nan x", r"1 missing or non-numeric value\(s\) in column 'x' \(first at item 'm0003'\)"),
        ("duplicate id", r"lists item_id 'm0005' more than once"),
        ("negative users", r"negative n_users"),
        ("no neighbours", r"neighbors\.parquet is missing"),
        ("neighbours without rank", r"neighbors\.parquet lacks the column\(s\) 'rank'"),
    ],
)
def test_broken_exports_raise_one_line_errors(tmp_path, how, message):
    directory = make_export(tmp_path / "export", n=30)
    (directory / "layout.csv").unlink()
    _break(directory, how)
    with pytest.raises(AtlasError, match=message) as caught:
        write_html(directory)
    assert "\n" not in str(caught.value)
    assert not (directory / HTML_NAME).exists()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_labels": -1}, r"max_labels must be at least 0, got -1"),
        ({"max_labels": 2.5}, r"max_labels must be a whole number, got 2\.5"),
        ({"title": 3}, r"title must be text, got int"),
        ({"output": "{dir}"}, r"it is a folder; give a file name"),
        ({"output": "{dir}/missing/map.html"}, r"the folder .*missing does not exist"),
    ],
)
def test_bad_arguments_raise(export_dir, kwargs, message):
    kwargs = {k: v.format(dir=export_dir) if isinstance(v, str) else v for k, v in kwargs.items()}
    with pytest.raises(AtlasError, match=message):
        write_html(export_dir, **kwargs)


def test_missing_directory(tmp_path):
    with pytest.raises(AtlasError, match=r"No export directory at .*nowhere; run 'atlas build"):
        write_html(tmp_path / "nowhere")


# ---------------------------------------------------------------- the page, in headless Chromium

COUNT_LIT_PIXELS = """([x0, y0, x1, y1]) => {
  const gl = document.getElementById('atlas-gl'), ratio = gl.width / gl.clientWidth;
  const copy = document.createElement('canvas');
  copy.width = gl.width; copy.height = gl.height;
  const ctx = copy.getContext('2d');
  ctx.drawImage(gl, 0, 0);
  const w = Math.round((x1 - x0) * ratio), h = Math.round((y1 - y0) * ratio);
  const px = ctx.getImageData(Math.round(x0 * ratio), Math.round(y0 * ratio), w, h).data;
  let lit = 0;
  for (let i = 0; i < px.length; i += 4) {
    if (Math.abs(px[i] - %d) + Math.abs(px[i + 1] - %d) + Math.abs(px[i + 2] - %d) > 30) lit++;
  }
  return lit;
}""" % BACKGROUND

PIXEL_AT = """([x, y]) => {
  const gl = document.getElementById('atlas-gl'), ratio = gl.width / gl.clientWidth;
  const copy = document.createElement('canvas');
  copy.width = gl.width; copy.height = gl.height;
  const ctx = copy.getContext('2d');
  ctx.drawImage(gl, 0, 0);
  return Array.from(ctx.getImageData(Math.round(x * ratio), Math.round(y * ratio), 1, 1).data);
}"""


@pytest.fixture()
def atlas_page(page_path):
    """The test page, opened from file:// and ready; yields (page, log, dialogs)."""
    from browser import chromium_page

    with chromium_page() as (page, log):
        dialogs = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(page_path.as_uri())
        page.wait_for_function("window.atlasMap && window.atlasMap.ready", timeout=30000)
        yield page, log, dialogs
        assert log.errors() == []
        assert dialogs == []
        assert page.evaluate("window.__pwned") is None


def index_of(page, item_id: str) -> int:
    i = page.evaluate("id => atlasMap.indexOf(id)", item_id)
    assert i >= 0
    return i


def point_of(page, i: int) -> tuple[float, float]:
    p = page.evaluate("i => atlasMap.project(i)", i)
    return p["x"], p["y"]


def wait_until_centred(page, i: int) -> None:
    page.wait_for_function(
        """i => { const p = atlasMap.project(i), v = atlasMap.view;
                  return Math.abs(p.x - v.width / 2) < 1 && Math.abs(p.y - v.height / 2) < 1; }""",
        arg=i, timeout=10000,
    )


def overlaps(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and \
        a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


@pytest.mark.browser
def test_page_draws_points_and_non_overlapping_labels(atlas_page):
    page, log, _ = atlas_page
    assert page.title() == "Test atlas"
    assert page.locator("#atlas-title").text_content() == "Test atlas"
    width, height = page.evaluate("[atlasMap.view.width, atlasMap.view.height]")
    assert page.evaluate(COUNT_LIT_PIXELS, [0, 0, width, height]) > 2000
    # The counter does see an empty patch as empty: the corner beyond the lonely items.
    assert page.evaluate(COUNT_LIT_PIXELS, [width - 40, height - 40, width, height]) == 0
    labels = page.evaluate("atlasMap.state.labels")
    assert len(labels) >= 10
    assert labels[0]["index"] == 0 == index_of(page, "m_lonely")  # the most popular item is labelled first
    for k, a in enumerate(labels):
        for b in labels[k + 1 :]:
            assert not overlaps(a, b), (a, b)
    panel = page.locator("#atlas-controls").bounding_box()
    assert not any(overlaps(label, panel) for label in labels), "labels stay out from under the panel"


@pytest.mark.browser
def test_hover_shows_the_item(atlas_page):
    page, _, _ = atlas_page
    tooltip = page.locator("#atlas-tooltip")
    assert tooltip.is_hidden()
    x, y = point_of(page, index_of(page, "m_lonely"))
    page.mouse.move(x + 1, y + 1)
    tooltip.wait_for(state="visible")
    assert page.locator("#atlas-tooltip-name").text_content() == "Lonely Lighthouse"
    assert "users5,000" in page.locator("#atlas-tooltip-fields").text_content()
    page.mouse.move(x + 60, y + 60)  # empty space
    tooltip.wait_for(state="hidden")


@pytest.mark.browser
def test_wheel_zooms_around_the_cursor_and_drag_pans(atlas_page):
    page, _, _ = atlas_page
    i = index_of(page, "m0010")
    x, y = point_of(page, i)
    k0 = page.evaluate("atlasMap.view.k")
    labels_before = len(page.evaluate("atlasMap.state.labels"))
    ax, ay = round(x), round(y)  # the browser reports whole-pixel pointer positions
    page.mouse.move(ax, ay)
    for _ in range(4):
        page.mouse.wheel(0, -200)
    page.wait_for_function("k => atlasMap.view.k > 2 * k", arg=k0)
    page.wait_for_timeout(100)
    zoom = page.evaluate("atlasMap.view.k") / k0
    # The world point under the cursor stays put; everything else spreads away from it.
    x, y = ax + (x - ax) * zoom, ay + (y - ay) * zoom
    assert point_of(page, i) == pytest.approx((x, y), abs=0.01)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 100, y + 50, steps=5)
    page.mouse.up()
    assert point_of(page, i) == pytest.approx((x - 100, y + 50), abs=0.5)
    assert labels_before > 0


@pytest.mark.browser
def test_two_finger_pinch_zooms_around_the_fingers(atlas_page):
    page, _, _ = atlas_page
    i = index_of(page, "m0010")
    x, y = point_of(page, i)
    k0 = page.evaluate("atlasMap.view.k")
    page.evaluate("""([x, y]) => {
        const overlay = document.getElementById('atlas-overlay');
        const touch = (type, id, dx) => overlay.dispatchEvent(new PointerEvent(type, {
            pointerId: id, pointerType: 'touch', isPrimary: id === 1, clientX: x + dx, clientY: y, bubbles: true}));
        touch('pointerdown', 1, -70); touch('pointerdown', 2, 30);
        touch('pointermove', 2, 130);  // fingers 100 -> 200 px apart, midpoint x-20 -> x+30
        touch('pointerup', 1, -70); touch('pointerup', 2, 130);
    }""", [x, y])
    assert page.evaluate("atlasMap.view.k") == pytest.approx(2 * k0)
    # The map follows the midpoint and doubles around it: 20 px right of it becomes 40 px.
    assert point_of(page, i) == pytest.approx((x + 30 + 40, y), abs=0.01)
    assert page.evaluate("atlasMap.state.selected") == -1  # a pinch is not a click


@pytest.mark.browser
def test_search_box_finds_and_flies_to_an_item(atlas_page):
    page, _, _ = atlas_page
    i = index_of(page, "m0123")
    name = page.evaluate("i => atlasMap.item(i).name", i)
    assert page.evaluate("q => atlasMap.search(q)[0].index", name) == i
    page.locator("#atlas-search").fill(name.upper())  # case does not matter
    page.locator("#atlas-results li").first.wait_for()
    assert page.locator("#atlas-results li .atlas-result-name").first.text_content() == name
    page.keyboard.press("Enter")
    wait_until_centred(page, i)
    assert page.evaluate("atlasMap.state.selected") == i
    assert page.locator("#atlas-item-name").text_content() == name
    # A partial name lists several items, prefix matches first.
    found = page.evaluate("atlasMap.search('amber', 50)")
    assert found and all("amber" in f["name"].lower() for f in found)
    assert [f["name"].lower().startswith("amber") for f in found] == sorted(
        (f["name"].lower().startswith("amber") for f in found), reverse=True)


@pytest.mark.browser
def test_click_lists_neighbours_and_a_neighbour_flies(atlas_page):
    page, _, _ = atlas_page
    lonely = index_of(page, "m_lonely")
    page.mouse.click(*point_of(page, lonely))
    panel = page.locator("#atlas-details")
    panel.wait_for(state="visible")
    assert page.locator("#atlas-item-name").text_content() == "Lonely Lighthouse"
    expected = [page.evaluate("id => atlasMap.item(atlasMap.indexOf(id)).name", nid) for nid in LONELY_NEIGHBORS]
    assert page.locator("#atlas-neighbors .atlas-neighbor-name").all_text_contents() == expected
    assert page.evaluate("atlasMap.state.neighbors") == [index_of(page, nid) for nid in LONELY_NEIGHBORS]
    page.locator("#atlas-neighbors button").nth(1).click()
    target = index_of(page, LONELY_NEIGHBORS[1])
    wait_until_centred(page, target)
    assert page.locator("#atlas-item-name").text_content() == expected[1]
    page.locator("#atlas-close").click()
    panel.wait_for(state="hidden")
    assert page.evaluate("atlasMap.state.selected") == -1


@pytest.mark.browser
def test_pasted_profile_makes_its_items_glow(atlas_page):
    page, _, _ = atlas_page
    name = lambda item_id: page.evaluate("id => atlasMap.item(atlasMap.indexOf(id)).name", item_id)
    lonely = index_of(page, "m_lonely")
    before = page.evaluate(PIXEL_AT, list(point_of(page, lonely)))
    profile = "\n".join([
        "the LONELY lighthouse (1999)",              # a name, any case, with article and year
        "m0002",                                     # an id
        f"{name('m0005')}, {name('m0006')}",         # comma separated
        "  " + name("m0008") + "  ",                 # stray spaces
        "Nothing By This Name",
    ])
    page.locator("#atlas-profile-box summary").click()
    page.locator("#atlas-profile").fill(profile)
    page.locator("#atlas-profile-go").click()
    status = page.locator("#atlas-profile-status")
    assert status.text_content().startswith("5 of 6 matched (5 items glow).")
    assert "Nothing By This Name" in status.text_content()
    glowing = sorted(index_of(page, i) for i in ["m_lonely", "m0002", "m0005", "m0006", "m0008"])
    assert page.evaluate("atlasMap.state.profile.items") == glowing
    page.wait_for_timeout(100)
    after = page.evaluate(PIXEL_AT, list(point_of(page, lonely)))
    assert after[:3] != before[:3] and after[0] > 200 and after[1] > 150 and after[2] < 150  # gold glow
    page.locator("#atlas-profile-clear").click()
    assert page.evaluate("atlasMap.state.profile") is None


@pytest.mark.browser
def test_a_misspelled_pasted_name_offers_the_closest_and_a_click_uses_it(atlas_page):
    page, _, _ = atlas_page
    lonely = index_of(page, "m_lonely")
    profile = "\n".join([
        "m0002",
        "ámber AMBER 0",       # accents and case do not matter
        "Lonley Lighthuose",   # a typo: the closest name is offered
        "Kestrel",             # a word of many names: the most popular of them are offered
        "zzzz qqqq",           # nothing close
    ])
    page.locator("#atlas-profile-box summary").click()
    page.locator("#atlas-profile").fill(profile)
    page.locator("#atlas-profile-go").click()
    status = page.locator("#atlas-profile-status")
    assert status.text_content().startswith("2 of 5 matched (2 items glow).")
    rows = page.locator("#atlas-profile-status .atlas-missing li")
    assert rows.count() == 3
    assert rows.nth(0).text_content() == "Not found: “Lonley Lighthuose” — did you mean Lonely Lighthouse?"
    assert rows.nth(2).text_content() == "Not found: “zzzz qqqq”"
    report = page.evaluate("atlasMap.state.profile")
    assert report["unmatched"] == ["Lonley Lighthuose", "Kestrel", "zzzz qqqq"]
    kestrel = report["suggestions"][1]
    names = [page.evaluate("i => atlasMap.item(i).name", i) for i in kestrel]
    assert len(kestrel) == 3 and kestrel == sorted(kestrel)  # most popular first
    assert all("kestrel" in name.lower().split() for name in names)
    assert rows.nth(1).locator(".atlas-suggestion").all_text_contents() == names
    page.screenshot(path="/tmp/web_atlas_did_you_mean.png")

    rows.nth(0).locator(".atlas-suggestion").click()
    assert page.locator("#atlas-profile").input_value().splitlines() == [
        "m0002", "ámber AMBER 0", "Lonely Lighthouse", "Kestrel", "zzzz qqqq"]
    assert status.text_content().startswith("3 of 5 matched (3 items glow).")
    assert lonely in page.evaluate("atlasMap.state.profile.items")
    page.wait_for_timeout(100)
    glow = page.evaluate(PIXEL_AT, list(point_of(page, lonely)))
    assert glow[0] > 200 and glow[1] > 150 and glow[2] < 150  # gold

    page.locator("#atlas-profile").fill("m0002, Kestrel, m0005")  # an entry among commas
    page.locator("#atlas-profile-go").click()
    page.locator("#atlas-profile-status .atlas-suggestion").first.click()
    assert page.locator("#atlas-profile").input_value() == f"m0002, m0005\n{names[0]}"
    assert status.text_content().startswith("3 of 3 matched")


CLOSEST_QUERIES = ["Amelie", "amélie", "Matrx", "The Matrix Reloaded", "Storm Shadw 12", "xyzzy", "Garden Isl",
                   "wintr empire rising", "Lost Heart Moon 99", "night", "Blue River (1961)", "zz", "Secret Gaden Qeen"]


def many_names(n: int, seed: int = 0) -> list[str]:
    """Distinct names made of few words (so that many share words and letter triples), some
    with years."""
    rng = np.random.default_rng(seed)
    words = ["love", "night", "star", "war", "king", "dark", "city", "blue", "river", "ghost", "summer", "last",
             "dream", "fire", "house", "road", "man", "woman", "heart", "lost", "black", "white", "queen", "moon",
             "sun", "sea", "wild", "secret", "storm", "shadow", "Amélie", "café", "Matrix", "garden", "island",
             "winter", "empire", "return", "rising", "fall"]
    names, seen = [], set()
    for i in range(n):
        title = " ".join(words[w] for w in rng.integers(0, len(words), size=rng.integers(1, 5))).title()
        title = ("The " if rng.random() < 0.2 else "") + title
        title += f" {i}" if rng.random() < 0.5 else f" ({1950 + i % 70})"
        names.append(title if title not in seen else f"{title} {i}")
        seen.add(names[-1])
    names[5] = "Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)"
    names[7] = "Matrix, The (1999)"
    return names


@pytest.mark.browser
def test_closest_names_agree_with_the_apps_and_stay_quick_on_100k_names(atlas_page):
    """The page's closest names are the app's (atlas.widgets.lookup), on names that share many
    words and letter triples; on 100,000 names a typo still finds its name."""
    from atlas.widgets.lookup import NameIndex

    page, _, _ = atlas_page
    # the page keeps its scripts in a function's scope: load the names module again, on its own
    page.add_script_tag(content=resources.files("atlas.web").joinpath("names.js").read_text(encoding="utf-8"))
    names = many_names(4000)
    table = pd.DataFrame({"row": np.arange(len(names)), "item_id": [f"i{i}" for i in range(len(names))],
                          "name": names, "n_users": np.arange(len(names), 0, -1)})
    index = NameIndex(table)
    expected = {q: index.closest(q) for q in CLOSEST_QUERIES}
    found = page.evaluate("""([names, queries]) => {
        const closest = new ClosestNames(names);
        return Object.fromEntries(queries.map((q) => [q, closest.closest(q).map((i) => names[i])]));
    }""", [names, CLOSEST_QUERIES])
    assert found == expected

    big = many_names(100_000, seed=1)
    big[54321] = "Lonely Lighthouse of the Northern Seas"
    timing = page.evaluate("""(names) => {
        let t = performance.now();
        const closest = new ClosestNames(names), first = closest.closest("Lonley Lighthuose of the Nothern Seas");
        const built = performance.now() - t;
        t = performance.now();
        const again = closest.closest("Lonley Lighthuose of the Nothern Seas");
        return {first: first.map((i) => names[i]), again: again.map((i) => names[i]), built, query: performance.now() - t};
    }""", big)
    assert timing["first"][0] == timing["again"][0] == "Lonely Lighthouse of the Northern Seas"
    print(f"100k names: indexes and first typo {timing['built']:.0f} ms, then {timing['query']:.1f} ms a typo")


# Names on which each of looseName's rules bites, alone and together, and names with nothing
# left once they have.
LOOSE_CASES = ["The Matrix (1999)", "Matrix, The", "  A  Tale (of) [two] (cities) ", "An (", "(1999)", "the", "The the",
               "x (y) (z)", "Amélie, Le", "[bracket]", "a,the", "Émile (Ø) ,an", "foo (bar\nbaz)", "tab\tname , a",
               "日本 (2001)", "", ",", "!!!", "The\u2028line", "an an (x)", "ÆON  FLUX", "the (1999)", "Se7en [uncut]"]


@pytest.mark.browser
def test_loose_names_of_a_whole_list_at_once_are_each_names_loose_name(atlas_page):
    """The page matches pasted lists on a million names by running looseName's rules once over
    all the names joined by line breaks (names.js, looseTable): that must give every name's own
    looseName."""
    page, _, _ = atlas_page
    page.add_script_tag(content=resources.files("atlas.web").joinpath("names.js").read_text(encoding="utf-8"))
    names = LOOSE_CASES + many_names(3000)
    mismatches = page.evaluate("""(names) => {
        const keys = names.map(normaliseName), starts = new Uint32Array(keys.length + 1);
        keys.forEach((key, i) => { starts[i + 1] = starts[i] + key.length; });
        const loose = looseTable(new KeyTable(keys.join(""), starts));
        const wrong = names.flatMap((name, i) => loose.key(i) === looseName(name) ? [] : [[name, loose.key(i), looseName(name)]]);
        const key = looseName("Matrix, The (1999)"), found = loose.items(key);
        return {wrong, found, expected: names.flatMap((name, i) => looseName(name) === key ? [i] : [])};
    }""", names)
    assert mismatches["wrong"] == []
    assert mismatches["found"] == mismatches["expected"] and {0, 1} < set(mismatches["found"])


@pytest.mark.browser
def test_colour_by_fields_with_legend(atlas_page):
    page, _, _ = atlas_page
    assert page.locator("#atlas-color").input_value() == "genres"
    legend = page.locator("#atlas-legend .atlas-legend-label").all_text_contents()
    assert len(legend) == 14 and legend[12] == "other (13 more)" and legend[13] == "missing"  # as many colours as the app
    assert set(legend[:12]) < set(GENRES)
    lonely = index_of(page, "m_lonely")
    x, y = point_of(page, index_of(page, "m0001"))
    before = page.evaluate(PIXEL_AT, [x, y])
    page.locator("#atlas-color").select_option("year")
    assert page.evaluate("atlasMap.state.colorField") == "year"
    assert page.locator(".atlas-ramp").count() == 1
    low, _, high = page.locator("#atlas-legend .atlas-ramp-labels span").all_text_contents()
    assert re.fullmatch(r"19[67]\d", low) and re.fullmatch(r"20[12]\d", high)
    page.wait_for_timeout(100)
    assert page.evaluate(PIXEL_AT, [x, y]) != before
    assert [o for o in page.locator("#atlas-color option").all_text_contents()] == ["genres", "year", "score", "popularity"]
    assert lonely == 0


@pytest.mark.browser
def test_hostile_names_stay_text(atlas_page):
    page, _, dialogs = atlas_page
    for item_id, raw in (("m_img", HOSTILE_IMG), ("m_script", HOSTILE_SCRIPT)):
        i = index_of(page, item_id)
        x, y = point_of(page, i)
        page.mouse.move(x, y)
        page.locator("#atlas-tooltip").wait_for(state="visible")
        assert page.locator("#atlas-tooltip-name").text_content() == raw
        page.mouse.click(x, y)
        assert page.locator("#atlas-item-name").text_content() == raw
        assert page.locator("#atlas-neighbors .atlas-neighbor-name").all_text_contents() != []
        page.locator("#atlas-search").fill(raw[:12])
        page.locator("#atlas-results .atlas-result-name").filter(has_text=raw).first.wait_for()
        assert raw in page.locator("#atlas-results .atlas-result-name").all_text_contents()
        page.keyboard.press("Escape")
    report = page.evaluate("t => atlasMap.loadProfile(t)", HOSTILE_IMG + "\n" + HOSTILE_SCRIPT)
    assert report["matched"] == 2
    assert page.evaluate("document.querySelectorAll('img, #atlas-root script').length") == 0
    assert dialogs == [] and page.evaluate("window.__pwned") is None


@pytest.mark.browser
def test_screenshot_of_a_selected_item_with_profile(atlas_page):
    page, _, _ = atlas_page
    page.evaluate("atlasMap.loadProfile('m0002\\nm0005\\nm0006\\nm0009\\nm0012')")
    i = index_of(page, "m0004")
    page.evaluate("i => { atlasMap.select(i); return atlasMap.flyTo(i); }", i)
    x, y = point_of(page, index_of(page, "m0005"))
    page.mouse.move(x, y)
    page.wait_for_timeout(150)
    page.screenshot(path="/tmp/web_atlas.png")
    assert Path("/tmp/web_atlas.png").stat().st_size > 20000


@pytest.mark.browser
@pytest.mark.parametrize("n", [1, 2])
def test_tiny_maps_load(tmp_path, n):
    from browser import chromium_page

    directory = tmp_path / "tiny"
    directory.mkdir()
    pd.DataFrame({"item_id": [f"t{k}" for k in range(n)], "x": [0.0, 1.0][:n], "y": [0.0, 0.0][:n],
                  "n_users": [3] * n}).to_parquet(directory / "layout.parquet")
    pd.DataFrame({"item_id": pd.Series([], dtype=str), "neighbor_id": pd.Series([], dtype=str),
                  "rank": pd.Series([], dtype=int)}).to_parquet(directory / "neighbors.parquet")
    (directory / "manifest.json").write_text(json.dumps({"name_column": None, "projection": "tsne"}))
    with chromium_page() as (page, log):
        page.goto(write_html(directory).as_uri())
        page.wait_for_function("window.atlasMap && window.atlasMap.ready", timeout=30000)
        assert page.locator("#atlas-title").text_content() == f"Atlas of {n} items"
        assert page.locator("#atlas-subtitle").text_content() == f"{n} items · TSNE layout"
        page.mouse.click(*point_of(page, 0))
        assert page.locator("#atlas-item-name").text_content() == "t0"
        assert page.locator("#atlas-neighbors-title").text_content() == "No neighbours"
        assert page.evaluate("atlasMap.state.colorField") == "popularity"
        assert log.errors() == []


# ---------------------------------------------------------------- fields of sets of values

TAGS = ["Action", "Sci-Fi", "Drama", "Comedy", "Horror", "Romance", "War", "Western", "Crime", "Mystery",
        "Musical", "Film-Noir", "IMAX", "Children", "Fantasy"]


def with_tags(directory: Path) -> Path:
    """The test export plus 'tags', sets of values joined by '|' (15 values, 1 to 3 per item,
    one item without any)."""
    layout = pd.read_parquet(directory / "layout.parquet")
    rng = np.random.default_rng(5)
    tags = ["|".join(dict.fromkeys(rng.choice(TAGS, size=1 + k % 3, p=np.linspace(2, 1, len(TAGS)) / np.linspace(2, 1, len(TAGS)).sum())))
            for k in range(len(layout))]
    tags[0] = None
    lonely = layout.index[layout["item_id"] == "m_lonely"][0]
    tags[lonely], tags[lonely + 1] = "War|Drama", "Comedy"  # m_lonely, then m_img
    layout.assign(tags=tags).to_parquet(directory / "layout.parquet", index=False)
    return directory


def test_sets_are_packed_as_rows_of_codes(tmp_path):
    from atlas.columns import value_counts, value_sets

    page = write_html(with_tags(make_export(tmp_path / "tags")))
    header, binary = read_payload(page)
    tags = {f["name"]: f for f in header["fields"]}["tags"]
    assert tags["kind"] == "multi" and header["maxColours"] == 12
    layout = pd.read_parquet(tmp_path / "tags" / "layout.parquet")
    expected = layout.sort_values(["n_users", "item_id"], ascending=[False, True]).reset_index(drop=True)["tags"]
    assert tags["table"] == [v for v, _ in value_counts(expected)]  # most common first, as the app colours them
    offsets, codes = array(binary, tags["offsets"]), array(binary, tags["codes"])
    decoded = [[tags["table"][c - 1] for c in codes[offsets[i]:offsets[i + 1]]] for i in range(len(expected))]
    assert decoded == value_sets(expected)
    # each item's default colour: its most distinctive value among its own, as the app chooses it
    pick = array(binary, tags["pick"])
    assert all((p == 0) == (not any(c <= 12 for c in codes[offsets[i]:offsets[i + 1]])) for i, p in enumerate(pick))
    assert all(p == 0 or tags["table"][p - 1] in decoded[i] for i, p in enumerate(pick))


@pytest.mark.browser
def test_sets_colour_by_their_most_distinctive_value_or_by_one_value(tmp_path):
    from browser import chromium_page

    from atlas.columns import colour_values

    directory = with_tags(make_export(tmp_path / "tags"))
    layout = pd.read_parquet(directory / "layout.parquet")
    with chromium_page() as (page, log):
        page.goto(write_html(directory).as_uri())
        page.wait_for_function("window.atlasMap && window.atlasMap.ready", timeout=30000)
        page.locator("#atlas-color").select_option("tags")
        labels = page.locator("#atlas-legend .atlas-legend-label").all_text_contents()
        counts = [int(c.replace(",", "")) for c in page.locator("#atlas-legend .atlas-legend-count").all_text_contents()]
        # the legend the app gives: the 12 most common values, each counting every item holding it
        first, legend = colour_values(layout["tags"])
        assert labels[:12] == [v for v, _ in legend["values"]] and counts[:12] == [c for _, c in legend["values"]]
        assert labels[12:] == ["other (3 more values)", "no value"] and counts[12:] == [legend["other"], 1]
        assert page.locator("#atlas-legend .atlas-legend-title").text_content() == "by each item's most distinctive value"
        assert page.evaluate("atlasMap.item(atlasMap.indexOf('m0001')).fields.tags") == ", ".join(layout["tags"][1].split("|"))

        options = page.locator("#atlas-color-value option").all_text_contents()
        held = int((layout["tags"].fillna("").str.split("|").map(lambda s: "Drama" in s)).sum())
        assert options[0] == "each item's most distinctive value" and f"has Drama ({held})" in options
        page.locator("#atlas-color-value").select_option(label=f"has Drama ({held})")
        assert page.evaluate("atlasMap.state.colorValue") == "Drama"
        labels = page.locator("#atlas-legend .atlas-legend-label").all_text_contents()
        counts = [int(c.replace(",", "")) for c in page.locator("#atlas-legend .atlas-legend-count").all_text_contents()]
        assert labels == ["Drama", "not Drama"] and counts == [held, len(layout) - held]
        page.wait_for_timeout(100)
        # the lonely item holds Drama and wears the value's colour; the other lonely one, without it, the grey of the rest
        drama, plain = (page.evaluate(PIXEL_AT, list(point_of(page, index_of(page, item))))[:3] for item in ("m_lonely", "m_img"))
        assert np.abs(np.subtract(drama, (0x5F, 0xA8, 0xFF))).max() < 40, drama
        assert np.abs(np.subtract(plain, (0x6B, 0x73, 0x85))).max() < 40, plain
        page.evaluate("atlasMap.setColor('tags', 'War')")
        assert page.evaluate("atlasMap.state.colorValue") == "War"
        assert page.locator("#atlas-color-value option:checked").text_content().startswith("has War (")
        page.locator("#atlas-color").select_option("year")
        assert page.locator("#atlas-color-value").is_hidden()
        assert log.errors() == []


# ---------------------------------------------------------------- region names


@pytest.fixture(scope="module")
def regions_export(tmp_path_factory):
    """The test export with its regions found and named the way a build does."""
    from atlas.naming import item_values
    from atlas.regions import RegionParams, find_regions

    from scipy import sparse

    directory = make_export(tmp_path_factory.mktemp("regions"))
    layout = pd.read_parquet(directory / "layout.parquet")
    pairs = pd.read_parquet(directory / "neighbors.parquet")
    index = pd.Index(layout["item_id"].astype(str))
    s, t = index.get_indexer(pairs["item_id"].astype(str)), index.get_indexer(pairs["neighbor_id"].astype(str))
    keep = (s >= 0) & (t >= 0) & (s != t)
    graph = sparse.csr_matrix((np.ones(int(keep.sum())), (s[keep], t[keep])), shape=(len(index), len(index)))
    regions = find_regions(
        layout[["x", "y"]].to_numpy(), RegionParams(levels=2, min_region_size=12), values=item_values(layout[["genres"]]),
        names=layout["title"].to_numpy(), popularity=layout["n_users"].to_numpy(), graph=graph.maximum(graph.T),
    )  # fmt: skip
    regions.table.to_parquet(directory / "regions.parquet", index=False)
    return write_html(directory), regions.table


def test_payload_lists_the_regions_coarsest_first(regions_export):
    page, table = regions_export
    header, _ = read_payload(page)
    packed = header["regions"]
    assert len(packed) == len(table) and {r["name"] for r in packed} == set(table["name"])
    assert [r["level"] for r in packed] == sorted(r["level"] for r in packed)
    first = table.set_index("region_id").loc[packed[0]["id"]]
    assert (packed[0]["x"], packed[0]["y"], packed[0]["count"]) == (pytest.approx(first["x"]), pytest.approx(first["y"]), first["n_items"])
    assert {0, 1} == {r["level"] for r in packed}
    # an export written before regions existed packs none
    assert read_payload(write_html(make_export(page.parent.parent / "no-regions")))[0]["regions"] == []


def zoom_by(page, factor: float, x: float, y: float) -> None:
    """Zoom around page point (x, y) by ``factor`` with one wheel turn (the page zooms by exp(-0.0015 deltaY))."""
    k = page.evaluate("atlasMap.view.k")
    page.mouse.move(x, y)
    page.mouse.wheel(0, -float(np.log(factor)) / 0.0015)
    page.wait_for_function("k => atlasMap.view.k > k", arg=k)
    page.wait_for_timeout(150)


def no_overlaps(boxes: list[dict]) -> None:
    for k, a in enumerate(boxes):
        for b in boxes[k + 1 :]:
            assert not overlaps(a, b), (a, b)


@pytest.mark.browser
def test_region_names_give_way_to_finer_ones_then_to_item_labels(regions_export):
    from browser import chromium_page

    page_path, table = regions_export
    with chromium_page() as (page, log):
        page.goto(page_path.as_uri())
        page.wait_for_function("window.atlasMap && window.atlasMap.ready", timeout=30000)
        page.screenshot(path="/tmp/atlas_regions_coarse.png")
        coarse = page.evaluate("atlasMap.state.regions")
        # the whole map in view: the continents' names, none overlapping each other, an item label or the panel
        assert coarse and {r["level"] for r in coarse} == {0}
        continents = table[table["level"] == 0]
        # the biggest first; a name is left out only where another has taken its room
        assert coarse[0]["id"] == continents.sort_values("n_items", ascending=False)["region_id"].iloc[0]
        assert len(coarse) >= len(continents) - 1
        labels = page.evaluate("atlasMap.state.labels")
        panel = page.locator("#atlas-controls").bounding_box()
        no_overlaps(coarse + labels)
        assert not any(overlaps(r, panel) for r in coarse)
        for r in coarse:  # each name is centred on its region's place
            row = table.set_index("region_id").loc[r["id"]]
            p = page.evaluate("([x, y]) => { const v = atlasMap.view; return [(x - v.cx) * v.k + v.width / 2, v.height / 2 - (y - v.cy) * v.k]; }",
                              [float(row["x"]), float(row["y"])])  # fmt: skip
            assert r["x"] + r["width"] / 2 == pytest.approx(p[0], abs=0.5) and r["y"] + r["height"] / 2 == pytest.approx(p[1], abs=0.5)
        # zoomed in 4 times around the biggest fine region: the finer level's names
        fine = table[table["level"] == 1].sort_values("n_items", ascending=False).iloc[0]
        centre = page.evaluate("([x, y]) => { const v = atlasMap.view, b = document.getElementById('atlas-overlay').getBoundingClientRect();"
                               " return [(x - v.cx) * v.k + v.width / 2 + b.left, v.height / 2 - (y - v.cy) * v.k + b.top]; }",
                               [float(fine["x"]), float(fine["y"])])  # fmt: skip
        zoom_by(page, 4.0, *centre)
        finer = page.evaluate("atlasMap.state.regions")
        assert finer and {r["level"] for r in finer} == {1} and fine["region_id"] in {r["id"] for r in finer}
        no_overlaps(finer + page.evaluate("atlasMap.state.labels"))
        page.screenshot(path="/tmp/atlas_regions_fine.png")
        # 12 times: item labels only, and more of them
        zoom_by(page, 3.0, *centre)
        assert page.evaluate("atlasMap.state.regions") == []
        assert len(page.evaluate("atlasMap.state.labels")) >= 5
        # zoomed out again, names can be switched off and on
        zoom_by_out = page.evaluate("() => { atlasMap.showRegions(false); return atlasMap.view.k; }")
        assert zoom_by_out > 0
        page.mouse.wheel(0, float(np.log(12.0)) / 0.0015)
        page.wait_for_timeout(150)
        assert page.evaluate("atlasMap.state.regions") == []
        page.evaluate("atlasMap.showRegions(true)")
        page.wait_for_function("atlasMap.state.regions.length > 0")
        assert log.errors() == []


# ---------------------------------------------------------------- the first view and far outliers

def islands_export(directory: Path) -> Path:
    """600 items in one blob about 8 units across, and two islands of 4 items each, 40 times as
    far out as the blob is wide (as a few odd artists sit far off on a Last.fm map)."""
    rng = np.random.default_rng(3)
    bulk = rng.normal(0, 2.0, size=(600, 2))
    islands = np.array([[300.0, 240.0]] * 4 + [[-280.0, -260.0]] * 4) + rng.normal(0, 0.3, size=(8, 2))
    xy = np.vstack([bulk, islands])
    ids = [f"b{k:03d}" for k in range(600)] + [f"island{k}" for k in range(8)]
    directory.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"item_id": ids, "x": xy[:, 0], "y": xy[:, 1], "n_users": rng.integers(5, 50, size=len(ids))}
                 ).to_parquet(directory / "layout.parquet")
    pd.DataFrame({"item_id": ids[:-1], "neighbor_id": ids[1:], "rank": 0}).to_parquet(directory / "neighbors.parquet")
    (directory / "manifest.json").write_text(json.dumps({"name_column": None, "projection": "umap"}))
    return directory


SCREEN_BOX = """prefix => {
  const pts = [];
  for (let i = 0; i < atlasMap.count; i++) {
    if (atlasMap.item(i).id.startsWith(prefix)) pts.push(atlasMap.project(i));
  }
  const xs = pts.map(p => p.x), ys = pts.map(p => p.y);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}"""


def test_home_bounds_leave_out_far_islands_only():
    from atlas.web.pack import home_bounds

    rng = np.random.default_rng(0)
    x, y = rng.normal(0, 2, 600), rng.normal(0, 2, 600)
    x0, y0, x1, y1 = home_bounds(np.append(x, [300.0] * 4), np.append(y, [-280.0] * 4))
    assert -12 < x0 < -4 and 4 < x1 < 12 and -12 < y0 < -4 and 4 < y1 < 12
    # Without outliers the first view is simply every point.
    x, y = rng.uniform(-5, 5, 600), rng.uniform(0, 3, 600)
    assert home_bounds(x, y) == [x.min(), y.min(), x.max(), y.max()]


@pytest.mark.browser
def test_the_first_view_fits_the_bulk_and_zero_shows_the_islands(tmp_path):
    from browser import chromium_page

    page_file = write_html(islands_export(tmp_path / "islands"))
    with chromium_page() as (page, log):
        page.goto(page_file.as_uri())
        page.wait_for_function("window.atlasMap && window.atlasMap.ready", timeout=30000)
        view = page.evaluate("atlasMap.view")
        free_left = page.locator("#atlas-controls").bounding_box()
        free_left = free_left["x"] + free_left["width"]
        free_w, free_h = view["width"] - free_left, view["height"]
        bx0, by0, bx1, by1 = page.evaluate(SCREEN_BOX, "b")
        # The blob fills most of the free part of the screen in its tighter direction...
        assert max((bx1 - bx0) / free_w, (by1 - by0) / free_h) > 0.6
        assert bx0 >= free_left - 1 and bx1 <= view["width"] + 1 and by0 >= -1 and by1 <= view["height"] + 1
        # ...and the islands are off it, but one key away.
        ix0, iy0, ix1, iy1 = page.evaluate(SCREEN_BOX, "island")
        assert ix1 > view["width"] or ix0 < 0 or iy0 < 0 or iy1 > view["height"]
        page.focus("#atlas-overlay")
        page.keyboard.press("0")
        page.wait_for_timeout(100)
        ix0, iy0, ix1, iy1 = page.evaluate(SCREEN_BOX, "island")
        assert free_left - 1 <= ix0 and ix1 <= view["width"] + 1 and -1 <= iy0 and iy1 <= view["height"] + 1
        page.keyboard.press("0")  # and back to the bulk
        page.wait_for_timeout(100)
        assert page.evaluate(SCREEN_BOX, "b") == pytest.approx([bx0, by0, bx1, by1], abs=0.5)
        assert log.errors() == []


@pytest.mark.browser
def test_text_falls_back_to_fonts_that_cover_cjk_names(atlas_page):
    page, _, _ = atlas_page
    page.wait_for_function("atlasMap.state.labels.length > 0")  # item labels have been drawn
    for selector in ("#atlas-controls", "#atlas-tooltip", "#atlas-details", "#atlas-profile"):
        family = page.evaluate("s => getComputedStyle(document.querySelector(s)).fontFamily", selector)
        assert '"Noto Sans CJK SC"' in family and family.endswith("sans-serif"), (selector, family)
    canvas_font = page.evaluate("document.getElementById('atlas-overlay').getContext('2d').font")
    assert "Noto Sans CJK SC" in canvas_font and canvas_font.endswith("sans-serif"), canvas_font


# The colour of the overlay at page point (x, y): the largest alpha in a 7-pixel square, with its RGB.
OVERLAY_AT = """([x, y]) => {
  const canvas = document.getElementById('atlas-overlay'), ratio = canvas.width / canvas.clientWidth;
  const px = canvas.getContext('2d').getImageData(Math.round(x * ratio) - 3, Math.round(y * ratio) - 3, 7, 7).data;
  let best = [0, 0, 0, 0];
  for (let i = 0; i < px.length; i += 4) if (px[i + 3] > best[3]) best = [px[i], px[i + 1], px[i + 2], px[i + 3]];
  return best;
}"""


def path_drawn_between(page, a: int, b: int) -> bool:
    """Whether the path's gold line runs from item a to item b (read a third and two thirds of the way along)."""
    (ax, ay), (bx, by) = point_of(page, a), point_of(page, b)
    for t in (1 / 3, 2 / 3):
        r, g, bl, alpha = page.evaluate(OVERLAY_AT, [ax + t * (bx - ax), ay + t * (by - ay)])
        if not (alpha > 150 and r > 200 and 160 < g < 240 and bl < 180):
            return False
    return True


@pytest.mark.browser
def test_a_pasted_list_is_drawn_as_a_path_in_its_order(atlas_page):
    page, _, _ = atlas_page
    lonely, img, script = (index_of(page, i) for i in ("m_lonely", "m_img", "m_script"))
    page.locator("#atlas-profile-box summary").click()
    page.locator("#atlas-profile").fill("m_lonely\nm_img\nnothing by this name\nm_img\nm_script")
    page.locator("#atlas-profile-go").click()
    assert page.evaluate("atlasMap.state.profile.path") == [lonely, img, script]  # the list's order; a repeat drawn once
    assert page.evaluate("atlasMap.state.profile.items") == sorted([lonely, img, script])
    page.wait_for_timeout(100)
    assert page.evaluate("atlasMap.state.path") == [] and not path_drawn_between(page, lonely, img)  # off until asked

    page.locator("#atlas-profile-path").check()
    page.wait_for_timeout(100)
    assert page.evaluate("atlasMap.state.path") == [lonely, img, script]
    assert path_drawn_between(page, lonely, img) and path_drawn_between(page, img, script)
    assert not path_drawn_between(page, script, lonely)  # a path, not a loop
    marks = page.evaluate("atlasMap.state.pathMarks")
    assert [(m["index"], m["number"]) for m in marks] == [(lonely, 1), (img, 2), (script, 3)]
    status = page.locator("#atlas-profile-status").text_content()
    assert status.startswith("4 of 5 matched (3 items glow). Drawn as a path of 3 stops in the list's order")
    labels = page.evaluate("atlasMap.state.labels")
    assert not any(overlaps(m, label) for m in marks for label in labels)  # labels keep clear of the numbers
    page.screenshot(path="/tmp/web_atlas_path.png")

    page.locator("#atlas-profile").fill("m_script\nm_lonely\nm_img")  # another order, another path
    page.locator("#atlas-profile-go").click()
    page.wait_for_timeout(100)
    assert page.evaluate("atlasMap.state.path") == [script, lonely, img]
    assert path_drawn_between(page, script, lonely) and path_drawn_between(page, lonely, img)
    assert not path_drawn_between(page, img, script)

    page.locator("#atlas-profile-path").uncheck()
    page.wait_for_timeout(100)
    assert page.evaluate("atlasMap.state.path") == [] and page.evaluate("atlasMap.state.pathMarks") == []
    assert not path_drawn_between(page, script, lonely) and not path_drawn_between(page, lonely, img)
    assert page.evaluate("atlasMap.showPath(true).path") == [script, lonely, img]  # the hook does what the box does
    assert page.locator("#atlas-profile-path").is_checked()


@pytest.mark.browser
def test_a_long_path_numbers_its_ends_only_and_hostile_names_stay_text(atlas_page):
    page, _, dialogs = atlas_page
    ids = [f"m{k:04d}" for k in range(0, 300, 6)] + ["m_img", "m_script"]
    page.evaluate("atlasMap.showPath(true)")
    report = page.evaluate("t => atlasMap.loadProfile(t)", "\n".join(ids[:-2] + [HOSTILE_IMG, HOSTILE_SCRIPT]))
    assert len(report["path"]) == len(ids) and report["path"][-2:] == [index_of(page, "m_img"), index_of(page, "m_script")]
    page.wait_for_timeout(100)
    numbers = [m["number"] for m in page.evaluate("atlasMap.state.pathMarks")]
    assert set(numbers) <= {1, len(ids)} and len(ids) in numbers  # more stops than are numbered: the ends only
    assert page.evaluate("document.querySelectorAll('img, #atlas-root script').length") == 0
    assert dialogs == [] and page.evaluate("window.__pwned") is None
    page.screenshot(path="/tmp/web_atlas_long_path.png")


# ---------------------------------------------------------------- same input, same bytes; text beyond ASCII


def test_the_same_export_writes_the_same_bytes(export_dir, page_path, tmp_path):
    again = write_html(export_dir, output=tmp_path / "again.html")
    assert again.read_bytes() == page_path.read_bytes()
    # the neighbour rows in another order (ranks and all) pack the same lists
    shuffled = tmp_path / "shuffled"
    shuffled.mkdir()
    for name in ("layout.parquet", "manifest.json"):
        (shuffled / name).write_bytes((export_dir / name).read_bytes())
    pd.read_parquet(export_dir / "neighbors.parquet").sample(frac=1.0, random_state=9).to_parquet(shuffled / "neighbors.parquet")
    assert write_html(shuffled, output=tmp_path / "shuffled.html").read_bytes() == page_path.read_bytes()


# Names the page's search must normalise one by one (accents, doubled and edge spaces, capitals
# outside ASCII) and that take two UTF-16 units a character (emoji), ids beyond ASCII.
UNICODE_NAMES = {"u_amelie": "Amélie  Poulain", "u_emoji": "🎸 Guitar  Heroes 🎸", "u_edge": "  Édith Piaf ",
                 "u_kanji": "東京物語", "u_after": "Plain after emoji", "ü_id": "Ünïcode ÎD"}


@pytest.mark.browser
def test_names_beyond_ascii_are_shown_searched_and_found_by_id(tmp_path):
    from browser import chromium_page

    directory = make_export(tmp_path / "unicode", n=60)
    layout = pd.read_parquet(directory / "layout.parquet")
    extra = pd.DataFrame({"item_id": list(UNICODE_NAMES), "x": np.linspace(-5, 5, 6), "y": np.linspace(5, -5, 6),
                          "n_users": [900, 800, 700, 600, 500, 400], "title": list(UNICODE_NAMES.values())})
    pd.concat([layout, extra], ignore_index=True).to_parquet(directory / "layout.parquet", index=False)
    with chromium_page() as (page, log):
        page.goto(write_html(directory).as_uri())
        page.wait_for_function("window.atlasMap && window.atlasMap.ready", timeout=30000)
        for item_id, name in UNICODE_NAMES.items():
            i = index_of(page, item_id)
            assert page.evaluate("i => atlasMap.item(i)", i)["name"] == name
        # search works on the normalised names: no accents, single spaces, any case
        for query, item_id in (("amelie poulain", "u_amelie"), ("GUITAR HEROES", "u_emoji"), ("edith", "u_edge"),
                               ("物語", "u_kanji"), ("after emoji", "u_after"), ("UNICODE id", "ü_id"), ("ü_id", "ü_id")):
            found = page.evaluate("q => atlasMap.search(q)", query)
            assert found and found[0]["id"] == item_id, (query, found)
        report = page.evaluate("t => atlasMap.loadProfile(t)", "amélie poulain\nü_id\nEDITH PIAF")
        assert report["matched"] == 3
        assert log.errors() == []


# ---------------------------------------------------------------- a large map


def large_export(directory: Path, n: int, k: int = 8, seed: int = 7) -> Path:
    """n items in 60 clusters of uneven spread, Zipf-like popularity, names from two words and
    a number, each item's k nearest points on the map as its neighbours."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    cluster = rng.integers(0, 60, size=n)
    xy = rng.uniform(-50, 50, size=(60, 2))[cluster] + rng.normal(0, 1, size=(n, 2)) * rng.uniform(0.5, 4, size=60)[cluster, None]
    ids = [f"L{i}" for i in range(n)]
    pd.DataFrame({
        "item_id": ids, "x": xy[:, 0], "y": xy[:, 1],
        "n_users": np.maximum(1, rng.pareto(1.1, size=n) * 20).astype(np.int64),
        "title": [f"{WORDS[a].title()} {WORDS[b]} {i}" for i, (a, b) in enumerate(rng.integers(0, 20, size=(n, 2)))],
        "genre": [f"genre {c % 25}" for c in cluster],
    }).to_parquet(directory / "layout.parquet", index=False)
    _, nearest = cKDTree(xy).query(xy, k=k + 1)
    pd.DataFrame({"item_id": np.repeat(ids, k), "neighbor_id": np.asarray(ids)[nearest[:, 1:].ravel()],
                  "rank": np.tile(np.arange(k), n)}).to_parquet(directory / "neighbors.parquet", index=False)
    (directory / "manifest.json").write_text(json.dumps({"name_column": "title", "projection": "umap"}))
    return directory


@pytest.mark.browser
def test_a_map_of_150k_items_loads_draws_hovers_searches_and_labels_deep_zooms(tmp_path):
    """The page at a size where decoding, picking, search and labels must not touch every item
    for every action (the 1,000,000-item timing is bench/bench_web.py's)."""
    from browser import chromium_page

    n = 150_000
    directory = large_export(tmp_path / "large", n)
    page_file = write_html(directory)
    assert page_file.stat().st_size < 40 * n, "binary packing keeps the page small"
    layout = pd.read_parquet(directory / "layout.parquet").set_index("item_id")
    neighbors = pd.read_parquet(directory / "neighbors.parquet")
    with chromium_page() as (page, log):
        page.goto(page_file.as_uri())
        page.wait_for_function("window.atlasMap && window.atlasMap.ready", timeout=60000)
        assert page.evaluate("atlasMap.count") == n
        width, height = page.evaluate("[atlasMap.view.width, atlasMap.view.height]")
        assert page.evaluate(COUNT_LIT_PIXELS, [0, 0, width, height]) > 50000
        labels = page.evaluate("atlasMap.state.labels")
        assert len(labels) >= 20 and labels[0]["index"] == 0
        no_overlaps(labels)

        # hover: the most popular item, under the pointer
        top = page.evaluate("atlasMap.item(0)")
        page.mouse.move(*point_of(page, 0))
        page.locator("#atlas-tooltip").wait_for(state="visible")
        assert page.locator("#atlas-tooltip-name").text_content() == top["name"]
        assert page.evaluate("atlasMap.state.hover") == 0

        # search by name, through the box, for one of the least popular items; and by id
        i = n - 7
        item = page.evaluate("i => atlasMap.item(i)", i)
        assert item["name"] == layout.loc[item["id"], "title"]
        assert page.evaluate("q => atlasMap.search(q)[0].index", item["name"]) == i
        assert page.evaluate("q => atlasMap.search(q)[0].index", item["id"]) == i
        page.locator("#atlas-search").fill(item["name"].lower())
        page.locator("#atlas-results li").first.wait_for()
        assert page.locator("#atlas-results li .atlas-result-name").first.text_content() == item["name"]
        page.keyboard.press("Enter")
        wait_until_centred(page, i)

        # its neighbours, in rank order, from the lists coded by place on the map
        assert page.evaluate("atlasMap.state.selected") == i
        expected = neighbors[neighbors["item_id"] == item["id"]].sort_values("rank")["neighbor_id"].tolist()
        assert [page.evaluate("j => atlasMap.item(j).id", j) for j in page.evaluate("atlasMap.state.neighbors")] == expected

        # zoomed far in, labels still spread over the view: items far down the popularity order
        page.evaluate("atlasMap.select(-1)")
        page.evaluate("i => atlasMap.flyTo(i)", i)
        k = page.evaluate("atlasMap.view.k")
        page.mouse.move(width / 2 + 200, height / 2)
        for _ in range(3):
            page.mouse.wheel(0, -float(np.log(4.0)) / 0.0015)
        page.wait_for_function("k => atlasMap.view.k > 30 * k", arg=k)
        page.wait_for_timeout(200)
        deep = page.evaluate("atlasMap.state.labels")
        assert len(deep) >= 5 and max(label["index"] for label in deep) > 20000
        no_overlaps(deep)
        page.screenshot(path="/tmp/web_atlas_150k_deep.png")
        assert log.errors() == []
