"""The app's controls, made from the options the parameter classes declare.

A field with slider stops becomes a slider, one with choices a dropdown, any other a text box
(empty means "default" or "none"). The values come back keyed by option name, ready for
``atlas.plan``; nothing here decides what a value means.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from atlas import projections
from atlas.options import Field, fields_of, word



class Presets(Protocol):
    """Where controls start: the app's settings (``atlas.app.settings.AppSettings``)."""

    def initial(self, f: Field) -> Any:
        """The value a control for ``f`` starts at."""


def slider_steps(steps: Sequence[float], value: float) -> list[float]:
    """A slider's stops with ``value`` among them (a preset off the grid stays selectable)."""
    return sorted({*steps, value})


def control(f: Field, value: Any, *, debounce: bool = False, full_width: bool = True):
    """A marimo control for one option, starting at ``value``."""
    import marimo as mo

    label = f.label
    if f.option.steps is not None and value is not None:
        return mo.ui.slider(
            steps=slider_steps(f.option.steps, value), value=value, label=label, show_value=True, full_width=full_width, debounce=debounce
        )
    if f.option.choices is not None:
        return mo.ui.dropdown(list(f.option.choices), value=value, label=label)
    return mo.ui.text(value="" if value is None else word(value), label=label, placeholder="default" if f.default is None else word(f.default))


def options_form(fields: Iterable[Field], settings: Presets, submit: str):
    """A form of one control per field; its value is {option name: value} once submitted."""
    import marimo as mo

    fields = list(fields)
    template = "\n\n".join("{" + f.dest + "}" for f in fields)
    controls = {f.dest: control(f, settings.initial(f)) for f in fields}
    return mo.md(template).batch(**controls).form(submit_button_label=submit, bordered=False)


def form_defaults(fields: Iterable[Field], settings: Presets) -> dict[str, Any]:
    """What a form stands for before its first submit: the controls' starting values."""
    return {f.dest: settings.initial(f) for f in fields}


def projection_controls(settings: Presets, names: Iterable[str]):
    """One ``mo.ui.dictionary`` holding, per projection, a dictionary of its options' controls
    (sliders debounced, so a drag recomputes once, when it ends; as wide as their column, so that
    each step of a slider is a few pixels of a drag). Being one UI element bound to one name, any
    move re-runs the cells that read it (marimo finds no binding for elements kept in a plain
    dict); ``controls[name].value`` is one method's option values."""
    import marimo as mo

    return mo.ui.dictionary(
        {
            name: mo.ui.dictionary({f.dest: control(f, settings.initial(f), debounce=True, full_width=True) for f in fields_of(projections.get(name).Params)})
            for name in names
        }
    )


def controls_panel(controls, names: Iterable[str], *, stacked: bool = False):
    """The controls of the projections ``names``, each under its method's name: side by side, or
    one method under the other (``stacked``, for the sidebar)."""
    import marimo as mo

    columns = [mo.vstack([mo.md(f"**{projections.get(name).title}**"), *controls[name].elements.values()]) for name in names]
    return mo.vstack(columns, gap=1) if stacked else mo.hstack(columns, widths="equal", gap=2)


#: The height each slot of ``view_bar`` keeps, filled or not: a labelled dropdown or text box.
SLOT_HEIGHT = "2.6rem"


def view_bar(columns: Iterable[Iterable[Any]]):
    """The maps' view controls in a grid of equal columns, each a column of slots of a fixed
    height (``SLOT_HEIGHT``, or the height given with a control as ``(control, "5rem")``). A slot
    whose control is None (a search's choices while there are none) keeps its place, so nothing
    moves when search results appear; a column never grows into the next."""
    import marimo as mo

    def slot(entry) -> str:
        element, height = entry if isinstance(entry, tuple) else (entry, SLOT_HEIGHT)
        inner = "" if element is None else mo.as_html(element).text
        return f'<div class="atlas-view-slot" style="min-height:{height};min-width:0">{inner}</div>'

    columns = [list(column) for column in columns]
    cells = "".join(f'<div style="display:flex;flex-direction:column;gap:0.4rem;min-width:0">{"".join(map(slot, column))}</div>' for column in columns)
    return mo.Html(
        f'<div class="atlas-view-bar" style="display:grid;grid-template-columns:repeat({len(columns)},minmax(0,1fr));'
        f'gap:0.5rem 1.25rem;align-items:start">{cells}</div>'
    )
