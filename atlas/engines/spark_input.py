"""Stage 2 on Spark: read the interactions where they live, then filter and index them by the
rules of :func:`atlas.profiles.build_profiles`, so that the items get the same column order and
the candidates the same tie-breaks as on this machine.

* Ids are numbered in order of first appearance, as ``pd.factorize`` numbers them: a row's
  position is (its file, in the order of the files' names; its split of the file; its place in
  the split), packed into one long (``pos``).
* Duplicate (user, item) pairs are summed or maxed; a user is known by the position of their
  first row (``u``), which orders users as the profile matrix's rows are ordered.
* ``max_user_items`` keeps, of each long profile, the interactions with the smallest draws of
  ``numpy.random.default_rng(seed).random`` at their positions in (user, item) order — the very
  numbers ``build_profiles`` draws; the generator jumps to each long profile (``PCG64.advance``).
* The minimums are applied until stable, exactly as ``build_profiles`` applies them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import AtlasError
from ..formats import LONG_FORMATS
from ..ingest import SPARK_ROUTE, IngestParams, _as_str_ids, time_col_refused
from ..profiles import FilterParams, check_kept, no_weight_left, nothing_left
from ..stagefile import ItemTable
from .spark_session import first_line

log = logging.getLogger(__name__)

ROW_BITS = 33  # monotonically_increasing_id: partition << 33 | row within the partition
ROW_MASK = (1 << ROW_BITS) - 1


@dataclass(frozen=True, eq=False)
class SparkInput:
    """Interactions that Spark reads: a file or folder on any filesystem Spark knows, or a
    table name. ``fingerprint`` identifies a local input's content."""

    location: str
    params: IngestParams = IngestParams()
    fingerprint: str = ""  # empty: the content is not known here, so the stage is not cached

    @property
    def is_table(self) -> bool:
        loc = self.location
        return "://" not in loc and "/" not in loc and not Path(loc).exists() and Path(loc).suffix.lower() not in (*LONG_FORMATS, ".parquet", ".gz")

    @property
    def local_path(self) -> Path | None:
        loc = self.location[len("file://") :] if self.location.startswith("file://") else self.location
        return None if "://" in loc or self.is_table else Path(loc)


def spark_input(location: str, params: IngestParams = IngestParams()) -> SparkInput:
    """A ``SparkInput``; a local file or folder is checked now and fingerprinted like ``atlas.scan`` does
    (times are not carried: ``params.time_col`` is refused)."""
    if params.time_col is not None:
        raise time_col_refused(SPARK_ROUTE)
    source = SparkInput(str(location), params)
    path = source.local_path
    if path is not None:
        from ..scan import interaction_files

        return SparkInput(str(location), params, interaction_files(path, params).fingerprint)
    return source


# -- reading ----------------------------------------------------------------------------------


def _name(source: SparkInput) -> str:
    """How errors name the input: a file's name, as the local path does, else the location."""
    return repr(Path(source.location.rstrip("/")).name if source.local_path is not None else source.location)


def _format(source: SparkInput) -> str:
    path = source.local_path
    if path is not None and path.is_dir():
        from ..scan import interaction_files

        return interaction_files(path, source.params).format
    name = source.location.rstrip("/").lower()
    for compressed in (".gz", ".bz2", ".xz"):
        name = name.removesuffix(compressed)
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name.rsplit("/", 1)[-1] else ""
    return suffix if suffix in LONG_FORMATS else ".parquet"


def read_frame(spark, source: SparkInput):
    """The input as a DataFrame of its own columns plus ``_file`` and ``_split`` (where each row
    was read, for the order of first appearance; empty for a table without files)."""
    from pyspark.errors import AnalysisException
    from pyspark.sql import functions as F

    try:
        if source.is_table:
            frame = spark.table(source.location)
        elif (fmt := _format(source)) == ".parquet":
            frame = spark.read.parquet(source.location)
        else:
            header = source.params.header
            if header is None:
                path = source.local_path
                if path is not None and path.is_file():
                    from ..formats import _sniff_header

                    header = _sniff_header(path, LONG_FORMATS[fmt])
                else:
                    header = True
            frame = spark.read.options(header=str(bool(header)).lower(), sep=LONG_FORMATS[fmt], inferSchema="false", encoding="UTF-8", mode="FAILFAST").csv(source.location)
            if not header:  # columns 0, 1, 2 … as the local reader names them (renamed once the file metadata is selected)
                return _with_position(frame, [str(k) for k in range(len(frame.columns))])
    except AnalysisException as exc:
        text = first_line(exc)
        if "PATH_NOT_FOUND" in text or "does not exist" in text.lower():
            raise AtlasError(f"input file {source.location!r} does not exist; check the path.") from None
        if "TABLE_OR_VIEW_NOT_FOUND" in text:
            raise AtlasError(f"Spark knows no table {source.location!r} (and there is no such file); check the name or the path.") from None
        raise AtlasError(f"Spark cannot read {source.location!r} ({text}); check the input.") from None
    return _with_position(frame, frame.columns)


def _with_position(frame, names: list[str]):
    """``frame`` with its columns named ``names`` and the ``_file``/``_split`` each row was read from."""
    from pyspark.errors import AnalysisException
    from pyspark.sql import functions as F

    try:
        frame = frame.select("*", F.col("_metadata.file_path").alias("_file"), F.col("_metadata.file_block_start").alias("_split"))
    except AnalysisException:  # not read from files (a view, a JDBC table …): the order Spark reads it in
        frame = frame.select("*", F.lit("").alias("_file"), F.lit(0).cast("long").alias("_split"))
    return frame.toDF(*names, "_file", "_split")


def _id_column(frame, name: str):
    """An id column as ingest reads ids: whole numbers stay numbers (grouped and joined as longs,
    written as text only for the kept items), floats become text without ``.0``, NaN is missing."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    col, kind = F.col(f"`{name}`"), frame.schema[name].dataType
    if isinstance(kind, (T.ByteType, T.ShortType, T.IntegerType, T.LongType)):
        return col.cast("long")
    if isinstance(kind, (T.FloatType, T.DoubleType)):
        whole = col.cast("long").cast("string")
        return F.when(F.isnan(col), F.lit(None)).when(col == F.floor(col), whole).otherwise(col.cast("string"))
    return col.cast("string")


def _weight_column(frame, name: str | None):
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if name is None:
        return F.lit(1.0).cast("float"), None
    col, kind = F.col(f"`{name}`"), frame.schema[name].dataType
    if isinstance(kind, T.NumericType) or isinstance(kind, T.BooleanType):
        return col.cast("double").cast("float"), None
    parsed = F.expr(f"try_cast(trim(`{name}`) AS DOUBLE)")
    return parsed.cast("float"), col.isNotNull() & parsed.isNull()


def positioned(spark, source: SparkInput):
    """(rows with ``uid``, ``iid``, ``w`` and ``pos``; the (user, item, weight) columns chosen)."""
    from pyspark.sql import functions as F

    from ..scan import _columns

    frame = read_frame(spark, source)
    columns = [c for c in frame.columns if c not in ("_file", "_split")]
    frame = frame.withColumn("_row", F.monotonically_increasing_id())
    splits = frame.select("_file", "_split").distinct().orderBy("_file", "_split").collect()
    if not splits:
        raise AtlasError(f"{_name(source)} holds no interactions (every row was empty or had a missing id).")
    ranks = spark.createDataFrame([(r["_file"], r["_split"], k) for k, r in enumerate(splits)], "_file string, _split long, _rank long")
    frame = frame.join(F.broadcast(ranks), ["_file", "_split"]).withColumn("pos", F.col("_rank") * (1 << ROW_BITS) + F.col("_row").bitwiseAND(ROW_MASK))
    import pandas as pd

    params = source.params
    if params.user_col is None and params.item_col is None and len(columns) >= 3 and params.weight_col is None:
        sample = frame.orderBy("pos").limit(1000).select(*[F.col(f"`{c}`") for c in columns]).toPandas()
    else:
        sample = pd.DataFrame(columns=columns)
    ucol, icol, wcol = _columns(sample, params, _name(source))
    weight, bad = _weight_column(frame, wcol)
    if bad is not None:
        example = frame.where(bad).select(F.col(f"`{wcol}`")).limit(1).collect()
        if example:
            raise AtlasError(
                f"weight column {wcol!r} holds non-numeric values such as {str(example[0][0])!r}; choose a numeric column with --weight-col or leave it out."
            )
    rows = frame.select(_id_column(frame, ucol).alias("uid"), _id_column(frame, icol).alias("iid"), weight.alias("w"), "pos")
    rows = rows.where(F.col("uid").isNotNull() & F.col("iid").isNotNull() & ~F.isnan("w") & (F.abs("w") != float("inf")) & F.col("w").isNotNull())
    return rows


# -- deduplicating, numbering, filtering ------------------------------------------------------


def _checkpoint(frame):
    return frame.localCheckpoint(eager=True)


def deduplicated(rows, aggregate: str, partitions: int, name: str = "the input"):
    """One row per (user, item): ``u`` (the user's first position), ``icode`` (the item's code
    in order of first appearance), ``w``; plus the items' ids by code."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    combine = F.max("w") if aggregate == "max" else F.sum("w")
    pairs = rows.repartition(partitions, "uid").groupBy("uid", "iid").agg(combine.cast("float").alias("w"), F.min("pos").alias("p"))
    pairs = _checkpoint(pairs.withColumn("u", F.min("p").over(Window.partitionBy("uid"))))
    firsts = pairs.groupBy("iid").agg(F.min("p").alias("first")).toPandas().sort_values("first", kind="stable")
    if firsts.empty:
        raise AtlasError(f"{name} holds no interactions (every row was empty or had a missing id).")
    item_ids = firsts["iid"].to_numpy()
    spark = rows.sparkSession
    id_type = pairs.schema["iid"].dataType.simpleString()
    codes = spark.createDataFrame(pd_frame({"iid": item_ids, "icode": np.arange(len(item_ids), dtype=np.int32)}), f"iid {id_type}, icode int")
    pairs = pairs.join(F.broadcast(codes), "iid").select("u", "icode", "w")
    return _checkpoint(pairs.repartition(partitions, "u")), item_ids


def pd_frame(columns: dict):
    import pandas as pd

    return pd.DataFrame(columns)


def _starts(lengths, partitions: int):
    """Each user's first position in (user, item) order: the sum of the lengths of the users
    before it, computed without bringing the users to one place."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    ordered = _checkpoint(lengths.orderBy("u").withColumn("_m", F.monotonically_increasing_id()))
    ordered = ordered.withColumn("_part", F.shiftright("_m", ROW_BITS))
    totals = ordered.groupBy("_part").agg(F.sum("n").alias("t")).toPandas().sort_values("_part")
    base = np.concatenate([[0], np.cumsum(totals["t"].to_numpy())[:-1]]).astype(np.int64)
    spark = lengths.sparkSession
    bases = spark.createDataFrame(pd_frame({"_part": totals["_part"].to_numpy(dtype=np.int64), "_base": base}), "_part long, _base long")
    before = F.sum("n").over(Window.partitionBy("_part").orderBy("_m").rowsBetween(Window.unboundedPreceding, -1))
    return ordered.join(F.broadcast(bases), "_part").select("u", "n", (F.col("_base") + F.coalesce(before, F.lit(0))).alias("start"))


def _draws(seed: int):
    """A mapInArrow function adding ``draw``: the ``pos``-th number of ``default_rng(seed).random``."""

    def add(batches):
        import pyarrow as pa

        base = np.random.PCG64(np.random.SeedSequence(seed))
        state = base.state
        gen = np.random.Generator(base)
        for batch in batches:
            pos = batch.column("pos").to_numpy()
            draws = np.empty(pos.shape[0], dtype=np.float64)
            order = np.argsort(pos, kind="stable")
            sorted_pos = pos[order]
            breaks = np.flatnonzero(np.diff(sorted_pos) != 1) + 1
            for run in np.split(np.arange(sorted_pos.shape[0]), breaks):
                if run.size == 0:
                    continue
                base.state = state
                base.advance(int(sorted_pos[run[0]]))
                draws[order[run]] = gen.random(run.size)
            yield batch.append_column("draw", pa.array(draws))

    return add


def capped(pairs, cap: int, seed: int, partitions: int):
    """``pairs`` without the interactions ``build_profiles``' seeded cap drops."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    lengths = pairs.groupBy("u").agg(F.count("*").alias("n"))
    starts = _starts(lengths, partitions).where(F.col("n") > cap)
    long = pairs.join(starts, "u").withColumn("pos", F.col("start") + F.row_number().over(Window.partitionBy("u").orderBy("icode")) - 1)
    long = long.select("u", "icode", "pos").mapInArrow(_draws(seed), "u long, icode int, pos long, draw double")
    rank = F.row_number().over(Window.partitionBy("u").orderBy("draw", "pos"))
    dropped = long.withColumn("rank", rank).where(F.col("rank") > cap).select("u", "icode")
    return _checkpoint(pairs.join(dropped, ["u", "icode"], "left_anti").repartition(partitions, "u"))


def _item_counts(pairs) -> dict[int, int]:
    from pyspark.sql import functions as F

    counts = pairs.groupBy("icode").agg(F.count("*").alias("n")).toPandas()
    return dict(zip(counts["icode"].astype(int), counts["n"].astype(int)))


def filtered(pairs, params: FilterParams, partitions: int):
    """``build_profiles``' filters: weight threshold, seeded cap, minimums until stable."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    kept = pairs
    if params.min_weight is not None:
        kept = pairs.where(F.col("w") >= F.lit(params.min_weight).cast("float"))  # compared in float32, as numpy does
        if kept.limit(1).count() == 0:
            raise no_weight_left(params, float(pairs.agg(F.max("w")).first()[0]))
    if params.max_user_items is not None:
        cap = capped(pairs, params.max_user_items, params.seed, partitions)
        kept = cap if params.min_weight is None else cap.where(F.col("w") >= F.lit(params.min_weight).cast("float"))
    spark = pairs.sparkSession
    counts = _item_counts(kept)
    for _ in range(50):
        good = [i for i, n in counts.items() if n >= params.min_item_users]
        items = spark.createDataFrame(pd_frame({"icode": np.asarray(good, dtype=np.int32)}), "icode int")
        kept = kept.join(F.broadcast(items), "icode", "left_semi")
        kept = kept.withColumn("_n", F.count("*").over(Window.partitionBy("u"))).where(F.col("_n") >= params.min_user_items).drop("_n")
        kept = _checkpoint(kept)
        counts = _item_counts(kept)
        if all(n >= params.min_item_users for n in counts.values()):
            break
    return kept, counts


def indexed_interactions(spark, source: SparkInput, params: FilterParams, aggregate: str | None = None, partitions: int | None = None):
    """(the kept interactions as ``u`` long, ``i`` int column index, ``w`` float; their ``ItemTable``)."""
    from pyspark.sql import functions as F

    partitions = partitions or max(2, spark.sparkContext.defaultParallelism * 2)
    rows = positioned(spark, source)
    pairs, item_ids = deduplicated(rows, aggregate or source.params.aggregate, partitions, _name(source))
    n_input = pairs.count()
    kept, counts = filtered(pairs, params, partitions)
    kept_codes = np.array(sorted(c for c, n in counts.items() if n > 0), dtype=np.int64)
    lengths = kept.groupBy("u").agg(F.count("*").alias("n")).groupBy("n").agg(F.count("*").alias("users")).toPandas()
    n_users = int(lengths["users"].sum()) if not lengths.empty else 0
    if kept_codes.size == 0:
        raise nothing_left(params)
    check_kept(n_users, kept_codes.size)
    index = spark.createDataFrame(pd_frame({"icode": kept_codes.astype(np.int32), "i": np.arange(kept_codes.size, dtype=np.int32)}), "icode int, i int")
    frame = kept.join(F.broadcast(index), "icode").select("u", "i", "w")
    item_users = np.array([counts[int(c)] for c in kept_codes], dtype=np.int64)
    table = ItemTable(
        item_ids=_as_str_ids(item_ids[kept_codes]),
        item_source=kept_codes,
        item_users=item_users,
        counts=_summary(lengths, item_users, n_input),
        pair_updates=int((lengths["n"].astype(np.int64) ** 2 * lengths["users"].astype(np.int64)).sum()),
    )
    log.info("kept %d users, %d items, %d interactions on Spark", n_users, kept_codes.size, table.counts["interactions"])
    return frame, table


def _summary(lengths, item_users: np.ndarray, n_input: int) -> dict:
    """``Profiles.summary()`` from the histogram of profile lengths (exact medians)."""
    by_length = lengths.sort_values("n")
    values, weights = by_length["n"].to_numpy(np.int64), by_length["users"].to_numpy(np.int64)
    total = int(weights.sum())
    cum = np.cumsum(weights)
    lo = values[np.searchsorted(cum, (total - 1) // 2 + 1)]
    hi = values[np.searchsorted(cum, total // 2 + 1)]
    return {
        "users": total,
        "items": int(item_users.shape[0]),
        "interactions": int((values * weights).sum()),
        "input_interactions": int(n_input),
        "median_profile_length": float((lo + hi) / 2),
        "max_profile_length": int(values.max()),
        "median_item_users": float(np.median(item_users)),
    }
