"""What a build produced: every stage's result, as ``atlas build`` exports it."""

from __future__ import annotations

from dataclasses import dataclass, field

from .cooccur import Candidates
from .embed import Embedding
from .graph import ItemGraph
from .plan import BuildParams
from .profiles import Profiles
from .projections import Layout
from .regions import Regions


@dataclass(frozen=True, eq=False)
class BuildResult:
    """Everything a build produced; ``layouts`` are aligned to the first projection (and that one
    to the earlier map of ``alignment``, when the build was aligned to one); ``regions`` holds
    the named regions of each layout."""

    params: BuildParams
    profiles: Profiles
    candidates: Candidates | None
    graph: ItemGraph
    embedding: Embedding
    layouts: dict[str, Layout]
    metrics: dict[str, dict]
    timings: dict[str, float]
    cached: dict[str, bool] = field(default_factory=dict)
    regions: dict[str, Regions] = field(default_factory=dict)
    alignment: dict | None = None  # the report of ``align.alignment_report``
    threads: dict[str, int] = field(default_factory=dict)  # per stage computed (not cached): its threads
