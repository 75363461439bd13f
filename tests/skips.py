"""Skips under CI: every skip is a failure unless its reason is listed in ``ALLOWED_SKIPS``.

A skip hides a test; on a developer's machine that is often right (no Chromium, no Java), and
``-rs`` prints each one with its reason. In CI, where ``make test`` has installed everything, a
skip means a test did not run although it should have: so when ``CI`` or any ``ATLAS_REQUIRE_*``
variable is set, a skip whose reason is not listed here fails, naming this table.
"""

from __future__ import annotations

import os

#: exact skip reason -> why CI may skip that test. Keep it short: each entry is a test CI never runs.
ALLOWED_SKIPS: dict[str, str] = {}

WHERE = "tests/skips.py ALLOWED_SKIPS"


def strict() -> bool:
    """Whether skips must be listed: in CI (``CI``) or wherever ``ATLAS_REQUIRE_*`` is set."""
    return bool(os.environ.get("CI")) or any(k.startswith("ATLAS_REQUIRE_") and v for k, v in os.environ.items())


def skip_reason(report) -> str:
    """The reason a skipped report gives (pytest stores ``(path, line, "Skipped: reason")``)."""
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return text.removeprefix("Skipped: ")


def police(report) -> None:
    """Turn an unlisted skip into a failure (in place) when skips must be listed."""
    if not report.skipped or hasattr(report, "wasxfail") or not strict():
        return
    reason = skip_reason(report)
    if reason in ALLOWED_SKIPS:
        return
    report.outcome = "failed"
    report.longrepr = f"skipped in CI, and its reason is not listed in {WHERE}: {reason}"
