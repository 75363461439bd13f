"""The notebooks' views: maps (Altair charts, the WebGL maps, the Emblaze comparison), item
tables and lookups, the controls made from the declared options, and how maps are turned.

Nothing here computes a map or keeps the app's state: these functions turn results of a build
(layouts, item tables, neighbour lists) into widgets and chart specifications. The app itself —
its settings, address, file policy, stage runs, background layouts and exports — is
:mod:`atlas.app`. Helpers not listed here are imported from their modules.
"""

from .charts import SIDEBAR_WIDTH, SWEEP_POINTS, changes_note, colour_note, histogram, map_views, region_labels, selectable_chart, small_multiples, torn_note
from .controls import controls_panel, form_defaults, options_form, projection_controls, view_bar
from .emblaze import comparison_view
from .lookup import (
    NameIndex, choice_labels, list_report, match_list, md_text, neighbour_list, neighbour_reasons, no_match_note, user_items, user_note,
)
from .memo import Memo, shared_memo
from .paths import path_frame, path_frames, path_layer, path_layers
from .scatter import webgl_maps
from .tables import (
    FAITHFULNESS, MAX_CHART_POINTS, MAX_EMBLAZE_POINTS, SINCE, can_colour, colour_options, colour_or_popularity, default_colour, find_items,
    map_table, metrics_table, neighbour_names, since_labels, static_table, with_neighbours,
)
from .turning import TURN_CHOICES, MapTurns, turn_wording

__all__ = [
    "FAITHFULNESS", "MAX_CHART_POINTS", "MAX_EMBLAZE_POINTS", "SIDEBAR_WIDTH", "SINCE", "SWEEP_POINTS", "TURN_CHOICES", "MapTurns", "NameIndex",
    "Memo", "can_colour", "changes_note", "choice_labels", "colour_note", "colour_options", "colour_or_popularity", "comparison_view",
    "controls_panel", "default_colour", "find_items", "form_defaults", "histogram", "list_report", "map_table", "map_views", "match_list",
    "md_text", "metrics_table", "neighbour_list", "neighbour_names", "neighbour_reasons", "no_match_note", "options_form", "path_frame", "path_frames", "path_layer", "path_layers", "projection_controls", "region_labels",
    "selectable_chart", "since_labels", "small_multiples", "static_table", "torn_note", "turn_wording", "user_items", "user_note", "view_bar", "webgl_maps",
    "shared_memo", "with_neighbours",
]
