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
    colour_columns,
    is_quantitative,
    sample_rows,
    find_items,
    with_neighbours,
    rows_from_text,
    rows_for_user,
)
from .charts import (  # noqa: F401
    _quiet_altair,
    linked_maps,
    map_views,
    histogram,
    small_multiple,
    selectable_chart,
)
from .settings import (  # noqa: F401
    _TEXT_OPTIONS,
    _INT_OPTIONS,
    _FLOAT_OPTIONS,
    _FLAG_OPTIONS,
    app_defaults,
    app_settings,
    _option_value,
    _check_choices,
    _demo_filter,
    slider_steps,
    float_grid,
    optional_number,
    save_upload,
    resolve_upload,
    colour_options,
    load_data,
    default_colour,
    capped_projection,
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
from .stages import (  # noqa: F401
    StageRun,
    run_stage,
    skipped,
    stage_messages,
    timing_table,
    metrics_table,
    aligned_layouts,
    export_with_page,
    export_zip,
    build_params,
    embed_stages,
    data_from_settings,
)
