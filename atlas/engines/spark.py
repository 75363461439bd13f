"""The co-occurrence stage on Apache Spark, from Python.

``spark_stage`` reads interactions where they live (a Parquet folder, a CSV, a table), filters
and indexes them as ``build_profiles`` does and computes each item's candidates; only the items
and their candidates come back (``ItemTable``, ``Candidates``). ``spark_cooccurrence`` computes
the candidates of profiles already in memory (for notebooks and for the tests that compare the
engines). Both take an existing session (``spark=``) or start one from ``EngineParams``.
"""

from __future__ import annotations

import contextlib
import logging

import numpy as np

from ..cooccur import Candidates, CooccurrenceParams
from ..errors import AtlasError
from ..profiles import FilterParams, Profiles
from ..stagefile import ItemTable
from . import EngineParams
from .spark_cooccur import spark_candidates
from .spark_input import SparkInput, indexed_interactions, spark_input
from .spark_session import first_line, spark_session

log = logging.getLogger(__name__)

__all__ = ["SparkInput", "spark_cooccurrence", "spark_input", "spark_stage"]


@contextlib.contextmanager
def _spark_errors():
    """Spark's failures as one line (an AtlasError raised inside passes through unchanged)."""
    try:
        yield
    except AtlasError:
        raise
    except Exception as exc:
        from pyspark.errors import PySparkException

        try:
            from py4j.protocol import Py4JError
        except ImportError:  # pragma: no cover - py4j comes with pyspark
            Py4JError = ()  # noqa: N806
        if not isinstance(exc, (PySparkException, Py4JError)):
            raise
        text = str(exc)
        if "No module named 'atlas'" in text or "No module named 'numba'" in text:
            raise AtlasError(
                "the Spark executors cannot import atlas and numba, which --spark-formulation blocks runs there; install atlas-maps on them, "
                "ship it with --spark-conf spark.submit.pyFiles=…, or use --spark-formulation join."
            ) from None
        raise AtlasError(f"Spark failed: {first_line(exc)}; rerun with --debug for Spark's own report.") from None


def spark_stage(
    source: SparkInput | str,
    filter: FilterParams = FilterParams(),
    cooccurrence: CooccurrenceParams = CooccurrenceParams(),
    engine: EngineParams = EngineParams(name="spark"),
    *,
    spark=None,
) -> tuple[ItemTable, Candidates]:
    """Profiles' items and co-occurrence candidates of ``source``, computed by Spark."""
    source = source if isinstance(source, SparkInput) else spark_input(source)
    with spark_session(engine, spark) as session, _spark_errors():
        frame, items = indexed_interactions(session, source, filter, partitions=engine.partitions)
        frame = frame.localCheckpoint(eager=True)
        candidates = spark_candidates(frame, items.n_items, items.n_users, items.pair_updates, cooccurrence, engine)
    return items, candidates


def spark_cooccurrence(profiles: Profiles, params: CooccurrenceParams = CooccurrenceParams(), engine: EngineParams = EngineParams(name="spark"), *, spark=None) -> Candidates:
    """``cooccurrence_candidates(profiles, params)``, computed by Spark from profiles in memory."""
    matrix = profiles.matrix.tocsr()
    rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
    import pandas as pd

    table = pd.DataFrame({"u": rows, "i": matrix.indices.astype(np.int32), "w": matrix.data.astype(np.float32)})
    with spark_session(engine, spark) as session, _spark_errors():
        frame = session.createDataFrame(table, "u long, i int, w float")
        if engine.partitions:
            frame = frame.repartition(engine.partitions)
        return spark_candidates(frame, profiles.n_items, profiles.n_users, profiles.pair_updates, params, engine)
