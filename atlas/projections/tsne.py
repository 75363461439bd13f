"""t-SNE (openTSNE): the local "archipelago" (perplexity 25–40, early exaggeration ~1.3–12)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..cores import FreeCores, fitted_thread_count
from ..errors import AtlasError, check_range, check_seed
from ..options import grid, option
from .base import Projection, ProjectionInputs, Throttle, pca_init, quiet_logger, register
from .tsne_affinities import GradientOnly, joint_affinities


@dataclass(frozen=True)
class TsneParams:
    """openTSNE's main knobs; ``n_iter`` counts the iterations after early exaggeration."""

    perplexity: float = option(20.0, "--perplexity", "t-SNE perplexity (default 20)", steps=grid(5, 100, 5))
    early_exaggeration: float = option(
        12.0, "--early-exaggeration", "t-SNE early exaggeration (default 12)", steps=(1.0, 1.3, 2.0, 4.0, 8.0, 12.0, 16.0, 24.0)
    )
    learning_rate: float | str = "auto"
    dof: float = option(1.0, "--dof", "t-SNE degrees of freedom (default 1; lower: tighter clusters)", steps=grid(0.2, 2.0, 0.1), label="degrees of freedom")
    n_iter: int = option(500, "--tsne-iter", "t-SNE iterations after early exaggeration (default 500)", steps=(250, 500, 750, 1000, 1500))
    exaggeration_iter: int = option(250, "--tsne-exaggeration-iter", "t-SNE early exaggeration iterations (default 250)")
    # 50 refining steps: at 100k items, refinements from perplexity 20 to 10, 30 and 40 kept 99.4–99.6%
    # of the embedding's 10-NN recall that 100 reach (0.4803 / 0.4738 / 0.4709 against 0.4830 / 0.4756 /
    # 0.4727) at the same label agreement, above a fresh run from PCA (0.451 / 0.442 / 0.431), in half
    # the time (bench/README "A new perplexity in fewer steps")
    warm_iter: int = option(50, "--tsne-warm-iter", "t-SNE iterations when refining the layout on screen after a change (default 50)")
    max_intervals: int = option(
        100, "--tsne-max-intervals", "t-SNE's FFT grid: at most this many intervals across the map (default 100; more: a little more exact, slower on large maps)"
    )
    landmarks: int | None = option(None, "--tsne-landmarks", "t-SNE: lay out N landmark items first and place the rest from their neighbours (0: every item at once; default: from 150,000 items, a fifth of them, at least 50,000)")
    seed: int = 0

    def __post_init__(self) -> None:
        check_range("t-SNE perplexity", self.perplexity, 1.0, 500.0)
        check_range("t-SNE early_exaggeration", self.early_exaggeration, 1.0, 100.0)
        check_range("t-SNE dof", self.dof, 0.05, 100.0)
        check_range("t-SNE n_iter", self.n_iter, 10, 100_000)
        check_range("t-SNE exaggeration_iter", self.exaggeration_iter, 0, 100_000)
        check_range("t-SNE warm_iter", self.warm_iter, 1, 100_000)
        check_range("t-SNE max_intervals", self.max_intervals, 10, 10_000)
        if self.learning_rate != "auto" and not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            raise AtlasError(f"t-SNE learning_rate must be 'auto' or a positive number, got {self.learning_rate!r}.")
        if self.learning_rate != "auto":
            check_range("t-SNE learning_rate", self.learning_rate, 0.0)
        if self.landmarks is not None:
            check_range("t-SNE landmarks", self.landmarks, 0)
        check_seed(self.seed)


#: A t-SNE layout of n items (perplexity ~30) spreads to a standard deviation of about this
#: times √n (0.65 on the MovieLens demo's 1,400 items).
SPREAD_PER_ROOT_N = 0.65


#: ... and its extent (width of the bounding box) to about this times √n (1.36 on gowalla's 24,639).
EXTENT_PER_ROOT_N = 1.4


PIECE_ITERATIONS = 20
"""The final phase runs in pieces of this many iterations, its thread count re-counted between them
(``cores.FreeCores``): openTSNE keeps its momentum and gains from one call to the next, so the pieces
give the same bytes as one call (``tests/test_projections.py``), and the count does not change them."""


PLACED_ITERATIONS = 100
"""The final phase over every item placed among landmarks: the 100 steps whose recall was measured
against a full run (bench/README "Landmark layouts"); a finished map at another perplexity needs
``warm_iter``."""

CALLBACK_ITERATIONS = 5
"""Iterations between two looks at the forming layout (each may stop it, or show it at most once a
second): the first frame of a refinement comes after this many."""


def phase_pieces(n_iter: int, exaggeration: float) -> list[int]:
    """The calls of one phase of ``n_iter`` iterations: pieces of ``PIECE_ITERATIONS``, or one call
    for an exaggerated phase (openTSNE scales the affinities up and back down around each call,
    which need not give the same bits)."""
    if n_iter <= 0:
        return []
    if exaggeration != 1:
        return [n_iter]
    whole, rest = divmod(n_iter, PIECE_ITERATIONS)
    return [PIECE_ITERATIONS] * whole + ([rest] if rest else [])


def fft_interval_width(extent: float, max_intervals: int) -> float:
    """openTSNE's ``ints_in_interval``: the width of one interval of its FFT grid, so that a map of
    ``extent`` spans at most ``max_intervals`` of them (openTSNE's default, 1, below that).

    The grid's cost grows with the square of its intervals per axis: on gowalla's 24,639 items
    (a map about 214 wide) a refinement took 61 s at width 1 and 7.3 s at 2.15 with 100
    iterations instead of 200, at 1% lower kNN recall and the same trustworthiness."""
    return max(1.0, float(extent) / max_intervals)


def spread_start(start: np.ndarray) -> np.ndarray:
    """An earlier map's positions, centred and scaled to the spread t-SNE itself would reach.

    Early exaggeration from a tiny start (the PCA start's way) scatters an earlier map's
    neighbourhoods; starting at t-SNE's own scale without it keeps them (on the demo, shared
    items moved 3.6% of the map's diameter instead of 7.3%, at the same map quality).
    """
    centred = start.astype(np.float64) - start.mean(axis=0)
    std = float(centred.std())
    return centred * (SPREAD_PER_ROOT_N * np.sqrt(start.shape[0]) / std if std > 0 else 1.0)


@register
class Tsne(Projection):
    name = "tsne"
    title = "t-SNE"
    libraries = ("openTSNE",)
    sweep = {"perplexity": ((5.0, 10.0, 20.0, 30.0, 50.0, 80.0), (10.0, 30.0)), "early_exaggeration": ((1.3, 4.0, 12.0), (1.3, 12.0))}
    Params = TsneParams
    order = 20

    def k_needed(self, params: TsneParams) -> int:
        return int(min(3 * params.perplexity, 1000))

    def rescale(self, xy: np.ndarray, n_from: int, n_to: int) -> np.ndarray:
        """t-SNE's spread grows with √n (``SPREAD_PER_ROOT_N``)."""
        return xy * np.sqrt(n_to / n_from)

    def limits(self, params: TsneParams, n_items: int):
        if 3 * params.perplexity >= n_items:
            most = max(1.0, float((n_items - 1) // 3))
            return {"perplexity": most}, f"t-SNE perplexity {params.perplexity:g} is too large for {n_items} items; use at most {most:g}."
        return None

    def fit(self, inputs: ProjectionInputs, params: TsneParams, *, progress=None) -> np.ndarray:
        """openTSNE's two phases (early exaggeration, then the final optimisation) from the PCA
        start; only the final phase from an earlier map's positions, or a short one from a
        finished layout (a refinement). The layout is reported as it goes."""
        import openTSNE
        from openTSNE.affinity import PrecomputedAffinities

        x = inputs.embedding.space()
        k = self.k_needed(params)
        # Threads for the idle cores only: openTSNE's threads wait on each other at every step, so
        # on a busy machine extra threads slow it down several times. The result does not depend on
        # the number of threads, so the final phase re-counts them as it runs (``phase_pieces``).
        n_jobs = fitted_thread_count()
        neighbors = inputs.neighbors
        affinities = PrecomputedAffinities(joint_affinities(neighbors.indices[:, 1 : k + 1], neighbors.distances[:, 1 : k + 1], params.perplexity), normalize=False)
        tsne = openTSNE.TSNE(
            early_exaggeration=params.early_exaggeration,
            learning_rate=params.learning_rate,
            dof=params.dof,
            n_iter=params.n_iter,
            random_state=params.seed,
            n_jobs=n_jobs,
            verbose=False,
        )
        if inputs.init is None:  # from PCA: early exaggeration, then the final phase
            start = pca_init(x, scale=1e-4 * 2)
            phases = [(params.exaggeration_iter, params.early_exaggeration, 0.5), (params.n_iter, 1.0, 0.8)]
        elif inputs.refine:  # a finished layout of nearly the same problem: a short final phase
            start, phases = inputs.init, [(PLACED_ITERATIONS if inputs.placed else params.warm_iter, 1.0, 0.8)]
        else:  # an earlier map's positions: spread to t-SNE's own scale, the final phase only
            start, phases = spread_start(inputs.init), [(params.n_iter, 1.0, 0.8)]
        # the grid is sized for the map's extent: the start's, or what a run from PCA reaches
        extent = float(np.ptp(start, axis=0).max()) if inputs.init is not None else EXTENT_PER_ROOT_N * np.sqrt(x.shape[0])
        width = fft_interval_width(extent, params.max_intervals)
        with warnings.catch_warnings(), quiet_logger("openTSNE"):
            warnings.simplefilter("ignore")  # openTSNE warns about a wide start; a finished layout is one
            embedding = tsne.prepare_initial(affinities=affinities, initialization=start.astype(np.float64))
        total = sum(n for n, _, _ in phases)
        report = Throttle(progress)
        free = FreeCores()
        done = 0
        for n_iter, exaggeration, momentum in phases:
            for steps in phase_pieces(n_iter, exaggeration):

                def callback(iteration, error, current, offset=done):
                    report(offset + iteration, total, current)
                    return False

                if done:  # the cores left free, re-counted between pieces
                    n_jobs = free.threads(n_jobs)
                embedding.optimize(
                    n_iter=steps, exaggeration=exaggeration, momentum=momentum, inplace=True, propagate_exception=True, ints_in_interval=width,
                    negative_gradient_method=GradientOnly(steps, start.shape[0]), callbacks=[callback] if progress is not None else None,
                    callbacks_every_iters=CALLBACK_ITERATIONS, n_jobs=n_jobs,
                )  # fmt: skip
                done += steps
        result = np.asarray(embedding)
        report(total, total, result)
        return result
