"""Stage 3 on Spark: each item's best partners from interactions indexed on the cluster.

Input: a DataFrame of the kept interactions, ``u`` (long, ordered as the profile rows), ``i``
(int, the profile column) and ``w`` (float). Output: the same ``atlas.Candidates`` as
:func:`atlas.cooccurrence_candidates`. Only items × ``n_candidates`` rows come back.

The same answer, not a close one:

* the per-item sums (users, Σw, Σw²) are summed in float64 as the kernel sums them, and the
  weighting's key terms are computed from them by the same code on the driver;
* ``s_ij`` is a float32 value, the key ``s · scale[j] / (half[i] + half[j])`` is computed in
  float64 and rounded to float32, a pair is accepted when ``s ≥ min_count`` and the float64 key
  exceeds ``threshold[i]``, rejected pairs get −1/(1+s) — all as in the kernel;
* partners are ranked by (key descending, partner index ascending), the kernel's tie rule;
* scores and counts are recovered from the keys by the same function (``candidates_from_keys``).

With ``pair_weight='none'`` (any pair weight that is not ``weighted``) every ``s`` is a whole number and the result is identical, bit for
bit. Weighted pair sums are identical too in ``blocks`` (the kernel itself sums them, users in
the same order); in ``join`` Spark sums them in float64 in its own order, which can move the
last bit of a float32 ``s`` when the weights are not exactly representable sums.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from ..cooccur import Candidates, CooccurrenceParams, candidates_from_keys, check_no_negative_weights
from ..errors import AtlasError
from ..pairweights import PairWeight, get_pair_weight
from ..weightings import KeyTerms, get_weighting
from . import EngineParams

log = logging.getLogger(__name__)

RESULT_SCHEMA = "i int, rank int, j int, key float"


def item_statistics(frame, n_items: int):
    """Per item: users, Σw and Σw² (float64); and whether every weight is whole, how many are negative."""
    from pyspark.sql import functions as F

    w = F.col("w").cast("double")
    stats = frame.groupBy("i").agg(F.count("*").alias("n"), F.sum(w).alias("s"), F.sum(w * w).alias("q")).toPandas()
    overall = frame.agg(F.sum((F.col("w") < 0).cast("long")).alias("neg"), F.max(F.abs(w - F.rint(w))).alias("frac")).first()
    counts, sums, squares = np.zeros(n_items), np.zeros(n_items), np.zeros(n_items)
    idx = stats["i"].to_numpy(np.int64)
    counts[idx], sums[idx], squares[idx] = stats["n"].to_numpy(np.float64), stats["s"].to_numpy(np.float64), stats["q"].to_numpy(np.float64)
    return counts, sums, squares, int(overall["neg"] or 0), (overall["frac"] or 0.0) == 0.0


def _block_kernel(terms_bc, n_blocks: int, m: int, pair: PairWeight, min_count: float):
    """The function each item block runs: the numba kernel on the block's users' full profiles
    (``pair`` travels with it, so a worker runs a pair weight that only the driver registered)."""

    def run(table):
        import numba
        import pyarrow as pa

        from atlas.cooccur_kernel import candidate_rows
        from atlas.weightings import KeyTerms

        numba.set_num_threads(1)  # Spark runs one task per core
        scale_all, half_all, thr_all = terms_bc.value
        block = int(table.column("b")[0].as_py())
        u = table.column("u").to_numpy()
        i = table.column("i").to_numpy().astype(np.int64)
        w = table.column("w").to_numpy().astype(np.float32)
        users, row = np.unique(u, return_inverse=True)  # users in profile order
        items, col = np.unique(i, return_inverse=True)  # local columns keep the global order (the tie rule)
        by_row = np.lexsort((col, row))
        by_col = np.lexsort((row, col))
        user_ptr = np.searchsorted(row[by_row], np.arange(users.shape[0] + 1)).astype(np.int64)
        item_ptr = np.searchsorted(col[by_col], np.arange(items.shape[0] + 1)).astype(np.int64)
        targets = np.flatnonzero(items % n_blocks == block).astype(np.int64)
        out_index = np.full((items.shape[0], m), -1, dtype=np.int32)
        out_key = np.full((items.shape[0], m), -np.inf, dtype=np.float32)
        arrays = {
            "user_ptr": user_ptr, "user_items": col[by_row].astype(np.int32), "user_w": w[by_row],
            "item_ptr": item_ptr, "item_users": row[by_col].astype(np.int32), "item_w": w[by_col],
        }
        terms = KeyTerms(scale_all[items], half_all[items], thr_all[items])
        candidate_rows([targets], arrays, pair, terms, min_count, out_index, out_key)
        local = out_index[targets]
        ok = local >= 0
        rows, ranks = np.nonzero(ok)
        return pa.table({
            "i": pa.array(items[targets[rows]].astype(np.int32)), "rank": pa.array(ranks.astype(np.int32)),
            "j": pa.array(items[local[ok]].astype(np.int32)), "key": pa.array(out_key[targets][ok]),
        })

    return run


def _blocks(frame, terms: KeyTerms, params: CooccurrenceParams, m: int, n_blocks: int):
    from pyspark.sql import functions as F

    spark = frame.sparkSession
    terms_bc = spark.sparkContext.broadcast((terms.scale, terms.half, terms.threshold))
    profiles = frame.groupBy("u").agg(F.collect_list(F.struct("i", "w")).alias("p"))
    blocks = F.array_distinct(F.transform("p", lambda x: F.pmod(x["i"], F.lit(n_blocks))))
    rows = profiles.select(F.explode(blocks).alias("b"), "u", "p").select("b", "u", F.inline("p"))
    kernel = _block_kernel(terms_bc, n_blocks, m, get_pair_weight(params.pair_weight), float(params.min_count))
    grouped = rows.groupBy("b")
    if hasattr(grouped, "applyInArrow"):
        return grouped.applyInArrow(kernel, RESULT_SCHEMA)

    def as_pandas(frame_):  # Spark 3.5: the same kernel through pandas
        import pyarrow as pa

        return kernel(pa.Table.from_pandas(frame_, preserve_index=False)).to_pandas()

    return grouped.applyInPandas(as_pandas, RESULT_SCHEMA)


def _join(frame, terms: KeyTerms, params: CooccurrenceParams, m: int):
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    spark = frame.sparkSession
    a = frame.select("u", "i", F.col("w").alias("wi"))
    b = frame.select("u", F.col("i").alias("j"), F.col("w").alias("wj"))
    contribution = get_pair_weight(params.pair_weight).spark_column(F.col("wi"), F.col("wj"))
    pairs = a.join(b, "u").where(F.col("i") != F.col("j")).groupBy("i", "j").agg(F.sum(contribution).cast("float").alias("s"))
    n = terms.scale.shape[0]
    table = spark.createDataFrame(
        _frame({"t": np.arange(n, dtype=np.int32), "scale": terms.scale, "half": terms.half, "thr": terms.threshold}),
        "t int, scale double, half double, thr double",
    )
    left = table.select(F.col("t").alias("i"), F.col("half").alias("half_i"), F.col("thr").alias("thr_i"))
    right = table.select(F.col("t").alias("j"), F.col("half").alias("half_j"), F.col("scale").alias("scale_j"))
    keyed = pairs.join(F.broadcast(left), "i").join(F.broadcast(right), "j")
    s = F.col("s").cast("double")
    key = s * F.col("scale_j") / (F.col("half_i") + F.col("half_j"))
    accepted = (s >= F.lit(float(params.min_count))) & (key > F.col("thr_i"))
    keyed = keyed.select("i", "j", F.when(accepted, key).otherwise(F.lit(-1.0) / (F.lit(1.0) + s)).cast("float").alias("key"))
    order = Window.partitionBy("i").orderBy(F.col("key").desc(), F.col("j").asc())
    ranked = keyed.withColumn("rank", F.row_number().over(order) - 1).where(F.col("rank") < m)
    return ranked.select(F.col("i").cast("int"), F.col("rank").cast("int"), F.col("j").cast("int"), "key")


def _frame(columns: dict):
    import pandas as pd

    return pd.DataFrame(columns)


def default_blocks(spark, n_interactions: int) -> int:
    """Two blocks per core Spark offers, more when the data is large (about 25M interactions a block)."""
    return int(max(2 * spark.sparkContext.defaultParallelism, math.ceil(n_interactions / 25_000_000)))


def spark_candidates(frame, n_items: int, n_users: int, pair_updates: int, params: CooccurrenceParams, engine: EngineParams) -> Candidates:
    """Each item's ``params.n_candidates`` best partners, computed by Spark (``engine.formulation``)."""
    if n_items < 2:
        raise AtlasError("co-occurrence needs at least two items; lower the filters.")
    m = min(params.n_candidates, n_items - 1)
    counts, sums, squares, n_negative, whole = item_statistics(frame, n_items)
    pair = get_pair_weight(params.pair_weight)
    if pair.weighted:
        check_no_negative_weights(n_negative, params.pair_weight)
    item_total = pair.item_sums(counts, sums, squares, n_users)
    terms = get_weighting(params.weighting).terms(item_total)
    spark = frame.sparkSession
    if engine.formulation == "blocks":
        n_blocks = engine.partitions or default_blocks(spark, int(counts.sum()))
        rows = _blocks(frame, terms, params, m, n_blocks)
    else:
        if engine.partitions:
            spark.conf.set("spark.sql.shuffle.partitions", str(engine.partitions))
        rows = _join(frame, terms, params, m)
    result = rows.toPandas()
    index = np.full((n_items, m), -1, dtype=np.int32)
    key = np.full((n_items, m), -np.inf, dtype=np.float32)
    i, r = result["i"].to_numpy(np.int64), result["rank"].to_numpy(np.int64)
    index[i, r] = result["j"].to_numpy(np.int32)
    key[i, r] = result["key"].to_numpy(np.float32)
    integral = not pair.weighted or pair.integral(whole)
    log.info("spark (%s): %d candidate rows for %d items", engine.formulation, len(result), n_items)
    return candidates_from_keys(params.weighting, index, key, item_total, integral, pair_updates)
