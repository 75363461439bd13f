"""The inputs of the core benchmark: data sets prepared once in a child and handed to the
measured children as ``.npz`` files, and the numba warm-up that keeps compilation out of the
timed calls. Only atlas's public API is used."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

# Synthetic data of the co-occurrence and end-to-end parts: about 50M interactions after the
# default filters; and the small sizes of --quick.
FULL_SYNTHETIC = {"n_users": 1_000_000, "n_items": 20_000, "mean_profile_length": 60.0}
QUICK_SYNTHETIC = {"n_users": 60_000, "n_items": 4_000, "mean_profile_length": 30.0}
# The graph part in --quick mode: a small synthetic set instead of MovieLens and gowalla.
QUICK_GRAPH_SYNTHETIC = {"n_users": 3_000, "n_items": 600, "mean_profile_length": 25.0}


def save_interactions(inter, path: str) -> dict:
    np.savez(path, user=inter.user, item=inter.item, weight=inter.weight)
    return {"interactions": len(inter), "users": inter.n_users, "items": inter.n_items}


def load_interactions(path: str):
    """The saved interactions as ``atlas.Interactions`` (ids are the saved codes)."""
    from atlas import from_arrays

    z = np.load(path)
    return from_arrays(z["user"], z["item"], z["weight"], fingerprint=Path(path).stem)


def save_profiles(profiles, path: str) -> None:
    m = profiles.matrix
    np.savez(path, data=m.data, indices=m.indices, indptr=m.indptr, shape=np.array(m.shape))


def load_profiles(path: str):
    """Saved filtered profiles as ``atlas.Profiles`` (no filter runs again)."""
    import scipy.sparse as sp

    from atlas import Profiles

    z = np.load(path)
    shape = tuple(int(v) for v in z["shape"])
    matrix = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=shape)
    item_users = np.bincount(matrix.indices, minlength=shape[1]).astype(np.int64)
    return Profiles(
        matrix=matrix, user_ids=np.arange(shape[0]), item_ids=np.arange(shape[1]),
        item_source=np.arange(shape[1]), item_users=item_users, n_input_interactions=int(matrix.nnz),
    )


def warm_numba() -> float:
    """First call of the co-occurrence and graph code on a tiny input (compile or cache load)."""
    from atlas import CooccurrenceParams, FilterParams, build_profiles, cooccurrence_candidates, graph_from_candidates, synthetic_profiles

    tiny = build_profiles(synthetic_profiles(400, 60, mean_profile_length=12, seed=1), FilterParams(min_item_users=2, min_user_items=2))
    start = time.perf_counter()
    for weighting in ("count", "cosine"):
        graph_from_candidates(cooccurrence_candidates(tiny, CooccurrenceParams(weighting=weighting, n_candidates=16)))
    return time.perf_counter() - start


# Tasks (each runs in its own child process; see harness.Runner).


def task_prepare_gowalla(args: dict) -> dict:
    """The union of gowalla's train, valid and test files, saved as interactions."""
    from atlas import from_arrays, load_interactions as read_file

    start = time.perf_counter()
    users, items = [], []
    for name in ("train.txt", "valid.txt", "test.txt"):
        path = Path(args["dir"]) / name
        if path.exists():
            part = read_file(path)
            users.append(part.user_ids[part.user])
            items.append(part.item_ids[part.item])
    inter = from_arrays(np.concatenate(users), np.concatenate(items))
    return {**save_interactions(inter, args["out"]), "read_seconds": time.perf_counter() - start}


def task_prepare_movielens(args: dict) -> dict:
    from atlas import demo_movielens

    return save_interactions(demo_movielens().interactions, args["out"])


def task_prepare_synthetic(args: dict) -> dict:
    """Synthetic interactions (saved as interactions) and, optionally, their filtered profiles."""
    from atlas import FilterParams, build_profiles, synthetic_profiles

    start = time.perf_counter()
    data = synthetic_profiles(**args["synthetic"])
    out = {"generate_seconds": time.perf_counter() - start, "generated_interactions": len(data.interactions)}
    if args.get("interactions_out"):
        out.update(save_interactions(data.interactions, args["interactions_out"]))
    if args.get("profiles_out"):
        profiles = build_profiles(data, FilterParams())
        save_profiles(profiles, args["profiles_out"])
        out.update(profiles.summary())
        out["pair_updates"] = profiles.pair_updates
    return out


def task_compile(args: dict) -> dict:
    """Numba compile time of the co-occurrence and graph code (run with an empty numba cache)."""
    import numba

    return {"compile_seconds": warm_numba(), "numba_cache_dir": os.environ.get("NUMBA_CACHE_DIR"), "threads": numba.get_num_threads()}
