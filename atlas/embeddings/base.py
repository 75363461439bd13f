"""What every embedding method shares: the registry and the inputs a method may read.

An embedding method is one class in one module of this package (``pymde.py``, ``svd.py``,
``als.py``), decorated with ``@register``: it names its parameter dataclass (whose offered
fields become ``atlas build`` flags and app controls), says whether it reads the item graph or
the profile matrix, and fits an ``Embedding``. Everything that lists methods — the
``--embedding`` flag, the app's dropdown, the manifest, the cache key — asks the registry.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ..embed import Embedding
from ..errors import AtlasError
from ..graph import ItemGraph

Progress = Callable[[int, int], None]
"""``progress(done, total)``: called as a method advances."""


@dataclass(frozen=True, eq=False)
class EmbeddingInputs:
    """What a method may read: the filtered profiles (users × items matrix) and the item graph."""

    profiles: Any = None  # atlas.profiles.Profiles
    graph: ItemGraph | None = None

    @property
    def n_items(self) -> int:
        if self.graph is not None:
            return int(self.graph.n_items)
        return int(self.profiles.n_items)


class EmbeddingMethod:
    """One way from the interactions to item vectors. Subclasses set the attributes and ``fit``."""

    name: ClassVar[str]  # registry key and value of --embedding
    title: ClassVar[str]
    Params: ClassVar[type]  # frozen dataclass with a ``seed`` field; offered fields use ``options.option``
    order: ClassVar[int] = 100
    reads: ClassVar[tuple[str, ...]] = ("graph",)  # "graph" and/or "profiles"
    #: The distributions it runs (their versions go into every manifest).
    libraries: ClassVar[tuple[str, ...]] = ()

    def fit(self, inputs: EmbeddingInputs, params, *, progress: Progress | None = None) -> Embedding:
        raise NotImplementedError

    def check(self, inputs: EmbeddingInputs, params) -> None:
        """Refuse inputs the method cannot read, saying what would work."""
        if "profiles" in self.reads and (inputs.profiles is None or not hasattr(inputs.profiles, "matrix")):
            raise AtlasError(
                f"the {self.name!r} embedding reads the profile matrix, which this build does not hold on this machine "
                "(a candidates file or a Spark input); use --embedding pymde."
            )
        if "graph" in self.reads and inputs.graph is None:
            raise AtlasError(f"the {self.name!r} embedding is made from the item graph; pass graph=.")


_REGISTRY: dict[str, EmbeddingMethod] = {}

#: The method a build uses when none is chosen.
DEFAULT = "svd"


def register(cls: type[EmbeddingMethod]) -> type[EmbeddingMethod]:
    """Class decorator: make a method available under ``cls.name``."""
    if cls.name in _REGISTRY and type(_REGISTRY[cls.name]) is not cls:
        raise RuntimeError(f"two embedding methods are called {cls.name!r}")
    _REGISTRY[cls.name] = cls()
    cls.Params.embedding_method = cls.name
    return cls


def methods() -> dict[str, EmbeddingMethod]:
    """Every registered method by name, in display order."""
    return dict(sorted(_REGISTRY.items(), key=lambda item: (item[1].order, item[0])))


def names() -> tuple[str, ...]:
    return tuple(methods())


def libraries() -> tuple[str, ...]:
    """The distributions every registered method runs, each once, in registry order."""
    return tuple(dict.fromkeys(lib for method in methods().values() for lib in method.libraries))


def get(name: str) -> EmbeddingMethod:
    """The method called ``name``; a one-line error lists the others."""
    if name not in _REGISTRY:
        raise AtlasError(f"Unsupported value {name!r} for --embedding; the supported values are {', '.join(map(repr, names()))}.")
    return _REGISTRY[name]


def of(params) -> EmbeddingMethod:
    """The method whose parameters ``params`` are."""
    name = getattr(type(params), "embedding_method", None)
    if name is None:
        raise AtlasError(f"{type(params).__name__} are not the parameters of an embedding method; use one of {', '.join(names())}.")
    return get(name)


def default_params():
    """The parameters of the default method."""
    return get(DEFAULT).Params()


def to_dict(params) -> dict:
    """``params`` as plain values, with the method's name under ``method``."""
    return {"method": of(params).name, **dataclasses.asdict(params)}


def from_dict(plain: Mapping[str, Any]):
    """The inverse of ``to_dict``; a record without ``method`` (written before there were
    several methods) is PyMDE's."""
    plain = dict(plain)
    method = get(plain.pop("method", "pymde"))
    return method.Params(**plain)


def embed(inputs: EmbeddingInputs, params, *, progress: Progress | None = None) -> Embedding:
    """The embedding of ``inputs`` by the method of ``params``."""
    method = of(params)
    method.check(inputs, params)
    embedding = method.fit(inputs, params, progress=progress)
    return dataclasses.replace(embedding, method=method.name, params=params)
