"""The notebook app: its settings (the command line's presets and the page's address), who may
read and write which files, the stages it runs and reports, the layouts it computes in the
background, and its exports.

The views it shows are :mod:`atlas.widgets`; ``atlas app`` serves it (:mod:`atlas.app.server`).
Helpers not listed here are imported from their modules.
"""

from .access import access_note, listening_addresses, visitor_access
from .exports import export_conflict, export_name, export_with_page, export_zip
from .jobs import LayoutJobs, start_layouts
from .loaded import shared_load
from .settings import app_settings, resolve_upload
from .share import REGION_OVERLAY, build_command, current_build, keep_in_address, region_overlay_label, shown_source
from .stages import StageRun, run_stage, stage_messages, timing_table, why_no_layout

__all__ = [
    "REGION_OVERLAY", "LayoutJobs", "StageRun", "access_note", "app_settings", "build_command", "current_build", "export_conflict",
    "export_name", "export_with_page", "export_zip", "keep_in_address", "listening_addresses", "region_overlay_label", "resolve_upload",
    "run_stage", "shared_load", "shown_source", "stage_messages", "start_layouts", "timing_table", "visitor_access", "why_no_layout",
]
