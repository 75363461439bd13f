"""How ``Build`` declares its stages: what each reads, what it follows, and what it computed.

A stage's *signature* is the parameters it reads (``inputs``) and the signatures of the stages it
follows (``after``); a build made with other parameters keeps every computed stage whose
signature is unchanged (``Build.with_params``).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .cache import _plain
from .errors import AtlasError
from .plan import BuildParams

STAGE_THREAD_PREFIX = "atlas-stage-"
"""The name of each thread computing stages side by side, before its number."""

Progress = Callable[[str, float, float], None]
"""``progress(stage, done, total)``: called when a stage starts (done=0), as it advances, and
when it ends (done=total)."""

Inputs = tuple  # names of BuildParams fields, or callables of the parameters


class stage:
    """Declares a stage of ``Build``: ``@stage("graph", after=("profiles", "candidates"), inputs=("graph",))``.

    ``after`` names the stages whose results it reads (or is a function of the parameters, for
    stages that follow every projection); ``inputs`` the ``BuildParams`` fields it reads (a name,
    or a function of the parameters for a part of one). On a ``Build`` the decorated method is
    read as a property: ``build.graph``. ``timed`` reports the stage's whole time under its name
    (for stages made of several cached steps); ``per_projection`` stages are read with
    ``build.layout(name)``.
    """

    def __init__(self, name: str, *, after=(), inputs: Inputs = (), timed: bool = False, per_projection: bool = False) -> None:
        self.name, self.after, self.inputs, self.timed, self.per_projection = name, after, inputs, timed, per_projection
        self.compute: Callable | None = None

    def __call__(self, compute: Callable) -> stage:
        self.compute = compute
        self.__doc__ = compute.__doc__
        return self

    def __set_name__(self, owner, attr: str) -> None:
        owner.STAGES = {**getattr(owner, "STAGES", {}), self.name: self}

    def __get__(self, build, owner=None):
        if build is None:
            return self
        if self.per_projection:
            return build.layout
        return build.get(self.name)

    def upstream(self, params: BuildParams) -> tuple[str, ...]:
        return tuple(self.after(params) if callable(self.after) else self.after)


@dataclass
class StageValue:
    """A stage's value, the signature it was computed for, how long its steps took, whether they
    came from the cache and the threads of those computed."""

    signature: str
    value: Any
    timings: dict[str, float]
    cached: dict[str, bool]
    threads: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, signature: str, value, runner) -> StageValue:
        return cls(signature, value, dict(runner.timings), dict(runner.cached), dict(runner.threads))


class Stages:
    """Stages computed once each, on first use, with the signature of what they read: the
    bookkeeping of ``Build``, whose methods declared with ``@stage`` are the stages.

    A subclass computes one stage in ``_compute`` and may add to a stage's signature what its
    parameters do not say (``_identity``). Two threads reading one stage compute it once.
    """

    STAGES: dict[str, stage]

    def __init__(self, params: BuildParams) -> None:
        self.params = params
        self._done: dict[str, StageValue] = {}
        self._signatures: dict[str, str] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def _compute(self, name: str) -> StageValue:
        raise NotImplementedError

    def _identity(self, name: str) -> tuple:
        """What stage ``name``'s signature holds besides its inputs and upstream stages."""
        return ()

    def get(self, name: str):
        """The value of stage ``name`` (``"layout:umap"`` for one projection's), computed once."""
        done = self._done.get(name)
        if done is not None:
            return done.value
        with self._lock:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            done = self._done.get(name)
            if done is None:
                done = self._compute(name)
                self._done[name] = done
        return done.value

    def compute_side_by_side(self, names: Sequence[str], cores: int) -> None:
        """Compute the stages ``names`` (independent of each other, their upstream computed here
        first) in as many threads at once as there are ``cores`` to run them, each thread with an
        equal share of them (``cores.Lanes``: a thread that runs out of stages leaves its share to
        the others); with one core, here, one after the other. Stages in
        threads of their own must give what they give alone: every stage with a thread rule
        (``cores.STAGE_RULES``) does. The first failure, in the order of ``names``, is raised
        once all have stopped; Ctrl-C stops waiting at once (the threads are daemons)."""
        names = [name for name in names if not self.has(name)]
        for name in names:
            for up in self.upstream(name):
                self.get(up)
        workers = min(cores, len(names))
        if workers <= 1:
            for name in names:
                self.get(name)
            return
        from .cores import Lanes

        lanes = Lanes(cores, workers)
        queue = list(reversed(names))
        failed: dict[str, BaseException] = {}

        def work() -> None:
            with lanes.lane():
                while True:
                    with self._lock:
                        if not queue or failed:
                            return
                        name = queue.pop()
                    try:
                        self.get(name)
                    except BaseException as exc:  # noqa: BLE001 — raised again in the caller's thread
                        failed[name] = exc

        threads = [threading.Thread(target=work, name=f"{STAGE_THREAD_PREFIX}{i}", daemon=True) for i in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)  # a timed wait, so that Ctrl-C reaches this thread at once
        for name in names:
            if name in failed:
                raise failed[name]

    def has(self, name: str) -> bool:
        """Whether stage ``name`` is computed (here, or shared from the build this one came from)."""
        return name in self._done

    def from_cache(self, *names: str) -> bool | None:
        """Whether stages ``names`` were read from the stage cache, every step of them (None
        while one of them is not computed, or when they ran no cached step)."""
        steps = []
        for name in names:
            done = self._done.get(name)
            if done is None:
                return None
            steps += [hit for step, hit in done.cached.items() if step != "load"]
        return all(steps) if steps else None

    def _spec(self, name: str) -> tuple[stage, str | None]:
        base, _, arg = name.partition(":")
        spec = self.STAGES.get(base)
        if spec is None or bool(arg) != spec.per_projection:
            raise AtlasError(f"a build has no stage {name!r}; its stages are {', '.join(self.STAGES)}.")
        return spec, arg or None

    def upstream(self, name: str) -> tuple[str, ...]:
        spec, _ = self._spec(name)
        return spec.upstream(self.params)

    def signature(self, name: str) -> str:
        """What stage ``name``'s value depends on: its inputs and its upstream stages' signatures."""
        known = self._signatures.get(name)
        if known is not None:
            return known
        spec, arg = self._spec(name)
        parts: list[Any] = [name]
        for one in spec.inputs:
            parts.append(one(self) if callable(one) else getattr(self.params, one))
        if arg is not None:
            parts.append(self.params.projection(arg))
        parts += self._identity(name)
        parts += [self.signature(up) for up in spec.upstream(self.params)]
        digest = hashlib.sha256(repr(_plain(parts)).encode()).hexdigest()[:24]
        self._signatures[name] = digest
        return digest

    def _steps(self) -> tuple[dict[str, float], dict[str, bool]]:
        """Seconds and cache hits per step of the stages read so far; a step computed in one stage
        and found in the cache by a later one (the neighbour search) keeps its computed time."""
        timings: dict[str, float] = {}
        cached: dict[str, bool] = {}
        for done in self._done.values():
            for step, seconds in done.timings.items():
                if done.cached.get(step) and cached.get(step) is False:
                    continue
                timings[step] = seconds
                if step in done.cached:
                    cached[step] = done.cached[step]
        return timings, cached

    @property
    def timings(self) -> dict[str, float]:
        """Seconds per step of the stages computed so far (shared stages keep their own)."""
        return self._steps()[0]

    @property
    def cached(self) -> dict[str, bool]:
        """Whether each step came from the stage cache."""
        return self._steps()[1]

    @property
    def threads(self) -> dict[str, int]:
        """The threads of each step computed (not read from the cache) so far."""
        return {k: v for done in self._done.values() for k, v in done.threads.items()}
