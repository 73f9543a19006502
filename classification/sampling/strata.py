"""Combining stratification variables (e.g. pre-map class × altitude band × département) into one code."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import SamplingError


def altitude_band(elevation: np.ndarray, breaks: Sequence[float]) -> np.ndarray:
    """Band 1…len(breaks)+1 of each elevation (band i holds breaks[i-2] ≤ z < breaks[i-1]); NaN → 0 (none)."""
    bands = np.digitize(elevation, np.asarray(breaks, dtype=np.float64)) + 1
    return np.where(np.isnan(elevation), 0, bands).astype(np.int64)


def strata_combine(codes: Sequence[np.ndarray], cardinalities: Sequence[int]) -> np.ndarray:
    """One stratum code per cell from several variables, each coded 1…k_i (0 = none → combined 0).

    The combined code is 1 + Σ (c_i − 1) × Π_{j>i} k_j (mixed radix, the last variable varying fastest),
    so codes run over 1…Π k_i and ``strata_split`` gives the variables back.
    """
    if len(codes) != len(cardinalities) or not codes:
        raise SamplingError("invalid_combination", "one cardinality per variable is needed")
    out = np.zeros(np.shape(codes[0]), dtype=np.int64)
    none = np.zeros(out.shape, dtype=bool)
    for code, k in zip(codes, cardinalities, strict=True):
        code = np.asarray(code, dtype=np.int64)
        if code.size and (code.min() < 0 or code.max() > k):
            raise SamplingError("code_out_of_range", f"codes must be within 0…{k}")
        none |= code == 0
        out = out * k + np.maximum(code - 1, 0)
    return np.where(none, 0, out + 1)


def strata_split(combined: int, cardinalities: Sequence[int]) -> tuple[int, ...]:
    """The variables' codes (1-based) of a combined stratum code."""
    rest = combined - 1
    parts = []
    for k in reversed(cardinalities):
        parts.append(rest % k + 1)
        rest //= k
    return tuple(reversed(parts))
