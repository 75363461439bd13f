"""The notebook app on someone's own data, in headless Chromium: films with titles that hold
commas, genres that are sets of values ("Action|Sci-Fi") and ratings kept above a threshold."""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pytest

import atlas
from atlas import widgets
from browser import SYMBOL_MARKS_JS, VEGA_VIEW_JS, umap_min_dist_stops
from test_notebooks import APP, drawn_marks, layout_of, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]

GENRES = ["Action", "Adventure", "Sci-Fi", "Drama", "Comedy", "Romance", "Horror", "Thriller", "Animation", "Children", "Crime", "Mystery", "War", "Western"]
WORDS = ["Matrix", "Alien", "Star", "Night", "River", "Moon", "King", "Road", "Dream", "Ghost", "City", "Heart", "Storm", "Shadow", "Island"]
FILTERS = ["--min-item-users", "3", "--min-user-items", "2", "--min-weight", "3.5"]
#: The Altair maps of the projections compared by default (they arrive one by one).
EVERY_MAP = {"umap_map_marks", "tsne_map_marks", "pacmap_map_marks"}

# Counts WebGL draw calls and animation frames from before the app loads.
COUNT_FRAMES = """
(() => {
  window.__frames = {draws: 0, raf: 0};
  for (const C of [window.WebGLRenderingContext, window.WebGL2RenderingContext]) {
    if (!C) continue;
    for (const m of ['drawArrays', 'drawElements']) {
      const original = C.prototype[m];
      C.prototype[m] = function (...args) { window.__frames.draws++; return original.apply(this, args); };
    }
  }
  const raf = window.requestAnimationFrame.bind(window);
  window.requestAnimationFrame = (callback) => raf((t) => { window.__frames.raf++; callback(t); });
})();
"""

# Each drawn point of the named symbol marks: row, colour label, outline colour and width.
MARK_STYLES_JS = f"""
() => {{
  const marks = ({SYMBOL_MARKS_JS})();
  return Object.fromEntries(Object.entries(marks).map(([name, items]) =>
    [name, items.map(i => [i.datum.row, i.datum.colour_value || null, i.stroke || null, i.strokeWidth || 0])]));
}}
"""


def write_films(folder: Path) -> tuple[Path, Path]:
    """Ratings of 150 films by 400 users in five communities; each community shares genres."""
    data = atlas.synthetic_profiles(n_users=400, n_items=150, n_communities=5, mean_profile_length=15, seed=1)
    inter = data.interactions
    stars = np.random.default_rng(0).choice([1.0, 2.0, 3.0, 3.5, 4.0, 4.5, 5.0], len(inter))
    pd.DataFrame({"userId": inter.user_ids[inter.user], "movieId": inter.item_ids[inter.item], "rating": stars}).to_csv(folder / "ratings.csv", index=False)
    items = data.items.reset_index()
    community = items["community"].str[1:].astype(int).to_numpy()
    titles, genres = [], []
    for k, c in enumerate(community):
        word, year = WORDS[k % len(WORDS)], 1960 + (k * 7) % 60
        titles.append(f"{word}, The ({year})" if k % 3 == 0 else f"{word} {k} ({year})")
        own = [GENRES[(c * 3 + j) % len(GENRES)] for j in range(3)]
        genres.append("|".join(dict.fromkeys(own[: 1 + k % 3])))
    titles[1] = "Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)"
    pd.DataFrame({"movieId": items["item_id"], "title": titles, "genres": genres}).to_csv(folder / "movies.csv", index=False)
    return folder / "ratings.csv", folder / "movies.csv"


@pytest.fixture(scope="module")
def films(tmp_path_factory) -> tuple[Path, Path]:
    return write_films(tmp_path_factory.mktemp("films"))


def kept(films) -> tuple[atlas.Dataset, atlas.Profiles]:
    data = atlas.load_dataset(films[0], atlas.IngestParams(), items_path=films[1])
    return data, atlas.build_profiles(data, atlas.FilterParams(min_item_users=3, min_user_items=2, min_weight=3.5))


def pick_user(page, user: str | None) -> None:
    """Choose ``user`` (None: nobody) in the searchable "place a user" dropdown."""
    box = page.locator("marimo-dropdown[data-label*='place a user']")
    box.locator("button, [role=combobox]").first.click()
    if user is None:
        page.keyboard.press("Escape")
        return
    page.keyboard.type(user)
    page.get_by_role("option", name=user, exact=True).click()


def styles(page) -> dict[str, list]:
    return page.evaluate(MARK_STYLES_JS)


def frames(page) -> dict:
    return page.evaluate("window.__frames")


def show_emblaze(page):
    page.get_by_role("heading", name="Compare layouts (Emblaze)").scroll_into_view_if_needed()
    page.mouse.wheel(0, 400)
    canvas = page.locator("marimo-anywidget canvas")
    wait_for(page, lambda: any((canvas.nth(i).bounding_box() or {}).get("width", 0) > 300 for i in range(canvas.count())), timeout=120, what="Emblaze")
    page.locator("marimo-anywidget").first.scroll_into_view_if_needed()
    return canvas


@pytest.fixture(scope="module")
def film_app(films, tmp_path_factory):
    from browser import chromium_page, marimo_server

    cache = tmp_path_factory.mktemp("cache")
    args = ["--input", str(films[0]), "--items", str(films[1]), *FILTERS, "--cache-dir", str(cache)]
    with marimo_server(APP, args) as url, chromium_page(viewport=(1500, 1100)) as (page, log):
        page.add_init_script(COUNT_FRAMES)
        page.goto(url)
        wait_for(page, lambda: EVERY_MAP <= set(drawn_marks(page)), timeout=400, what="every map")
        wait_for(page, lambda: page.get_by_text("Quality at a glance").count() > 0, timeout=300, what="the metrics")
        page.wait_for_timeout(1500)
        yield page, log, url


def test_genres_colour_by_first_value_or_one_value_with_counts(film_app, films, tmp_path):
    page, log, _ = film_app
    _, profiles = kept(films)
    marks = styles(page)["umap_map_marks"]
    labels = {label for _, label, _, _ in marks}
    assert all(re.fullmatch(r".+ \(\d+\)", label) for label in labels), labels  # every colour says how many items wear it
    genres = pd.read_csv(films[1]).set_index("movieId")["genres"]
    genres.index = genres.index.astype(str)
    for label in labels:  # ...and the count is right: every kept item holding the value, whatever colour it took
        value = label.rsplit(" (", 1)[0]
        if value != "other":
            assert int(label.rsplit("(", 1)[1][:-1]) == sum(value in genres[item].split("|") for item in profiles.item_ids), label
    assert page.get_by_text("holds sets of values: each item takes the colour of its most distinctive value").count() == 1
    assert page.get_by_text("Items holding each value:").count() == 1

    holding = sum("Sci-Fi" in genres[item].split("|") for item in profiles.item_ids)
    page.locator("marimo-dropdown[data-label*='colour items by'] select").select_option(label="has “Sci-Fi”")
    wanted = {f"Sci-Fi ({holding})", f"not Sci-Fi ({len(profiles.item_ids) - holding})"}
    wait_for(page, lambda: {label for _, label, _, _ in styles(page)["umap_map_marks"]} == wanted, timeout=60, what="the has-Sci-Fi colours")
    page.get_by_role("heading", name=re.compile("^Maps")).evaluate("e => e.scrollIntoView({block: 'start'})")
    page.mouse.wheel(0, 350)  # past the sliders, to the maps and their legend
    page.wait_for_timeout(500)
    page.screenshot(path=str(tmp_path / "has_scifi.png"))
    assert "colour=genres" in page.url and "has=Sci-Fi" in page.url
    page.locator("marimo-dropdown[data-label*='colour items by'] select").select_option(label="each item's most distinctive value")
    wait_for(page, lambda: "has=" not in page.url, timeout=30, what="the address to forget the value")
    assert log.errors_but_replaced_charts() == []


def test_search_lists_the_choices_and_outlines_the_item_apart_from_its_neighbours(film_app):
    page, _, _ = film_app
    box = page.locator("marimo-text[data-label*='find an item'] input")
    box.fill("matrix")
    box.press("Enter")
    choices = page.locator("marimo-dropdown[data-label*='items match'] select")
    wait_for(page, lambda: choices.count() == 1, timeout=30, what="the choices")
    options = choices.locator("option").all_text_contents()
    assert len([o for o in options if "Matrix" in o]) >= 2
    wait_for(page, lambda: any(stroke for _, _, stroke, _ in styles(page)["umap_map_marks"]), timeout=30, what="the outlines")
    outlined = [(row, stroke, width) for row, _, stroke, width in styles(page)["umap_map_marks"] if stroke]
    searched = [o for o in outlined if o[2] == max(w for _, _, w in outlined)]
    assert len(searched) == 1  # one item stands out...
    neighbours = [o for o in outlined if o not in searched]
    assert neighbours and all(o[1] != searched[0][1] and o[2] < searched[0][2] for o in neighbours)  # ...from its neighbours
    choices.select_option(index=2)  # another of the matches
    wait_for(page, lambda: [r for r, _, s, w in styles(page)["umap_map_marks"] if s and w >= 4] != [searched[0][0]], timeout=30, what="the other match")
    box.fill("")
    box.press("Enter")
    wait_for(page, lambda: not any(s for _, _, s, _ in styles(page)["umap_map_marks"]), timeout=30, what="the outlines to clear")


# Each drawn point of the named symbol marks: row, fill, and the faithfulness of every map.
FAITHFUL_FILLS_JS = f"""
() => {{
  const marks = ({SYMBOL_MARKS_JS})();
  return Object.fromEntries(Object.entries(marks).map(([name, items]) =>
    [name, items.map(i => [i.datum.row, i.fill || null, i.datum.umap_faithfulness, i.datum.tsne_faithfulness])]));
}}
"""


def rgb(fill: str) -> tuple[int, int, int]:
    """A Vega fill ("#fde725" or "rgb(253, 231, 37)") as red, green, blue."""
    if fill.startswith("#"):
        return tuple(int(fill[k : k + 2], 16) for k in (1, 3, 5))
    return tuple(int(float(v)) for v in re.findall(r"[\d.]+", fill)[:3])


def test_faithfulness_colours_each_map_and_a_search_lists_why_each_neighbour_is_one(film_app, tmp_path):
    page, log, _ = film_app
    colour = page.locator("marimo-dropdown[data-label*='colour by'] select")
    fills_of = lambda marks, name: {p[1] for p in marks.get(name, [])}  # noqa: E731
    before = page.evaluate(FAITHFUL_FILLS_JS)
    colour.select_option(label="faithfulness (neighbours kept near)")

    def coloured():  # both maps drawn again, in other colours than before
        marks = page.evaluate(FAITHFUL_FILLS_JS)
        points = marks.get("umap_map_marks", [])
        redrawn = all(fills_of(marks, name) and fills_of(marks, name) != fills_of(before, name) for name in ("umap_map_marks", "tsne_map_marks"))
        return marks if redrawn and all(p[1] and p[1].startswith(("#", "rgb")) and p[2] is not None for p in points) and "colour=faithfulness" in page.url else None

    marks = wait_for(page, coloured, timeout=60, what="the faithfulness colour")
    for name, own in (("umap_map_marks", 2), ("tsne_map_marks", 3)):  # each map by its own column, on one viridis ramp
        points = marks[name]
        low, high = min(points, key=lambda p: p[own]), max(points, key=lambda p: p[own])
        assert 0 <= low[own] < high[own] <= 1
        assert sum(rgb(high[1])) > sum(rgb(low[1])) + 150, (low, high)  # yellow-green over dark purple
    assert any(p[2] != p[3] for p in marks["umap_map_marks"])  # the two maps keep different neighbourhoods
    torn = page.get_by_text(re.compile(r"Torn neighbourhoods — UMAP: \d+% of items keep fewer than 2 of their 10 neighbours; t-SNE: \d+%"))
    assert torn.count() == 1

    box = page.locator("marimo-text[data-label*='find an item'] input")
    box.fill("matrix")
    box.press("Enter")
    choices = page.locator("marimo-dropdown[data-label*='items match'] select")
    wait_for(page, lambda: choices.count() == 1, timeout=30, what="the choices")
    reasons = page.get_by_text(re.compile(r"— shared by [\d,]+ of [\d,]+ · \d+\.\d× chance$"))
    wait_for(page, lambda: reasons.count() > 0, timeout=30, what="the reasons")
    lines = reasons.all_text_contents()
    assert 1 <= len(lines) <= 10
    listed = page.get_by_text(re.compile(r"and its \d+ graph neighbours \(in black\), strongest first"))
    assert listed.count() == 1
    searched = listed.first.locator("strong").text_content()
    users = int(re.search(r"([\d,]+) users", next(o for o in choices.locator("option").all_text_contents() if o.startswith(searched + " ·"))).group(1).replace(",", ""))
    assert all(f" of {users:,} · " in line for line in lines)  # shared by so many of the searched item's own users
    page.get_by_role("heading", name=re.compile("^Maps")).evaluate("e => e.scrollIntoView({block: 'start'})")
    page.mouse.wheel(0, 350)
    page.wait_for_timeout(500)
    page.screenshot(path=str(tmp_path / "faithfulness_and_reasons.png"), full_page=False)
    listed.first.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    page.screenshot(path=str(tmp_path / "reasons.png"), full_page=False)
    assert log.errors_but_replaced_charts() == []
    box.fill("")
    box.press("Enter")
    colour.select_option(label="genres")
    wait_for(page, lambda: "colour=faithfulness" not in page.url and listed.count() == 0, timeout=60, what="the colour and search as before")
    print("screenshots:", tmp_path)


def test_a_pasted_list_matches_titles_with_commas_and_names_what_failed(film_app):
    page, _, _ = film_app
    area = page.locator("marimo-text-area textarea")
    area.fill("matrix, the (1960)\nAMELIE\nNo Such Film (1999)")
    area.blur()
    wait_for(page, lambda: page.get_by_text("Pasted list: 1 of 3 entries found").count() > 0, timeout=60, what="the list report")
    assert page.get_by_text("did you mean “Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)”").count() == 1
    assert page.get_by_text("not found: “No Such Film (1999)”").count() == 1
    outlined = {s for _, _, s, _ in styles(page)["umap_map_marks"] if s}
    area.fill("")
    area.blur()
    wait_for(page, lambda: page.get_by_text("Pasted list:").count() == 0, timeout=30, what="the list to clear")
    assert len(outlined) == 1  # the pasted items in one colour of their own


def test_a_placed_user_counts_only_kept_ratings_and_can_show_their_top_n(film_app, films):
    page, _, _ = film_app
    data, profiles = kept(films)
    user = str(profiles.user_ids[int(np.argmax(np.diff(profiles.matrix.indptr)))])  # the heaviest kept user
    found = widgets.user_items(profiles, data.interactions, user)
    assert found.kept < found.before  # some of their ratings are below 3.5
    pick_user(page, user)
    wait_for(page, lambda: page.get_by_text(f"{found.kept} of their {found.before} interactions are kept by the filters").count() > 0, timeout=120, what="the user")
    user_stroke = lambda: [r for r, _, s, _ in styles(page)["umap_map_marks"] if s]  # noqa: E731
    wait_for(page, lambda: len(user_stroke()) == found.kept, timeout=30, what="the user's items")
    top = page.locator("marimo-number[data-label*='top N'] input")
    top.fill("2")
    top.press("Enter")
    wait_for(page, lambda: sorted(user_stroke()) == sorted(found.rows[:2].tolist()), timeout=30, what="their top 2")
    assert page.get_by_text("their top 2 by weight are shown").count() == 1
    top.fill("0")
    top.press("Enter")


def test_emblaze_draws_only_while_something_changes(film_app, tmp_path):
    page, log, _ = film_app
    canvas = show_emblaze(page)
    page.mouse.move(5, 5)
    page.wait_for_timeout(6000)  # longer than any Emblaze animation
    before = frames(page)
    page.wait_for_timeout(3000)
    idle = frames(page)
    assert idle["draws"] == before["draws"], (before, idle)  # no WebGL drawing while idle...
    assert idle["raf"] - before["raf"] <= 3, (before, idle)  # ...and no animation frames either
    big = next(canvas.nth(i) for i in range(canvas.count()) if (canvas.nth(i).bounding_box() or {}).get("width", 0) > 300)
    box = big.bounding_box()
    for k in range(5):  # hovering over the map wakes it
        page.mouse.move(box["x"] + box["width"] * (0.3 + 0.1 * k), box["y"] + box["height"] * 0.5)
        page.wait_for_timeout(100)
    assert frames(page)["draws"] > idle["draws"]
    page.screenshot(path=str(tmp_path / "emblaze.png"))
    page.evaluate("window.scrollTo(0, 0)")  # out of view: it stops without waiting for the end of the wake
    page.wait_for_timeout(1000)
    hidden = frames(page)
    page.wait_for_timeout(2000)
    assert frames(page)["draws"] == hidden["draws"]
    assert page.evaluate("Array.from(globalThis.__atlasEmblazeIdle.entries).every(e => !e.app.ticker.started)")
    assert log.errors_but_replaced_charts() == []


def test_settings_survive_a_reload_and_show_as_a_command(film_app):
    page, log, url = film_app
    before = layout_of(drawn_marks(page)["umap_map_marks"])
    thumb = page.get_by_role("complementary").locator("marimo-slider[data-label*='min_dist'] [role='slider']")
    _, moved = umap_min_dist_stops()
    thumb.focus()
    thumb.press("ArrowRight")  # the default -> the next stop
    wait_for(page, lambda: parse_qs(urlsplit(page.url).query).get("min_dist") == [moved], timeout=400, what="the address")
    command = lambda: page.locator("code").filter(has_text="atlas build").all_text_contents()  # noqa: E731
    wait_for(page, lambda: any(f"--min-dist {moved}" in c for c in command()), timeout=60, what="the command")
    line = next(c for c in command() if f"--min-dist {moved}" in c)
    for words in ("--min-weight 3.5", "--min-item-users 3", "--out atlas-out", "movies.csv"):
        assert words in line, (words, line)
    # the new UMAP map drawn, and every file of it fetched, before the page is left
    wait_for(page, lambda: layout_of(drawn_marks(page).get("umap_map_marks", [])) != before, timeout=300, what="the new UMAP map")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1000)
    address = page.url
    page.goto(address)  # a reload, or the link shared
    wait_for(page, lambda: EVERY_MAP <= set(drawn_marks(page)), timeout=300, what="the maps again")
    assert page.get_by_role("complementary").locator("marimo-slider[data-label*='min_dist']").get_by_text(moved, exact=True).count() == 1
    wait_for(page, lambda: any(f"--min-dist {moved}" in c for c in command()), timeout=60, what="the command again")
    assert log.errors_but_replaced_charts() == []


def test_maps_can_stay_in_place_when_only_another_method_changes(film_app):
    """By default t-SNE is turned to match UMAP, and the app says so; turned to match its own
    previous map, it stays where it was while UMAP's min_dist moves."""
    page, log, _ = film_app
    assert page.get_by_text("so they turn when only UMAP changes").count() == 1
    page.locator("marimo-dropdown[data-label*='turn each map to match'] select").select_option(label="its own previous map")
    wait_for(page, lambda: page.get_by_text("Each map is turned to match its own previous map").count() == 1, timeout=60, what="the note")
    umap, tsne = (layout_of(drawn_marks(page)[name]) for name in ("umap_map_marks", "tsne_map_marks"))
    thumb = page.get_by_role("complementary").locator("marimo-slider[data-label*='min_dist'] [role='slider']")
    thumb.focus()
    thumb.press("ArrowRight")
    wait_for(page, lambda: layout_of(drawn_marks(page).get("umap_map_marks", [])) not in ({}, umap), timeout=300, what="the new UMAP map")
    page.wait_for_timeout(1500)
    now = layout_of(drawn_marks(page)["tsne_map_marks"])
    assert now.keys() == tsne.keys() and max(np.hypot(*np.subtract(now[r], tsne[r])) for r in tsne) < 0.5  # t-SNE stayed put
    page.locator("marimo-dropdown[data-label*='turn each map to match'] select").select_option(label="the first map")
    wait_for(page, lambda: page.get_by_text("so they turn when only UMAP changes").count() == 1, timeout=60, what="the default again")

    def turned():  # turned to match the new UMAP, the same t-SNE layout is drawn elsewhere
        again = layout_of(drawn_marks(page).get("tsne_map_marks", []))
        return again.keys() == tsne.keys() and max(np.hypot(*np.subtract(again[r], tsne[r])) for r in tsne) > 2

    wait_for(page, turned, timeout=60, what="t-SNE turned to match UMAP")
    assert log.errors_but_replaced_charts() == []


def test_a_data_reload_gives_a_working_emblaze(film_app):
    """Load the same data again: the comparison is a new viewer, never one whose browser side is gone."""
    page, log, _ = film_app
    show_emblaze(page)
    page.get_by_role("button", name="Load data").click()
    page.wait_for_timeout(3000)
    wait_for(page, lambda: page.get_by_text("Quality at a glance").count() > 0, timeout=300, what="the app after the reload")
    show_emblaze(page)
    page.wait_for_timeout(3000)
    assert page.get_by_text("Model not found").count() == 0
    assert page.locator("marimo-anywidget .text-error").count() == 0
    assert log.errors_but_replaced_charts() == []


def test_no_layout_says_why_in_the_apps_words(film_app, films):
    """A second app, in a new tab of the module's browser (one Playwright per process)."""
    from browser import PageLog, marimo_server

    args = ["--input", str(films[0]), "--items", str(films[1]), "--weight-col", "stars"]
    with marimo_server(APP, args) as url:
        page = film_app[0].context.new_page()
        log = PageLog(page)
        page.goto(url)
        wait_for(page, lambda: page.get_by_text("there is no layout to export yet").count() > 0, timeout=200, what="the export note")
        note = page.get_by_text("there is no layout to export yet").first.text_content()  # inside the callout's shadow root
        assert "data failed" in note and "the “weight” box (Data → Columns)" in note and "--weight-col" not in note
        assert page.get_by_text("--weight-col").count() == 0
        assert log.errors_but_replaced_charts() == []
        page.close()


def test_the_webgl_maps_colour_by_a_value_of_the_sets_and_outline_the_search_apart(film_app, films, tmp_path):
    """Above --max-chart-points the WebGL views follow the same colour rule and highlight styles
    as the Altair ones: counted legend entries for "has Sci-Fi", the searched item in red over its
    neighbours. (A second app, in a new tab of the module's browser.)"""
    from browser import PageLog, marimo_server

    _, profiles = kept(films)
    genres = pd.read_csv(films[1]).set_index("movieId")["genres"]
    genres.index = genres.index.astype(str)
    holding = sum("Sci-Fi" in genres[item].split("|") for item in profiles.item_ids)
    args = ["--input", str(films[0]), "--items", str(films[1]), *FILTERS, "--max-chart-points", "50"]
    with marimo_server(APP, args) as url:
        page = film_app[0].context.new_page()
        log = PageLog(page)
        page.goto(f"{url}/?colour=genres&has=Sci-Fi")
        canvases = page.locator(".atlas-maps-surface canvas[data-drawn]")
        wait_for(page, lambda: canvases.count() == 3, timeout=300, what="the three WebGL views")
        entries = lambda: page.locator(".atlas-maps-legend .atlas-maps-entry").all_text_contents()  # noqa: E731
        wait_for(page, lambda: entries()[:2] == [f"Sci-Fi ({holding})", f"not Sci-Fi ({len(profiles.item_ids) - holding})"], timeout=60, what="the counted legend")
        swatches = page.locator(".atlas-maps-legend .atlas-maps-swatch").evaluate_all("els => els.map(e => getComputedStyle(e).backgroundColor)")
        assert swatches[:2] == ["rgb(76, 120, 168)", "rgb(201, 201, 201)"]  # the Altair views' colours for the value and the rest
        assert page.get_by_text("genres holds sets of values: items with “Sci-Fi” against the rest.").count() == 1
        box = page.locator("marimo-text[data-label*='find an item'] input")
        box.fill("matrix")
        box.press("Enter")
        wait_for(page, lambda: "searched item" in entries(), timeout=60, what="the outline legend")
        assert entries()[-2:] == ["its graph neighbours", "searched item"]
        rings = page.locator(".atlas-maps-legend .atlas-maps-ring").evaluate_all("els => els.map(e => getComputedStyle(e).borderTopColor)")
        assert rings == ["rgb(34, 34, 34)", "rgb(215, 25, 28)"]
        page.locator(".atlas-maps").first.scroll_into_view_if_needed()
        page.screenshot(path=str(tmp_path / "webgl_has_scifi.png"))
        assert log.errors_but_replaced_charts() == []
        page.close()


# Where each map of the Altair chart lies on the page: {mark name: [left, top, width, height]}, from
# the Vega view's scenegraph (each view of a concatenated chart is a group of the given size).
MAP_BOXES_JS = """
() => {
  const viewOf = """ + VEGA_VIEW_JS.strip() + """;
  const boxes = {};
  document.querySelectorAll('marimo-vega').forEach(host => {
    if (!host.shadowRoot) return;
    host.shadowRoot.querySelectorAll('.vega-embed').forEach(el => {
      const view = viewOf(el);
      if (!view) return;
      const surface = (el.querySelector('canvas, svg') || el).getBoundingClientRect();
      const [ox, oy] = view.origin();
      const visit = (mark, x, y, group) => {
        if (mark.marktype === 'symbol' && mark.role === 'mark' && /_map(_\\d+)?_marks$/.test(mark.name || '') && group)
          boxes[mark.name.replace(/_map_\\d+_marks$/, '_map_marks')] = [x, y, group.width, group.height];
        if (mark.marktype !== 'group') return;
        for (const item of mark.items || []) for (const child of item.items || []) visit(child, x + (item.x || 0), y + (item.y || 0), item);
      };
      const before = Object.keys(boxes).length;
      visit(view.scenegraph().root, surface.left + ox, surface.top + oy, null);
      let box = host;  // the first box around the chart with a width: the page's column
      while (box && box.getBoundingClientRect().width === 0) box = box.parentElement;
      if (Object.keys(boxes).length > before && box) boxes.__column = [box.getBoundingClientRect().left, box.getBoundingClientRect().right];
    });
  });
  return boxes;
}
"""


def drawn_maps(page) -> set[str]:
    """The maps drawn, by the names of their points (a map with region names is a layer, whose
    points Altair names ``<key>_map_<position>_marks``)."""
    return {re.sub(r"_map_\d+_marks$", "_map_marks", name) for name in drawn_marks(page)}


def map_styles(page, name: str = "umap_map_marks") -> list:
    """The point styles of one map, named as ``drawn_maps`` names it."""
    return next((items for found, items in styles(page).items() if re.sub(r"_map_\d+_marks$", "_map_marks", found) == name), [])


def map_boxes(page) -> dict[str, list[float]]:
    return page.evaluate(MAP_BOXES_JS)


def boxes_of(page, selectors: list[str]) -> list[tuple[float, float]]:
    """(x, y) of the first visible box of each selector, rounded to a pixel."""
    out = []
    for selector in selectors:
        box = page.locator(selector).first.bounding_box()
        assert box is not None, selector
        out.append((round(box["x"]), round(box["y"])))
    return out


def test_the_maps_lead_the_page_at_450_px_or_more_and_the_controls_stay_put(film_app, tmp_path):
    """At 1,500 px the three maps are each at least 450 px wide, two side by side and the third
    under them, none cut off; the view's controls above them do not move when a search lists
    its matches."""
    page, log, _ = film_app
    page.evaluate("window.scrollTo(0, 0)")
    page.get_by_role("heading", name=re.compile("^Maps")).evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(800)
    boxes = map_boxes(page)
    column = boxes.pop("__column")
    assert set(boxes) == EVERY_MAP, boxes
    width = page.viewport_size["width"]
    for name, (left, top, w, h) in boxes.items():
        assert w >= 450 and h >= 400, (name, w, h)
        assert 0 <= left and left + w <= width, (name, left, w)  # whole, inside the window...
        assert column[0] <= left and left + w <= column[1], (name, left, w, column)  # ...and inside the page's column
    rows = sorted({round(top) for _, top, _, _ in boxes.values()})
    assert len(rows) == 2 and sum(round(b[1]) == rows[0] for b in boxes.values()) == 2  # two side by side, the third below
    sidebar = page.get_by_role("complementary").bounding_box()
    assert min(left for left, *_ in boxes.values()) >= sidebar["x"] + sidebar["width"] - 1  # beside the sidebar, not under it
    page.screenshot(path=str(tmp_path / "maps_1500.png"))
    print(f"maps at 1,500 px: {boxes}; screenshot {tmp_path / 'maps_1500.png'}")

    controls = [
        "marimo-dropdown[data-label*='colour by'] select",
        "marimo-text[data-label*='find an item'] input",
        "marimo-dropdown[data-label*='place a user'] button, marimo-dropdown[data-label*='place a user'] [role=combobox]",
        "marimo-number[data-label*='top N'] input",
        "marimo-text-area textarea",
        "marimo-dropdown[data-label*='region names'] select",
    ]
    before, maps_before = boxes_of(page, controls), {k: v for k, v in map_boxes(page).items() if k in EVERY_MAP}
    box = page.locator("marimo-text[data-label*='find an item'] input")
    box.fill("matrix")
    box.press("Enter")
    wait_for(page, lambda: page.locator("marimo-dropdown[data-label*='items match'] select").count() == 1, timeout=30, what="the choices")
    wait_for(page, lambda: any(stroke for _, _, stroke, _ in styles(page).get("umap_map_marks", [])), timeout=30, what="the outlines")
    wait_for(page, lambda: EVERY_MAP <= set(map_boxes(page)), timeout=30, what="the maps redrawn")
    page.wait_for_timeout(500)
    assert boxes_of(page, controls) == before  # nothing moved to make room for the choices...
    after = {k: v[1] for k, v in map_boxes(page).items() if k in EVERY_MAP}
    assert set(after) == set(maps_before) and all(abs(after[k] - maps_before[k][1]) <= 1.5 for k in after), (after, maps_before)  # ...nor the maps (sub-pixel rounding aside)
    page.screenshot(path=str(tmp_path / "maps_1500_search.png"))
    box.fill("")
    box.press("Enter")
    wait_for(page, lambda: page.locator("marimo-dropdown[data-label*='items match'] select").count() == 0, timeout=30, what="the choices to go")
    assert log.errors_but_replaced_charts() == []


def test_the_whole_view_comes_back_in_a_second_tab_from_the_disk_cache(film_app, films):
    """Every part of the view set in one tab — the colour's value, the region names, a search and
    the match picked, a placed user and their top N, a pasted list — is in the address; opened in
    a second tab (a reload, a shared link) it shows the same view, every stage read from the
    cache on disk."""
    from browser import PageLog

    data, profiles = kept(films)
    user = str(profiles.user_ids[int(np.argmax(np.diff(profiles.matrix.indptr)))])
    first = film_app[0].context.new_page()
    first_log = PageLog(first)
    first.goto(film_app[2])
    wait_for(first, lambda: EVERY_MAP <= set(drawn_marks(first)), timeout=300, what="every map")
    first.locator("marimo-dropdown[data-label*='colour items by'] select").select_option(label="has “Sci-Fi”")
    first.locator("marimo-dropdown[data-label*='region names'] select").select_option(label="continents (coarsest level)")
    search = first.locator("marimo-text[data-label*='find an item'] input")
    search.fill("matrix")
    search.press("Enter")
    choices = first.locator("marimo-dropdown[data-label*='items match'] select")
    wait_for(first, lambda: choices.count() == 1, timeout=30, what="the choices")
    choices.select_option(index=2)
    picked = choices.locator("option:checked").text_content()
    pick_user(first, user)
    top = first.locator("marimo-number[data-label*='top N'] input")
    wait_for(first, lambda: top.count() == 1, timeout=30, what="the top N box")
    top.fill("2")
    top.press("Enter")
    area = first.locator("marimo-text-area textarea")
    area.fill("matrix, the (1960)\nAMELIE")
    area.blur()
    wanted = {"colour": ["genres"], "has": ["Sci-Fi"], "names": ["continents"], "find": ["matrix"], "user": [user], "top": ["2"], "paste": ["matrix, the (1960)\nAMELIE"]}
    query = lambda: parse_qs(urlsplit(first.url).query)  # noqa: E731
    wait_for(first, lambda: all(query().get(k) == v for k, v in wanted.items()) and "pick" in query(), timeout=120, what="the whole view in the address")
    wait_for(first, lambda: EVERY_MAP <= drawn_maps(first), timeout=120, what="the maps with region names")
    first.wait_for_load_state("networkidle")
    first.wait_for_timeout(1000)
    address = first.url
    assert first_log.errors_but_replaced_charts() == [], (first_log.replaced(), first_log.fetch_failures)
    first.close()

    second = film_app[0].context.new_page()
    log = PageLog(second)
    began = time.monotonic()
    second.goto(address)
    wait_for(second, lambda: EVERY_MAP <= drawn_maps(second), timeout=300, what="the maps in the second tab")
    drawn = time.monotonic() - began
    print(f"second tab, warm disk cache: every map drawn {drawn:.1f} s after page.goto")
    assert second.locator("marimo-text[data-label*='find an item'] input").input_value() == "matrix"
    again = second.locator("marimo-dropdown[data-label*='items match'] select")
    wait_for(second, lambda: again.count() == 1, timeout=30, what="the choices again")
    assert again.locator("option:checked").text_content() == picked
    assert second.locator("marimo-dropdown[data-label*='place a user']").get_by_text(user, exact=True).count() >= 1
    assert second.locator("marimo-number[data-label*='top N'] input").input_value() == "2"
    assert second.locator("marimo-text-area textarea").input_value() == "matrix, the (1960)\nAMELIE"
    assert second.locator("marimo-dropdown[data-label*='region names'] select option:checked").text_content() == "continents (coarsest level)"
    assert second.locator("marimo-dropdown[data-label*='colour items by'] select option:checked").text_content() == "has “Sci-Fi”"
    wait_for(second, lambda: second.get_by_text("Pasted list: 1 of 2 entries found").count() > 0, timeout=60, what="the pasted list")
    wait_for(second, lambda: second.get_by_text("their top 2 by weight are shown").count() > 0, timeout=60, what="the placed user")
    wait_for(second, lambda: {label.rsplit(" (", 1)[0] for _, label, _, _ in map_styles(second)} == {"Sci-Fi", "not Sci-Fi"}, timeout=60, what="the has-Sci-Fi colours")
    rows = lambda: {text.split("\t")[0].strip(): text for text in second.locator("table.atlas-table tr").all_inner_texts()}  # noqa: E731
    stages = ("profiles", "graph", "embedding", "UMAP", "t-SNE", "PaCMAP")
    wait_for(second, lambda: all(s in rows() for s in stages), timeout=120, what="the table of stage times")
    table = rows()
    assert all("cached" in table[s] for s in stages), {s: table[s] for s in stages}
    assert log.errors_but_replaced_charts() == []
    second.close()


def test_the_export_folder_is_named_after_the_data_and_other_data_is_replaced_only_when_asked(film_app, films, tmp_path):
    import json
    import os

    page, log, _ = film_app
    folder = page.locator("marimo-text[data-label*='folder on the server'] input")
    assert folder.input_value() == str(Path.cwd() / "atlas-out" / "ratings-umap")  # the data's file and the layout
    assert any("--out atlas-out/ratings-umap" in c for c in page.locator("code").filter(has_text="atlas build").all_text_contents())
    target = tmp_path / "maps"
    target.mkdir()
    other = {"atlas_manifest_version": 1, "created": "2026-12-06T21:00:00+00:00", "input": {"interactions_fingerprint": "0123", "source": {"demo": "movielens"}}}
    (target / "manifest.json").write_text(json.dumps(other), encoding="utf-8")
    folder.fill(str(target))
    folder.press("Enter")
    page.locator("marimo-button[data-label*='Export'] button").click()
    wait_for(page, lambda: page.get_by_text("holds an export of the MovieLens demo").count() > 0, timeout=60, what="the question")
    page.wait_for_timeout(1000)
    assert json.loads((target / "manifest.json").read_text())["input"]["interactions_fingerprint"] == "0123"  # asked, not written
    assert not (target / "layout.csv").exists()
    page.locator("marimo-button[data-label*='Replace it'] button").click()
    wait_for(page, lambda: (target / "layout.csv").exists(), timeout=120, what="the export")
    wait_for(page, lambda: page.get_by_text("Wrote the").count() > 0, timeout=60, what="the report")
    data, _ = kept(films)
    assert json.loads((target / "manifest.json").read_text())["input"]["interactions_fingerprint"] == data.interactions.fingerprint
    written = os.stat(target / "manifest.json").st_mtime_ns
    page.wait_for_timeout(1100)
    page.locator("marimo-button[data-label*='Export'] button").click()  # the same data again: written without a question
    wait_for(page, lambda: os.stat(target / "manifest.json").st_mtime_ns != written, timeout=120, what="the second export")
    assert page.get_by_text("holds an export of").count() == 0
    assert log.errors_but_replaced_charts() == []
