"""Stage runs in the app: results or readable messages, and the table of their timings."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageRun:
    """One run of a pipeline stage in the app: its result or the message that stopped it."""

    stage: str
    value: object | None
    error: str | None
    seconds: float  # wall time of this run; a cache hit takes almost none
    note: str | None = None
    cached: bool | None = None  # read from the stage cache (None: not known, judged by its time)
    status: str | None = None  # what the timing table says instead ("loaded" for the data)

    @property
    def ok(self) -> bool:
        return self.error is None

    def read_from(self, build, *stages: str) -> StageRun:
        """This run, saying whether ``build`` read ``stages`` from the stage cache."""
        if not self.ok or build is None:
            return self
        return dataclasses.replace(self, cached=build.from_cache(*stages))

    @property
    def computed_seconds(self) -> float | None:
        """Time the result took when it was first computed (from the stage result)."""
        return getattr(self.value, "seconds", None)


def run_stage(
    stage: str,
    compute: Callable[[Callable[[str, float, float], None]], object],
    *,
    needs: Sequence[object] = (),
    title: str | None = None,
    note: str | None = None,
    spinner: bool = True,
) -> StageRun:
    """Run ``compute(report)`` under a spinner; a problem becomes a message, not an exception.

    ``report(stage, done, total)`` (the pipeline's progress signature) updates the spinner.
    When any value in ``needs`` is None (an earlier stage failed) nothing runs. An
    ``AtlasError`` (bad input, impossible parameters) gives its own one-line message, naming the
    app's box or slider where it names a command-line flag (``wording.in_app``); any other
    exception is logged with its traceback and reported by type and message, so one failing
    stage never takes the rest of the app down.
    """
    import marimo as mo

    from atlas.errors import AtlasError

    from .wording import in_app

    if any(value is None for value in needs):
        return skipped(stage)
    start = time.perf_counter()
    label = title or f"Computing {stage}…"
    try:
        if spinner:
            with mo.status.spinner(title=label) as status:

                def report(name, done, total):
                    progress = f"{name}: {done:,.0f} of {total:,.0f}" if total > 1 and done < total else f"{name} done"
                    status.update(title=label, subtitle=progress if done else name)

                value = compute(report)
        else:
            value = compute(lambda *args: None)
    except AtlasError as exc:  # in the app's words: the box to change, not the flag
        return StageRun(stage, None, in_app(str(exc)), time.perf_counter() - start, note)
    except Exception as exc:  # noqa: BLE001 - shown in the app, logged with its traceback
        log.exception("stage %s failed", stage)
        return StageRun(stage, None, f"{type(exc).__name__}: {exc}", time.perf_counter() - start, note)
    return StageRun(stage, value, None, time.perf_counter() - start, note)


def skipped(stage: str) -> StageRun:
    """A stage that did not run because an earlier one failed."""
    return StageRun(stage, None, None, 0.0)


def stage_messages(runs: Sequence[StageRun]):
    """Callouts for failed stages and notes (empty when all is well)."""
    import marimo as mo

    out = []
    for run in runs:
        if run.error:
            out.append(mo.callout(mo.md(f"**{run.stage}** — {run.error}"), kind="danger"))
        if run.note:
            out.append(mo.callout(mo.md(f"**{run.stage}** — {run.note}"), kind="warn"))
    return out


def timing_table(runs: Sequence[StageRun]):
    """A small table: stage, status (computed, cached or failed), time of this run and time
    when first computed. A run that knows whether it was read from the stage cache says so;
    another is "cached" when it took under half its first time. Stages that did not run are
    left out."""
    import pandas as pd

    rows = []
    for run in runs:
        if run.error:
            status = "failed"
        elif run.value is None:
            continue
        elif run.status:
            status = run.status
        elif run.cached is not None:
            status = "cached" if run.cached else "computed"
        elif run.computed_seconds is not None and run.seconds < 0.5 * run.computed_seconds:
            status = "cached"
        else:
            status = "computed"
        rows.append(
            {
                "stage": run.stage,
                "status": status,
                "this run (s)": round(run.seconds, 3),
                "first computed (s)": None if run.computed_seconds is None else round(run.computed_seconds, 3),
            }
        )
    return pd.DataFrame(rows)


def why_no_layout(runs: Sequence[StageRun]) -> str:
    """Why no layout was made, from the stage runs: the first failed stage's message."""
    for run in runs:
        if run.error:
            return f"**{run.stage}** failed — {run.error}"
    return "an earlier stage has not produced its result (see the messages above)."
