"""Where the co-occurrence stage runs: the numba kernel on this machine, or Apache Spark.

Every engine gives the same answer — the same ``Candidates`` for the same profiles and
parameters (see :mod:`atlas.engines.spark_cooccur` for how the Spark one keeps the kernel's
arithmetic and its tie rule) — so the engine and its settings are *how* a result is computed,
not *what* it is: the manifest records them (``BuildParams.engine``), the stage cache keys
leave them out. A build made with ``--engine spark`` is served from the cache to a build on
this machine, and the other way round.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import AtlasError, check_choice, check_range
from ..options import option

ENGINES = ("numba", "spark")
FORMULATIONS = ("blocks", "join")
"""How Spark computes the candidates. ``blocks``: items are split into blocks; each block
receives the whole profile of every user who touched it and runs the numba kernel on it (one
shuffle of profiles, only each item's top candidates come back; executors need atlas and
numba). ``join``: plain Spark SQL — a self-join on the user, a sum per item pair with map-side
partial aggregation and a windowed top-k (no Python on the executors; shuffles one row per
pair update, so it is the slow one)."""

#: Spark settings whose values are left out of manifests and rebuild commands.
SECRET = re.compile(r"secret|password|passwd|token|credential|access[._-]?key|private", re.IGNORECASE)
REDACTED = "<redacted>"


@dataclass(frozen=True)
class EngineParams:
    """The engine of the co-occurrence stage and its settings (none of them changes the result).

    ``master`` is a Spark master URL (``local[*]``, ``spark://host:7077``, ``yarn``,
    ``k8s://https://host:443``); ``conf`` holds ``key=value`` Spark settings; ``partitions`` is
    the number of item blocks (``blocks``) or shuffle partitions (``join``), by default from
    the cluster's parallelism and the data's size.
    """

    name: str = option("numba", "--engine", "where co-occurrence runs: numba (this machine, default) or spark", choices=ENGINES)
    master: str = option("local[*]", "--spark-master", "with --engine spark: the Spark master URL (default local[*])")
    conf: tuple[str, ...] = option((), "--spark-conf", "with --engine spark: a Spark setting key=value (repeatable)", many=True)
    formulation: str = option("blocks", "--spark-formulation", "with --engine spark: blocks (numba per item block, default) or join (Spark SQL only)", choices=FORMULATIONS)
    partitions: int | None = option(None, "--spark-partitions", "with --engine spark: item blocks or shuffle partitions (default: from the data)")

    def __post_init__(self) -> None:
        check_choice("engine", self.name, ENGINES)
        check_choice("spark_formulation", self.formulation, FORMULATIONS)
        object.__setattr__(self, "conf", tuple(self.conf))
        object.__setattr__(self, "master", str(self.master).strip())
        if not self.master:
            raise AtlasError("--spark-master is empty; give a master URL such as local[*] or spark://host:7077.")
        for entry in self.conf:
            key, sep, _ = str(entry).partition("=")
            if not sep or not key.strip():
                raise AtlasError(f"--spark-conf takes key=value, got {entry!r} (e.g. --spark-conf spark.executor.memory=8g).")
        if self.partitions is not None:
            check_range("spark_partitions", self.partitions, 1, 1_000_000)
        spark_settings = (self.master != "local[*]", bool(self.conf), self.formulation != "blocks", self.partitions is not None)
        if self.name != "spark" and any(spark_settings):
            raise AtlasError("the --spark-* options need --engine spark; add it or leave them out.")

    @property
    def settings(self) -> dict[str, str]:
        """``conf`` as a dictionary (a later setting of the same key wins)."""
        pairs = (entry.partition("=") for entry in self.conf)
        return {key.strip(): value.strip() for key, _, value in pairs}

    def record(self) -> dict:
        """What a manifest records: every setting, secret-looking values redacted."""
        conf = tuple(f"{k}={REDACTED if SECRET.search(k) else v}" for k, v in self.settings.items())
        return {"name": self.name, "master": self.master, "conf": list(conf), "formulation": self.formulation, "partitions": self.partitions}

    def public(self) -> EngineParams:
        """These settings with secret-looking values redacted (for rebuild commands)."""
        from dataclasses import replace

        return replace(self, conf=tuple(self.record()["conf"]))
