"""Result types: an estimate with its standard error and normal-theory confidence interval, per class and overall."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

#: Normal quantile used for 95 % intervals, as printed in Olofsson et al. (2014) and Stehman (2014).
Z_95 = 1.96


def _json_float(value: float) -> float | None:
    """NaN (an undefined estimate) becomes ``None`` so that reports are valid JSON."""
    return None if math.isnan(value) else float(value)


@dataclass(frozen=True)
class Estimate:
    """A design-based estimate; ``se`` is its estimated standard error, the interval is ``value ± z·se``.

    ``value`` is NaN when the parameter cannot be estimated from the sample (e.g. the user's accuracy of
    a class that no sample unit was mapped as); ``se`` is NaN when the variance is not estimable.
    """

    value: float
    se: float
    ci_low: float
    ci_high: float

    @classmethod
    def normal(cls, value: float, se: float, z: float = Z_95) -> Estimate:
        value, se = float(value), float(se)
        return cls(value=value, se=se, ci_low=value - z * se, ci_high=value + z * se)

    def scaled(self, factor: float) -> Estimate:
        """The same estimate in other units (e.g. an area proportion times the total area)."""
        return Estimate(self.value * factor, self.se * factor, self.ci_low * factor, self.ci_high * factor)

    def as_dict(self) -> dict[str, float | None]:
        return {
            "estimate": _json_float(self.value),
            "se": _json_float(self.se),
            "ci_low": _json_float(self.ci_low),
            "ci_high": _json_float(self.ci_high),
        }


@dataclass(frozen=True)
class ClassEstimates:
    """Estimates for one class: accuracies of the map class and area of the reference class."""

    name: str
    users_accuracy: Estimate
    producers_accuracy: Estimate
    area_proportion: Estimate
    area: Estimate
    sample_count: int  # sample units mapped as this class
    mapped_area: float | None  # known mapped area (stratified design on map classes); None when not given


@dataclass(frozen=True)
class AccuracyReport:
    """Everything an accuracy assessment reports, in one object (pure data, no I/O)."""

    method: str  # "olofsson2014" or "stehman2014"
    classes: tuple[str, ...]
    sample_counts: npt.NDArray[np.int64]  # n_ij: rows map classes, columns reference classes
    cell_proportions: npt.NDArray[np.float64]  # estimated p_ij, same layout
    overall_accuracy: Estimate
    per_class: tuple[ClassEstimates, ...]
    total_area: float
    z: float = Z_95
    notes: tuple[str, ...] = field(default_factory=tuple)

    def estimate_for(self, name: str) -> ClassEstimates:
        for item in self.per_class:
            if item.name == name:
                return item
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (undefined values are ``None``)."""
        return {
            "method": self.method,
            "classes": list(self.classes),
            "z": self.z,
            "total_area": self.total_area,
            "sample_size": int(self.sample_counts.sum()),
            "error_matrix": {
                "rows": "map class",
                "columns": "reference class",
                "sample_counts": self.sample_counts.astype(int).tolist(),
                "area_proportions": [[_json_float(v) for v in row] for row in self.cell_proportions],
            },
            "overall_accuracy": self.overall_accuracy.as_dict(),
            "per_class": [
                {
                    "class": c.name,
                    "sample_count": c.sample_count,
                    "mapped_area": c.mapped_area,
                    "users_accuracy": c.users_accuracy.as_dict(),
                    "producers_accuracy": c.producers_accuracy.as_dict(),
                    "area_proportion": c.area_proportion.as_dict(),
                    "area": c.area.as_dict(),
                }
                for c in self.per_class
            ],
            "notes": list(self.notes),
        }

    def as_rows(self) -> list[dict[str, Any]]:
        """Long-format rows ``measure, class, estimate, se, ci_low, ci_high`` for CSV output."""
        rows: list[dict[str, Any]] = [{"measure": "overall_accuracy", "class": "", **self.overall_accuracy.as_dict()}]
        for c in self.per_class:
            for measure in ("users_accuracy", "producers_accuracy", "area_proportion", "area"):
                rows.append({"measure": measure, "class": c.name, **getattr(c, measure).as_dict()})
        return rows
