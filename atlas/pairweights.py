"""How a shared user's two interactions make a pair's weight: the pair weights, as named strategies.

Item i and item j, both in user u's profile with weights w_ui and w_uj, add ``pair(w_ui, w_uj)``
to the pair's accumulated weight ``s_ij`` — 1 for every shared user (``none``), the product of
the two ratings, or their minimum. A pair weight is one class here, decorated with ``@register``:

* ``contribute(w_i, w_j)``: what one shared user adds, plain Python that numba compiles into the
  co-occurrence kernel (float32 weights in; the kernel adds the result to a float32 sum);
* ``item_sums``: the per-item sums a weighting is built from (``ItemSums``: the diagonal
  Σ_u pair(w_ui, w_ui) and the mass), from each item's number of users, Σ w and Σ w²;
* ``spark_column``: the same contribution as a Spark SQL column (``--spark-formulation join``);
* ``weighted``: whether the weights matter at all (if they do, negative weights are refused).

Everything that lists pair weights — the ``--pair-weight`` flag, the app's dropdown, the
manifest's check, the cache key and both engines — asks this registry.

The kernel runs one compiled specialisation per pair weight, chosen once per call: it receives
``kernel_key`` (a number made of a digest of the class's code), which numba types as a literal,
a compile-time constant; so the contribution is inlined into the inner loop as if it were written
there, and numba's on-disk cache keeps one entry per pair weight, which a change to the class's
code makes unreachable (numba itself only watches the kernel's own file).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import marshal
from typing import ClassVar

import numba
import numpy as np
from numba import types
from numba.extending import overload, typeof_impl

from .errors import AtlasError, check_choice
from .weightings import ItemSums


class PairWeight:
    """One way of combining a shared user's two weights (subclass per pair weight, with ``@register``)."""

    name: ClassVar[str]
    description: ClassVar[str]
    weighted: ClassVar[bool] = True  # False: the weights are ignored, every shared user adds 1
    order: ClassVar[int] = 100  # place in the listings (the default first)

    @staticmethod
    def contribute(wi, wj):  # pragma: no cover - compiled into the kernel
        """What one shared user with weights ``wi`` and ``wj`` adds to the pair (numba-compilable)."""
        raise NotImplementedError

    def item_sums(self, counts: np.ndarray, sums: np.ndarray, squares: np.ndarray, n_users: int) -> ItemSums:
        """``ItemSums`` from each item's number of users, Σ w and Σ w² (float64). The default
        suits a pair weight with pair(w, w) = w (minimum, maximum, mean)."""
        return ItemSums(sums.astype(np.float64), sums.astype(np.float64), n_users)

    def integral(self, whole_weights: bool) -> bool:
        """Whether every pair's sum is a whole number, given whether every weight is (asked
        only of weighted pair weights: unweighted sums always are)."""
        return whole_weights

    def spark_column(self, wi, wj):
        """The contribution as a Spark SQL column of the two weight columns (float32, as in the kernel)."""
        raise AtlasError(f"the {self.name} pair weight has no Spark SQL form; use --spark-formulation blocks.")

    @functools.cached_property
    def fingerprint(self) -> str:
        """A digest of the code of this class and of those it inherits from: what the kernel's
        compiled specialisation and the stage cache's key depend on."""
        digest = hashlib.sha256()
        for cls in type(self).__mro__[:-1]:  # all but object
            try:
                text = inspect.getsource(cls).encode()
            except (OSError, TypeError):  # defined where its source cannot be read: its bytecode
                text = b"".join(marshal.dumps(v.__code__) for v in map(_function, vars(cls).values()) if v is not None)
            digest.update(f"{cls.__module__}.{cls.__qualname__}\0".encode() + text + b"\0")
        return digest.hexdigest()[:16]

    @property
    def kernel_key(self) -> KernelKey:
        """The compile-time constant that selects this pair weight's contribution in the kernel:
        a number made of ``fingerprint`` (a number rather than a string: the parallel loop then
        carries no reference-counted value)."""
        key = KernelKey(int(self.fingerprint[:15], 16))
        if key not in _COMPILED:  # also in a Spark worker that received this object
            _COMPILED[key] = numba.njit(inline="always")(type(self).contribute)
        return key


def _function(value):
    """The plain function behind a class attribute (a method or a static method), else None."""
    value = getattr(value, "__func__", value)
    return value if inspect.isfunction(value) else None


class KernelKey(int):
    """A pair weight's key as the kernel's argument: numba types it as a literal, so each pair
    weight compiles (and caches) its own kernel, without a branch or a call in the inner loop."""


@typeof_impl.register(KernelKey)
def _typeof_kernel_key(value, context):
    return types.literal(int(value))


_REGISTRY: dict[str, PairWeight] = {}
_COMPILED: dict[int, object] = {}  # kernel_key -> the jitted contribution


def register(cls: type[PairWeight]) -> type[PairWeight]:
    """Class decorator: make a pair weight available under ``cls.name``."""
    if cls.name in _REGISTRY and type(_REGISTRY[cls.name]) is not cls:
        raise RuntimeError(f"two pair weights are called {cls.name!r}")
    _REGISTRY[cls.name] = cls()
    return cls


def unregister(name: str) -> None:
    """Remove the pair weight called ``name`` (for tests that register their own)."""
    _REGISTRY.pop(name, None)


def pair_weights() -> dict[str, PairWeight]:
    """Every registered pair weight by name, in display order."""
    return dict(sorted(_REGISTRY.items(), key=lambda item: (item[1].order, item[0])))


def pair_weight_names() -> tuple[str, ...]:
    """The names ``--pair-weight`` accepts, the default first."""
    return tuple(pair_weights())


def get_pair_weight(name: str) -> PairWeight:
    """The pair weight called ``name``; a one-line error lists the others."""
    check_choice("pair_weight", name, pair_weight_names())
    return _REGISTRY[name]


def pair_contribution(key, wi, wj):  # pragma: no cover - replaced by the overload in compiled code
    """Inside the kernel: the contribution of the pair weight whose ``kernel_key`` is ``key``."""
    raise NotImplementedError("pair_contribution runs only inside numba-compiled code")


@overload(pair_contribution, inline="always")
def _pair_contribution(key, wi, wj):
    if not isinstance(key, types.IntegerLiteral):
        return None
    contribute = _COMPILED[key.literal_value]
    return lambda key, wi, wj: contribute(wi, wj)


# -- the pair weights --------------------------------------------------------------------------


@register
class Unweighted(PairWeight):
    name = "none"
    description = "every shared user adds 1 (binary profiles, the default)"
    weighted = False
    order = 0

    @staticmethod
    def contribute(wi, wj):
        return 1.0

    def item_sums(self, counts, sums, squares, n_users):
        counts = counts.astype(np.float64)
        return ItemSums(counts, counts, n_users)

    def spark_column(self, wi, wj):
        from pyspark.sql import functions as F

        return F.lit(1.0).cast("float")


@register
class Product(PairWeight):
    name = "product"
    description = "w_i · w_j, e.g. rating × rating"
    order = 1

    @staticmethod
    def contribute(wi, wj):
        return wi * wj

    def item_sums(self, counts, sums, squares, n_users):
        return ItemSums(squares.astype(np.float64), sums.astype(np.float64), n_users)

    def spark_column(self, wi, wj):
        return wi * wj  # a float32 product, as in the kernel


@register
class Minimum(PairWeight):
    name = "min"
    description = "min(w_i, w_j): a pair is as strong as its weaker interaction"
    order = 2

    @staticmethod
    def contribute(wi, wj):
        return min(wi, wj)

    def spark_column(self, wi, wj):
        from pyspark.sql import functions as F

        return F.least(wi, wj)
