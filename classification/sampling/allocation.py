"""Allocating a total sample size to strata.

Methods (Cochran 1977, *Sampling Techniques*, 3rd ed., §5.5–5.6; Lohr 2010, *Sampling: Design and
Analysis*, 2nd ed., §3.4):
- proportional: n_h ∝ N_h;
- equal: n_h = n / H;
- Neyman: n_h ∝ N_h·S_h, with S_h given or, from an anticipated accuracy p_h, S_h = √(p_h(1 − p_h))
  (Olofsson et al. 2014, eq. 13).

Constraints, applied iteratively until stable: a stratum never gets more points than it has cells
(n_h ≤ N_h, Cochran §5.9's over-allocation rule) nor fewer than the minimum (m, or N_h if smaller); the
strata so fixed keep their value and the rest of the total is re-shared among the others by the same
weights.

Rounding: Hamilton's largest-remainder method. Each free stratum gets ⌊quota⌋, then the points still
missing go one each to the largest fractional parts; ties go to the larger quota, then to the stratum
listed first. The sizes always add up exactly to the total, and no size is more than one away from its
quota.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import SamplingError

METHODS = ("proportional", "equal", "neyman")


@dataclass(frozen=True)
class AllocationResult:
    sizes: np.ndarray  # int64, one per stratum, summing to the total
    quotas: np.ndarray  # float, the unrounded shares after constraints
    empty: list[int]  # indices of strata with no cells (they get 0)


def largest_remainder(quotas: Sequence[float] | np.ndarray, total: int) -> np.ndarray:
    """Integers summing to ``total``, each ⌊q⌋ or ⌈q⌉ (Hamilton's method; see the module docstring)."""
    q = np.asarray(quotas, dtype=np.float64)
    floors = np.floor(q + 1e-9).astype(np.int64)
    missing = int(total - floors.sum())
    if missing < 0 or missing > len(q):
        raise SamplingError("rounding", f"quotas summing to {q.sum():.3f} cannot be rounded to {total}")
    fractions = q - floors
    # lexsort sorts by the last key first: largest fraction, then largest quota, then first listed.
    order = np.lexsort((np.arange(len(q)), -q, -np.round(fractions, 9)))
    floors[order[:missing]] += 1
    return floors


def sample_size_for_accuracy(weights: Sequence[float], std_devs: Sequence[float], target_se: float) -> int:
    """Total n giving a standard error ``target_se`` of overall accuracy: ⌈(Σ W_h S_h / S)²⌉ (Cochran eq. 5.25)."""
    if target_se <= 0:
        raise SamplingError("invalid_target", "the target standard error must be positive")
    return math.ceil((float(np.dot(weights, std_devs)) / target_se) ** 2 - 1e-9)


def allocate(
    total: int,
    sizes: Sequence[int] | np.ndarray,
    method: str,
    *,
    std_devs: Sequence[float] | None = None,
    expected_accuracies: Sequence[float] | None = None,
    minimum: int = 0,
    allow_empty: bool = False,
) -> AllocationResult:
    """Allocate ``total`` points to strata of ``sizes`` cells; see the module docstring for the rules."""
    n_cells = np.asarray(sizes, dtype=np.int64)
    h = len(n_cells)
    if method not in METHODS:
        raise SamplingError("unknown_method", f"unknown allocation {method!r}; one of {', '.join(METHODS)}")
    if h == 0:
        raise SamplingError("no_strata", "there are no strata to allocate to")
    if total < 0 or minimum < 0 or np.any(n_cells < 0):
        raise SamplingError("negative", "sizes, total and minimum must not be negative")
    empty = [int(i) for i in np.flatnonzero(n_cells == 0)]
    if empty and not allow_empty:
        raise SamplingError(
            "empty_stratum", f"{len(empty)} stratum(s) have no eligible cells", details={"strata": empty}
        )
    if total > n_cells.sum():
        raise SamplingError(
            "total_exceeds_population", f"{total} points requested but the strata have only {n_cells.sum()} cells"
        )
    floor_sizes = np.minimum(minimum, n_cells)
    if floor_sizes.sum() > total:
        raise SamplingError(
            "minimum_exceeds_total",
            f"a minimum of {minimum} in each of {h - len(empty)} strata needs {floor_sizes.sum()} points, "
            f"more than the total of {total}",
        )
    if method == "proportional":
        weights = n_cells.astype(np.float64)
    elif method == "equal":
        weights = (n_cells > 0).astype(np.float64)
    else:
        if std_devs is None and expected_accuracies is not None:
            p = np.asarray(expected_accuracies, dtype=np.float64)
            if np.any((p < 0) | (p > 1)):
                raise SamplingError("invalid_accuracy", "expected accuracies must be within 0…1")
            std_devs = [float(v) for v in np.sqrt(p * (1 - p))]
        if std_devs is None or len(std_devs) != h:
            raise SamplingError("std_devs_required", "Neyman allocation needs one standard deviation per stratum")
        s = np.asarray(std_devs, dtype=np.float64)
        if np.any(s < 0) or not np.all(np.isfinite(s)):
            raise SamplingError("invalid_std_dev", "standard deviations must be finite and not negative")
        weights = n_cells * s
    fixed = np.full(h, -1, dtype=np.int64)  # -1: free
    fixed[n_cells == 0] = 0
    quotas = np.zeros(h)
    for _ in range(h + 1):
        free = fixed < 0
        remaining = total - fixed[~free].sum()
        free_weight = weights[free].sum()
        if not free.any():
            break
        if free_weight <= 0:
            if remaining == 0:
                quotas[free] = 0
                break
            raise SamplingError("zero_weights", "the strata left to allocate to all have zero weight")
        quotas = np.where(free, remaining * weights / free_weight, fixed)
        low = free & (quotas < floor_sizes)
        high = free & (quotas > n_cells)
        if not low.any() and not high.any():
            break
        fixed[low] = floor_sizes[low]
        fixed[high] = n_cells[high]
    free = fixed < 0
    sizes_out = np.where(free, 0, fixed).astype(np.int64)
    if free.any():
        sizes_out[free] = largest_remainder(quotas[free], int(total - sizes_out[~free].sum()))
    quotas = np.where(free, quotas, sizes_out).astype(np.float64)
    if sizes_out.sum() != total:
        raise SamplingError("infeasible", "the minimum and the strata sizes leave no allocation adding up to the total")
    return AllocationResult(sizes=sizes_out, quotas=quotas, empty=empty)
