"""UI glue for the notebooks: an Emblaze comparison that renders in marimo, and Altair charts.

Nothing here computes a map; these functions only turn results of the pipeline (layouts,
item tables, neighbour lists) into widgets and chart specifications.
"""

from .emblaze import (  # noqa: F401
    _BACKBONE_LISTENER,
    _PORTABLE_LISTENER,
    portable_emblaze_esm,
    _run_inline,
    _viewer_class,
    _fill_padding,
    _neighbor_source,
    EmblazeParts,
    emblaze_parts,
    emblaze_view,
    comparison_view,
    subset_neighbors,
)
from .tables import (  # noqa: F401
    MAX_CHART_POINTS,
    MAX_EMBLAZE_POINTS,
    MAP_COLUMNS,
    safe_column_name,
    map_table,
    neighbour_names,
    metadata_columns,
    is_quantitative,
    sample_rows,
    find_items,
    with_neighbours,
    rows_from_text,
)
from .lookup import NameIndex, ListMatch, UserItems, match_list, list_report, user_items, user_note, choice_labels  # noqa: F401
from atlas.columns import set_choices  # noqa: F401
from .charts import (  # noqa: F401
    SIDEBAR_WIDTH,
    _quiet_altair,
    HIGHLIGHT_STYLES,
    highlight_kinds,
    category_colours,
    colour_note,
    linked_maps,
    map_views,
    region_labels,
    region_layers,
    histogram,
    small_multiple,
    small_multiples,
    selectable_chart,
)
from .memo import Recent, SessionMemo, content_hash  # noqa: F401
from .share import VIEW_KEYS, REGION_OVERLAY, region_overlay_label, read_address, address_values, address_changes, shown_source, build_command, current_build, keep_in_address  # noqa: F401
from .wording import in_app  # noqa: F401
from .settings import (  # noqa: F401
    APP_OPTIONS,
    AppSettings,
    app_settings,
    slider_steps,
    save_upload,
    resolve_upload,
    colour_options,
    default_colour,
)
from .controls import (  # noqa: F401
    control,
    options_form,
    form_defaults,
    projection_controls,
    controls_panel,
    view_bar,
)
from .access import (  # noqa: F401
    MODES,
    DEFAULT_MAX_UPLOAD_MB,
    Access,
    access_note,
    is_loopback,
    listening_addresses,
    request_is_remote,
    visitor_access,
)
from . import progress  # noqa: F401
from .progress import LayoutJobs, progress_line, start_layouts  # noqa: F401
from .stages import (  # noqa: F401
    StageRun,
    run_stage,
    skipped,
    stage_messages,
    timing_table,
    metrics_table,
    export_with_page,
    export_zip,
    export_name,
    export_conflict,
    why_no_layout,
)
from .scatter import (  # noqa: F401
    VIRIDIS,
    MapColours,
    map_colours,
    maps_widget,
    outlined,
    popularity_sizes,
    webgl_maps,
    widget_module,
)
from .turning import TURN_CHOICES, MapTurns, turn_wording  # noqa: F401
