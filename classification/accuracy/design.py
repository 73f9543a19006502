"""Stratified random sampling: estimators of totals, means and ratios of unit-level indicators.

This is the engine behind Stehman (2014) and the change-area estimates. For a stratified random sample
with N_h population units (pixels, or area) and n_h sample units in stratum h, and any unit-level
variables y (and x):

    total        Ŷ = Σ_h N_h ȳ_h
    V̂(Ŷ)       = Σ_h N_h² (1 − f_h) s²_yh / n_h                          (Stehman 2014, eq. 25)
    ratio        R̂ = Ŷ / X̂
    V̂(R̂)       = 1/X̂² Σ_h N_h² (1 − f_h) (s²_yh + R̂² s²_xh − 2 R̂ s_xyh) / n_h   (eq. 28)

with f_h = n_h / N_h the finite population correction (1 − f_h is dropped when ``fpc`` is False, as in
Olofsson et al. 2014) and s² the within-stratum sample variances (divisor n_h − 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from classification.accuracy.errors import AccuracyInputError

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class StratifiedDesign:
    """The strata of a stratified random sample: one stratum index per unit, and each stratum's size."""

    strata: tuple[str, ...]
    unit_stratum: npt.NDArray[np.intp]  # index into ``strata`` for each sample unit
    stratum_sizes: FloatArray  # N_h, in pixels or any area unit
    fpc: bool = True

    @classmethod
    def build(
        cls,
        *,
        unit_strata: Sequence[str],
        stratum_sizes: Mapping[str, float],
        fpc: bool = True,
        source: str | None = None,
    ) -> StratifiedDesign:
        """Check the design (every unit's stratum is known, sizes positive, n_h ≥ 2) and index it."""
        if not unit_strata:
            raise AccuracyInputError("empty_input", "the sample has no units", source=source)
        names = tuple(stratum_sizes)
        position = {name: i for i, name in enumerate(names)}
        index = np.empty(len(unit_strata), dtype=np.intp)
        for row, name in enumerate(unit_strata):
            if name not in position:
                raise AccuracyInputError(
                    "unknown_stratum", f"stratum {name!r} has no size in the stratum table", source=source, row=row
                )
            index[row] = position[name]
        sizes = np.array([float(stratum_sizes[n]) for n in names], dtype=np.float64)
        for name, size in zip(names, sizes, strict=True):
            if not np.isfinite(size) or size < 0:
                raise AccuracyInputError("negative_area", f"stratum {name!r} has an invalid size {size!r}")
        counts = np.bincount(index, minlength=len(names))
        for name, n_h, size in zip(names, counts, sizes, strict=True):
            if size > 0 and n_h == 0:
                raise AccuracyInputError(
                    "empty_stratum", f"stratum {name!r} covers {size:g} but has no sample unit", source=source
                )
            if size == 0 and n_h > 0:
                raise AccuracyInputError(
                    "sample_outside_area", f"stratum {name!r} has size 0 but {n_h} sample units", source=source
                )
            if n_h == 1:
                raise AccuracyInputError(
                    "stratum_too_small",
                    f"stratum {name!r} has a single sample unit: its variance cannot be estimated (need ≥ 2)",
                    source=source,
                )
            if fpc and n_h > size:
                raise AccuracyInputError(
                    "bad_parameter", f"stratum {name!r} has more sample units ({n_h}) than its size ({size:g})"
                )
        return cls(strata=names, unit_stratum=index, stratum_sizes=sizes, fpc=fpc)

    @property
    def sample_sizes(self) -> npt.NDArray[np.int64]:
        return np.bincount(self.unit_stratum, minlength=len(self.strata)).astype(np.int64)

    @property
    def population_size(self) -> float:
        return float(self.stratum_sizes.sum())

    def _weights(self) -> tuple[FloatArray, FloatArray]:
        """Per stratum: N_h and the variance factor N_h² (1 − f_h) / n_h (0 for empty strata)."""
        n_h = self.sample_sizes.astype(np.float64)
        big_n = self.stratum_sizes
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(n_h > 0, big_n**2 / np.where(n_h > 0, n_h, 1.0), 0.0)
            if self.fpc:
                factor = factor * np.where(big_n > 0, 1.0 - n_h / np.where(big_n > 0, big_n, 1.0), 0.0)
        return big_n, factor

    def _stratum_moments(self, y: FloatArray, x: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """Per stratum: mean of y, mean of x, and the sample (co)variance terms s²_y, s²_x, s_xy."""
        k = len(self.strata)
        n_h = self.sample_sizes.astype(np.float64)
        safe_n = np.where(n_h > 0, n_h, 1.0)
        mean_y = np.bincount(self.unit_stratum, weights=y, minlength=k) / safe_n
        mean_x = np.bincount(self.unit_stratum, weights=x, minlength=k) / safe_n
        dy = y - mean_y[self.unit_stratum]
        dx = x - mean_x[self.unit_stratum]
        dof = np.where(n_h > 1, n_h - 1.0, 1.0)
        s_yy = np.bincount(self.unit_stratum, weights=dy * dy, minlength=k) / dof
        s_xx = np.bincount(self.unit_stratum, weights=dx * dx, minlength=k) / dof
        s_xy = np.bincount(self.unit_stratum, weights=dx * dy, minlength=k) / dof
        return mean_y, mean_x, np.stack([s_yy, s_xx, s_xy]), n_h

    def total(self, y: npt.ArrayLike) -> tuple[float, float]:
        """Estimated population total of y and its estimated variance."""
        yv = np.asarray(y, dtype=np.float64)
        mean_y, _, s, _ = self._stratum_moments(yv, np.zeros_like(yv))
        big_n, factor = self._weights()
        return float(np.sum(big_n * mean_y)), float(np.sum(factor * s[0]))

    def mean(self, y: npt.ArrayLike) -> tuple[float, float]:
        """Estimated population mean of y (a proportion of area for an indicator) and its variance."""
        total, variance = self.total(y)
        n = self.population_size
        return total / n, variance / n**2

    def ratio(self, y: npt.ArrayLike, x: npt.ArrayLike) -> tuple[float, float]:
        """Estimated ratio of totals Y/X and its linearised variance; (nan, nan) when X̂ = 0."""
        yv = np.asarray(y, dtype=np.float64)
        xv = np.asarray(x, dtype=np.float64)
        mean_y, mean_x, _, _ = self._stratum_moments(yv, xv)
        big_n, factor = self._weights()
        y_total = float(np.sum(big_n * mean_y))
        x_total = float(np.sum(big_n * mean_x))
        if x_total == 0:
            return float("nan"), float("nan")
        r = y_total / x_total
        # s²_y + R² s²_x − 2 R s_xy is the sample variance of the residual y − R x; computing it directly
        # avoids the cancellation of the expanded form when R is close to 0 or 1.
        _, _, s_d, _ = self._stratum_moments(yv - r * xv, np.zeros_like(yv))
        variance = float(np.sum(factor * s_d[0])) / x_total**2
        return r, max(variance, 0.0)
