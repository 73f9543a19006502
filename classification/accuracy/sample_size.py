"""Sample size and allocation of a stratified validation sample (strata = map classes).

Total sample size for a target standard error of overall accuracy — Olofsson et al. (2014) eq. 13,
from Cochran (1977) eq. 5.25 — with S_i = sqrt(U_i (1 − U_i)) from the *expected* user's accuracies:

    n = (Σ_i W_i S_i / S(Ô))²

and per-class size for a target standard error of a user's accuracy, from V̂(Û) = Û(1 − Û)/(n − 1):

    n_i = U_i (1 − U_i) / S(Û_i)² + 1.

Allocations: proportional (n_i ∝ W_i), equal, Neyman (n_i ∝ W_i S_i, the optimum for overall accuracy),
and Olofsson's recommendation for rare classes — a minimum per class, the remainder proportionally.
Counts are rounded with the largest-remainder method so that they always sum to n.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from classification.accuracy.errors import AccuracyInputError

ALLOCATIONS = ("proportional", "equal", "neyman", "minimum_then_proportional")


def _weights(mapped_area: Mapping[str, float]) -> tuple[list[str], npt.NDArray[np.float64]]:
    names = list(mapped_area)
    area = np.array([float(mapped_area[c]) for c in names], dtype=np.float64)
    if not names or np.any(~np.isfinite(area)) or np.any(area < 0) or area.sum() <= 0:
        raise AccuracyInputError("negative_area", "mapped areas must be finite, ≥ 0, and not all zero")
    return names, area / area.sum()


def _expected(names: Sequence[str], expected_users_accuracy: Mapping[str, float]) -> npt.NDArray[np.float64]:
    missing = [c for c in names if c not in expected_users_accuracy]
    if missing:
        raise AccuracyInputError("unknown_class", f"no expected user's accuracy for {missing!r}")
    u = np.array([float(expected_users_accuracy[c]) for c in names], dtype=np.float64)
    if np.any((u < 0) | (u > 1)):
        raise AccuracyInputError("bad_parameter", "expected user's accuracies must lie in [0, 1]")
    return u


def sample_size_overall_accuracy(
    *, mapped_area: Mapping[str, float], expected_users_accuracy: Mapping[str, float], target_se: float
) -> int:
    """Total n giving the target standard error of overall accuracy (Olofsson et al. 2014, eq. 13)."""
    if not target_se > 0:
        raise AccuracyInputError("bad_parameter", "the target standard error must be > 0")
    names, w = _weights(mapped_area)
    u = _expected(names, expected_users_accuracy)
    return math.ceil(float(np.sum(w * np.sqrt(u * (1 - u))) / target_se) ** 2 - 1e-9)


def sample_size_users_accuracy(*, expected_users_accuracy: float, target_se: float) -> int:
    """Units needed in one map class for the target standard error of its user's accuracy."""
    u = expected_users_accuracy
    if not 0 <= u <= 1 or not target_se > 0:
        raise AccuracyInputError("bad_parameter", "need 0 ≤ expected accuracy ≤ 1 and target SE > 0")
    return math.ceil(u * (1 - u) / target_se**2 + 1 - 1e-9)


def largest_remainder(n: int, shares: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Round ``n · shares / Σ shares`` to whole numbers that sum to n (ties go to the earlier stratum)."""
    s = np.asarray(shares, dtype=np.float64)
    if n < 0 or s.sum() <= 0:
        raise AccuracyInputError("bad_parameter", "need n ≥ 0 and positive shares")
    exact = n * s / s.sum()
    counts = np.floor(exact).astype(np.int64)
    short = n - int(counts.sum())
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:short]] += 1
    return counts


def allocate(
    n: int,
    *,
    mapped_area: Mapping[str, float],
    method: str,
    expected_users_accuracy: Mapping[str, float] | None = None,
    minimum: int = 0,
) -> dict[str, int]:
    """Split n sample units among the map classes by ``method`` (one of :data:`ALLOCATIONS`).

    ``minimum_then_proportional`` first gives every class ``minimum`` units (or an equal share when n is
    too small), then the remainder in proportion to mapped area; Neyman needs the expected accuracies.
    """
    names, w = _weights(mapped_area)
    if method == "proportional":
        counts = largest_remainder(n, w)
    elif method == "equal":
        counts = largest_remainder(n, np.ones_like(w))
    elif method == "neyman":
        if expected_users_accuracy is None:
            raise AccuracyInputError("bad_parameter", "Neyman allocation needs the expected user's accuracies")
        s = np.sqrt(_expected(names, expected_users_accuracy) * (1 - _expected(names, expected_users_accuracy)))
        counts = largest_remainder(n, w * s if np.any(w * s > 0) else w)
    elif method == "minimum_then_proportional":
        if minimum < 0:
            raise AccuracyInputError("bad_parameter", "the minimum per class must be ≥ 0")
        counts = _minimum_then_proportional(n, w, min(minimum, n // len(names)))
    else:
        raise AccuracyInputError("bad_parameter", f"unknown allocation {method!r}; one of {', '.join(ALLOCATIONS)}")
    return dict(zip(names, (int(c) for c in counts), strict=True))


def _minimum_then_proportional(n: int, w: npt.NDArray[np.float64], minimum: int) -> npt.NDArray[np.int64]:
    """Classes whose proportional share is below ``minimum`` get the minimum; the others share the rest
    in proportion to their area (repeated until no class of the rest falls below the minimum)."""
    floored = np.zeros(len(w), dtype=bool)
    while True:
        rest = n - minimum * int(floored.sum())
        free = ~floored
        exact = np.zeros(len(w))
        if free.any() and w[free].sum() > 0:
            exact[free] = rest * w[free] / w[free].sum()
        newly = free & (exact < minimum)
        if not newly.any():
            break
        floored |= newly
    counts = np.where(floored, minimum, 0).astype(np.int64)
    if (~floored).any():
        counts[~floored] = largest_remainder(n - int(counts.sum()), w[~floored])
    return counts


@dataclass(frozen=True)
class AllocationOption:
    """One candidate allocation with the standard errors it is expected to give."""

    name: str
    counts: dict[str, int]
    expected_se_overall_accuracy: float
    expected_se_users_accuracy: dict[str, float]


def anticipated_standard_errors(
    *, counts: Mapping[str, int], mapped_area: Mapping[str, float], expected_users_accuracy: Mapping[str, float]
) -> tuple[float, dict[str, float]]:
    """Standard errors of overall and user's accuracies that an allocation should give (eqs. 5 and 6)."""
    names, w = _weights(mapped_area)
    u = _expected(names, expected_users_accuracy)
    n = np.array([counts[c] for c in names], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        var_u = np.where(n > 1, u * (1 - u) / (n - 1), np.inf)
    oa = float(np.sqrt(np.sum(np.where(w > 0, w**2 * var_u, 0.0))))
    return oa, {c: float(np.sqrt(v)) for c, v in zip(names, var_u, strict=True)}


def allocation_suggestions(
    n: int,
    *,
    mapped_area: Mapping[str, float],
    expected_users_accuracy: Mapping[str, float],
    minimums: Sequence[int] = (50, 75, 100),
) -> list[AllocationOption]:
    """Proportional, equal, Neyman and minimum-then-proportional allocations of n, each with the SEs it
    would give, to choose between precision of overall accuracy and of rare classes (Olofsson 2014 §5.1)."""
    plans: list[tuple[str, dict[str, int]]] = [
        (m, allocate(n, mapped_area=mapped_area, method=m, expected_users_accuracy=expected_users_accuracy))
        for m in ("proportional", "equal", "neyman")
    ]
    for minimum in minimums:
        if minimum * len(mapped_area) <= n:
            counts = allocate(n, mapped_area=mapped_area, method="minimum_then_proportional", minimum=minimum)
            plans.append((f"minimum_{minimum}_then_proportional", counts))
    options = []
    for name, counts in plans:
        oa_se, ua_se = anticipated_standard_errors(
            counts=counts, mapped_area=mapped_area, expected_users_accuracy=expected_users_accuracy
        )
        options.append(AllocationOption(name, counts, oa_se, ua_se))
    return options
