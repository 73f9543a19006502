"""Stratified random points on a grid of strata, with exclusions and a minimum distance.

The strata come as blocks (``StrataBlock``) from a re-iterable source, so a region-wide grid is never
held in memory: one pass counts the eligible cells of each stratum, one pass locates the drawn cells.

Design: in stratum h with N_h eligible cells, n_h cells are drawn at random without replacement
(uniformly among the eligible cells), and the point is placed uniformly at random inside its cell. Each
point's inclusion probability is that of its cell, π = n_h / N_h. With a minimum distance d, candidates
are drawn in excess and accepted in a random order when no accepted point (of any stratum) lies within
d (sequential inhibition); π = n_h / N_h is then the design's nominal probability, exact when d is small
against the spacing of the points (the usual field-sampling approximation).
Cells with stratum 0 belong to no stratum.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from .errors import SamplingError


@dataclass
class StrataBlock:
    row_off: int
    col_off: int
    strata: np.ndarray  # 2-D integer stratum values, 0 = none
    excluded: np.ndarray | None = None  # 2-D bool, True = excluded cell


BlockSource = Callable[[], Iterable[StrataBlock]]


@dataclass(frozen=True)
class GridSpec:
    xmin: float
    ymax: float
    resolution: float


@dataclass
class PointSet:
    x: np.ndarray
    y: np.ndarray
    stratum: np.ndarray  # stratum value of each point
    inclusion_probability: np.ndarray
    shortfall: dict[int, int] = field(default_factory=dict)  # stratum → points that could not be placed
    candidates_drawn: int = 0


def strata_count(source: BlockSource, max_value: int) -> tuple[np.ndarray, np.ndarray]:
    """Cells per stratum value (index = value) in total and after exclusions: one pass over the blocks."""
    total = np.zeros(max_value + 1, dtype=np.int64)
    eligible = np.zeros(max_value + 1, dtype=np.int64)
    for block in source():
        values = block.strata.ravel()
        if values.size and (values.max() > max_value or values.min() < 0):
            raise SamplingError("stratum_out_of_range", f"stratum values must be within 0…{max_value}")
        total += np.bincount(values, minlength=max_value + 1)
        if block.excluded is not None:
            values = values[~block.excluded.ravel()]
        eligible += np.bincount(values, minlength=max_value + 1)
    return total, eligible


def _locate(
    source: BlockSource, ranks: dict[int, np.ndarray], eligible: np.ndarray
) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(rows, cols, order) of the drawn ranks of each stratum, ranks counted over eligible cells in block order."""
    sorted_ranks = {h: np.sort(r) for h, r in ranks.items()}
    found: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {h: [] for h in ranks}
    offsets = dict.fromkeys(ranks, 0)
    pointers = dict.fromkeys(ranks, 0)
    for block in source():
        flat = block.strata.ravel()
        mask = np.ones(flat.shape, dtype=bool) if block.excluded is None else ~block.excluded.ravel()
        counts = np.bincount(flat[mask], minlength=len(eligible))
        width = block.strata.shape[1]
        for h, r in sorted_ranks.items():
            c = int(counts[h]) if h < len(counts) else 0
            if c == 0:
                continue
            start, p = offsets[h], pointers[h]
            end = int(np.searchsorted(r, start + c, side="left"))
            if end > p:
                cells = np.flatnonzero((flat == h) & mask)
                local = cells[r[p:end] - start]
                found[h].append((block.row_off + local // width, block.col_off + local % width, r[p:end]))
                pointers[h] = end
            offsets[h] = start + c
    out = {}
    for h, parts in found.items():
        rows = np.concatenate([p[0] for p in parts]) if parts else np.empty(0, np.int64)
        cols = np.concatenate([p[1] for p in parts]) if parts else np.empty(0, np.int64)
        rk = np.concatenate([p[2] for p in parts]) if parts else np.empty(0, np.int64)
        out[h] = (rows, cols, rk)
    return out


class _Inhibition:
    """Accept points at least ``d`` apart, with a hash of d-sized cells (9 cells checked per point)."""

    def __init__(self, d: float) -> None:
        self.d2 = d * d
        self.d = d
        self.cells: dict[tuple[int, int], list[tuple[float, float]]] = {}

    def accept(self, x: float, y: float) -> bool:
        if self.d <= 0:
            return True
        i, j = math.floor(x / self.d), math.floor(y / self.d)
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                for px, py in self.cells.get((i + di, j + dj), ()):
                    if (px - x) ** 2 + (py - y) ** 2 < self.d2:
                        return False
        self.cells.setdefault((i, j), []).append((x, y))
        return True


def stratified_random_points(
    source: BlockSource,
    grid: GridSpec,
    allocation: dict[int, int],
    eligible: np.ndarray,
    *,
    seed: int,
    min_distance: float = 0.0,
    existing: tuple[np.ndarray, np.ndarray] | None = None,
    oversample: float = 3.0,
    rounds: int = 4,
) -> PointSet:
    """Draw ``allocation[h]`` points in each stratum h (``eligible[h]`` = its eligible cells), reproducibly.

    ``existing`` points (e.g. of an earlier batch) are kept at the minimum distance too. Strata where
    the points do not fit are reported in ``shortfall``; the caller decides (never silently short).
    """
    rng = np.random.default_rng(seed)
    for h, n in allocation.items():
        if n > 0 and (h >= len(eligible) or eligible[h] < n):
            have = int(eligible[h]) if h < len(eligible) else 0
            raise SamplingError("stratum_too_small", f"stratum {h} has {have} eligible cells for {n} points")
    inhibition = _Inhibition(min_distance)
    if existing is not None:
        for x, y in zip(*existing, strict=True):
            inhibition.cells.setdefault(
                (math.floor(x / min_distance), math.floor(y / min_distance)) if min_distance > 0 else (0, 0), []
            ).append((float(x), float(y)))
    need = {h: n for h, n in allocation.items() if n > 0}
    used: dict[int, np.ndarray] = {h: np.empty(0, np.int64) for h in need}
    xs: list[float] = []
    ys: list[float] = []
    hs: list[int] = []
    drawn = 0
    factor = oversample
    for _ in range(rounds):
        if not need:
            break
        ranks: dict[int, np.ndarray] = {}
        for h, n in need.items():
            available = int(eligible[h]) - used[h].size
            k = min(available, math.ceil(n * factor) + 8 if min_distance > 0 else n)
            if k <= 0:
                continue
            if used[h].size:
                # Draw among the cells not drawn before: pick positions in the complement of ``used``.
                picks = np.sort(rng.choice(available, size=k, replace=False))
                r = _complement_positions(np.sort(used[h]), picks)
                rng.shuffle(r)
            else:
                r = rng.choice(int(eligible[h]), size=k, replace=False)
            ranks[h] = r.astype(np.int64)
            used[h] = np.concatenate([used[h], ranks[h]])
            drawn += k
        if not ranks:
            break
        located = _locate(source, ranks, eligible)
        # Random acceptance order over all strata, fixed by the seed: priority of each rank = its draw order.
        cand_h, cand_r, cand_c, cand_p = [], [], [], []
        for h, (rows, cols, rk) in located.items():
            priority = {int(v): i for i, v in enumerate(ranks[h])}
            cand_h.append(np.full(rows.size, h))
            cand_r.append(rows)
            cand_c.append(cols)
            cand_p.append(np.array([priority[int(v)] for v in rk], dtype=np.float64))
        hh = np.concatenate(cand_h)
        rr = np.concatenate(cand_r)
        cc = np.concatenate(cand_c)
        pp = np.concatenate(cand_p)
        jitter = rng.random((hh.size, 2))
        tiebreak = rng.random(hh.size)
        order = np.lexsort((tiebreak, pp / np.maximum(1, np.array([ranks[int(h)].size for h in hh]))))
        px = grid.xmin + (cc + jitter[:, 0]) * grid.resolution
        py = grid.ymax - (rr + jitter[:, 1]) * grid.resolution
        for i in order:
            h = int(hh[i])
            if need.get(h, 0) <= 0:
                continue
            if inhibition.accept(float(px[i]), float(py[i])):
                xs.append(float(px[i]))
                ys.append(float(py[i]))
                hs.append(h)
                need[h] -= 1
        need = {h: n for h, n in need.items() if n > 0}
        factor *= 2
    strata = np.array(hs, dtype=np.int64)
    n_h = np.array([allocation[int(h)] for h in strata], dtype=np.float64)
    big_n = np.array([eligible[int(h)] for h in strata], dtype=np.float64)
    return PointSet(
        x=np.array(xs),
        y=np.array(ys),
        stratum=strata,
        inclusion_probability=n_h / np.maximum(big_n, 1),
        shortfall={int(h): int(n) for h, n in need.items()},
        candidates_drawn=drawn,
    )


def _complement_positions(used_sorted: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """Map positions 0…(N−len(used)−1) of the complement of ``used_sorted`` to ranks in 0…N−1."""
    # The k-th free rank is k + (number of used ranks ≤ it); solved by a search on used − index.
    shifted = used_sorted - np.arange(used_sorted.size)
    return picks + np.searchsorted(shifted, picks, side="right")
