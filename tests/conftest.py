"""Shared fixtures: small synthetic data with planted communities, built once per session."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

# The thread tests need numba's pool to hold two threads; on a one-CPU runner numba would start
# one, and they could not run. Two threads on one CPU are slower, never wrong. Set before numba
# is first imported (``import atlas`` imports it).
if (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1) < 2 and "NUMBA_NUM_THREADS" not in os.environ:
    os.environ["NUMBA_NUM_THREADS"] = "2"

# ``atlas build`` and the app keep their stage cache in the user's cache folder by default
# (``cache.default_directory``): the tests, and the apps they serve, keep theirs in a folder of
# their own, removed at the end.
_CACHE_HOME = tempfile.mkdtemp(prefix="atlas-test-cache-")
os.environ["XDG_CACHE_HOME"] = _CACHE_HOME
atexit.register(shutil.rmtree, _CACHE_HOME, True)

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import skips  # noqa: E402

import atlas  # noqa: E402


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    skips.police(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    skips.police(outcome.get_result())


@pytest.fixture(scope="session")
def planted() -> atlas.Dataset:
    """600 users, 240 items in 6 communities; users draw 90% of their items from one community."""
    return atlas.synthetic_profiles(600, 240, n_communities=6, mean_profile_length=15, in_community=0.9, seed=3)


@pytest.fixture(scope="session")
def small_params() -> atlas.BuildParams:
    return atlas.BuildParams(
        filter=atlas.FilterParams(min_item_users=3, min_user_items=2),
        graph=atlas.GraphParams(n_neighbors=10),
        embed=atlas.EmbedParams(max_iter=200),
        projections=(atlas.UmapParams(n_neighbors=15, n_epochs=200), atlas.TsneParams(perplexity=15, n_iter=300)),
    )


@pytest.fixture(scope="session")
def built(planted, small_params) -> atlas.BuildResult:
    return atlas.Pipeline().build(planted, small_params)


def dense_cooccurrence(profiles: atlas.Profiles) -> np.ndarray:
    """Shared users per pair of items (XᵀX of the binary profile matrix)."""
    x = binary_profiles(profiles)
    return x.T @ x


def binary_profiles(profiles: atlas.Profiles) -> np.ndarray:
    x = profiles.matrix.copy()
    x.data[:] = 1.0
    return x.toarray().astype(np.float64)


@pytest.fixture
def max_pair_weight():
    """A pair weight registered by a test, not by the package: max(w_i, w_j). Defined inside the
    fixture, so that a Spark worker receives the class itself rather than a module to import."""
    from atlas import pairweights

    @pairweights.register
    class Maximum(pairweights.PairWeight):
        name = "max"
        description = "max(w_i, w_j): a pair is as strong as its stronger interaction"

        @staticmethod
        def contribute(wi, wj):
            return max(wi, wj)

        def spark_column(self, wi, wj):
            from pyspark.sql import functions as F

            return F.greatest(wi, wj)

    yield pairweights.get_pair_weight("max")
    pairweights.unregister("max")
