"""How a pair of items is scored: the weightings of the co-occurrence stage, as named strategies.

The co-occurrence kernel never computes a weighting's score while it ranks partners: for item i
it compares *rank keys* of the form

    key(i, j) = s_ij · scale[j] / (half[i] + half[j])

where ``s_ij = Σ_u pair(w_ui, w_uj)`` is the pair's accumulated weight (:mod:`atlas.pairweights`) and ``scale``/``half``
are per-item vectors that the weighting provides (``KeyTerms``). For a fixed i the key orders
partners exactly as the score does, so only the winners' scores are ever computed, from their
keys, by the weighting's exact inverses (``counts`` and ``scores``). A pair is *accepted* when
its key exceeds ``threshold[i]`` (PMI: score > 0) and ``s_ij ≥ min_count``.

A new weighting is one subclass here with its name in ``WEIGHTINGS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np


@dataclass(frozen=True)
class ItemSums:
    """Per-item sums over the profile matrix that every weighting is built from.

    ``self_pair[i]`` is Σ_u pair(w_ui, w_ui) — the diagonal of the pair-weight matrix (the
    number of users for plain counts, Σ w² for products, Σ w for minimums; each pair weight of
    :mod:`atlas.pairweights` says which); ``mass[i]`` is
    Σ_u w_ui (the number of users for plain counts); ``n_users`` is the number of profiles.
    """

    self_pair: np.ndarray  # float64, n_items
    mass: np.ndarray  # float64, n_items
    n_users: int


@dataclass(frozen=True)
class KeyTerms:
    """The per-item vectors of the kernel's rank key and acceptance rule (all float64)."""

    scale: np.ndarray
    half: np.ndarray
    threshold: np.ndarray


class Weighting:
    """One way of scoring a pair from its accumulated weight ``s`` (subclass per weighting)."""

    name: ClassVar[str]
    description: ClassVar[str]

    def terms(self, sums: ItemSums) -> KeyTerms:
        n = sums.self_pair.shape[0]
        return KeyTerms(np.ones(n), np.full(n, 0.5), np.zeros(n))

    def count_from_key(self, key: np.ndarray, i: np.ndarray, j: np.ndarray, sums: ItemSums) -> np.ndarray:
        """``s`` from the rank key of accepted pairs (the inverse of the key)."""
        terms = self.terms(sums)
        return key * (terms.half[i] + terms.half[j]) / terms.scale[j]

    def score_from_key(self, key: np.ndarray, i: np.ndarray, sums: ItemSums) -> np.ndarray:
        """The weighting's score of accepted pairs, from their rank keys."""
        raise NotImplementedError

    def score(self, s: np.ndarray, i: np.ndarray, j: np.ndarray, sums: ItemSums) -> np.ndarray:
        """The weighting's score straight from ``s`` (for other engines and for tests)."""
        raise NotImplementedError


class Count(Weighting):
    name = "count"
    description = "the pair's accumulated weight (shared users for binary profiles)"

    def count_from_key(self, key, i, j, sums):
        return key.copy()

    def score_from_key(self, key, i, sums):
        return key.copy()

    def score(self, s, i, j, sums):
        return s.astype(np.float64)


class Cosine(Weighting):
    name = "cosine"
    description = "s / sqrt(self_i · self_j): popular items do not dominate"

    def terms(self, sums):
        base = super().terms(sums)
        with np.errstate(divide="ignore"):
            return KeyTerms(1.0 / np.sqrt(sums.self_pair), base.half, base.threshold)

    def count_from_key(self, key, i, j, sums):
        return key * np.sqrt(sums.self_pair[j])

    def score_from_key(self, key, i, sums):
        return key / np.sqrt(sums.self_pair[i])

    def score(self, s, i, j, sums):
        return s / np.sqrt(sums.self_pair[i] * sums.self_pair[j])


class Jaccard(Weighting):
    name = "jaccard"
    description = "s / (self_i + self_j − s): overlap relative to the union"

    def terms(self, sums):
        base = super().terms(sums)
        return KeyTerms(base.scale, sums.self_pair.astype(np.float64), base.threshold)

    def count_from_key(self, key, i, j, sums):
        return key * (sums.self_pair[i] + sums.self_pair[j])

    def score_from_key(self, key, i, sums):
        # key = s / (a + b) and J = s / (a + b − s)  ⇒  J = key / (1 − key)
        return key / (1.0 - key)

    def score(self, s, i, j, sums):
        return s / (sums.self_pair[i] + sums.self_pair[j] - s)


class Pmi(Weighting):
    name = "pmi"
    description = "positive pointwise mutual information log(s · N / (mass_i · mass_j))"

    def terms(self, sums):
        base = super().terms(sums)
        with np.errstate(divide="ignore"):
            scale = 1.0 / sums.mass
        # PMI > 0  ⟺  s·N / (m_i m_j) > 1  ⟺  s / m_j > m_i / N
        return KeyTerms(scale, base.half, sums.mass / sums.n_users)

    def count_from_key(self, key, i, j, sums):
        return key * sums.mass[j]

    def score_from_key(self, key, i, sums):
        return np.log(key * sums.n_users / sums.mass[i])

    def score(self, s, i, j, sums):
        return np.log(s * sums.n_users / (sums.mass[i] * sums.mass[j]))


_ALL = (Count, Cosine, Jaccard, Pmi)
WEIGHTINGS: tuple[str, ...] = tuple(cls.name for cls in _ALL)
_BY_NAME = {cls.name: cls for cls in _ALL}


def get_weighting(name: str) -> Weighting:
    """The strategy called ``name`` (one of ``WEIGHTINGS``)."""
    from .errors import check_choice

    check_choice("weighting", name, WEIGHTINGS)
    return _BY_NAME[name]()
