"""Year to year: transitions between two map versions and design-based change-area estimates.

The strata of a change assessment are the *mapped transitions* (``"grassland→scrub"``, and the stable
classes ``"grassland→grassland"``); their sizes come from the transition matrix of the two maps. Each
sample unit gets a reference label for both years. Then, with :mod:`classification.accuracy.design`:

    area of reference transition a→b    y_u = 1 if ref_before_u = a and ref_after_u = b
    gross loss of class k               y_u = 1 if ref_before_u = k ≠ ref_after_u
    gross gain of class k               y_u = 1 if ref_after_u = k ≠ ref_before_u
    net change of class k               y_u = 1[ref_after_u = k] − 1[ref_before_u = k]

each estimated as a stratified mean (× total area) with its standard error, and the accuracy of the
transition map by Stehman (2014) (= Olofsson et al. 2014 when the strata are the mapped transitions).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from classification.accuracy.design import StratifiedDesign
from classification.accuracy.errors import AccuracyInputError
from classification.accuracy.estimates import Z_95, AccuracyReport, Estimate
from classification.accuracy.stehman import ValidationSample, estimate_stehman

ARROW = "→"


def transition_label(before: str, after: str) -> str:
    """The name of a transition class (and stratum): ``"before→after"``."""
    return f"{before}{ARROW}{after}"


def transition_matrix(
    before: npt.ArrayLike,
    after: npt.ArrayLike,
    *,
    n_classes: int,
    nodata: int | None = None,
    out: npt.NDArray[np.int64] | None = None,
) -> npt.NDArray[np.int64]:
    """Pixel counts of (class before, class after) for class values 0..n_classes−1, nodata skipped.

    Pass the previous result as ``out`` to accumulate tile by tile in constant memory.
    """
    b = np.asarray(before).ravel()
    a = np.asarray(after).ravel()
    if b.shape != a.shape:
        raise AccuracyInputError("bad_parameter", f"maps differ in shape: {np.shape(before)} vs {np.shape(after)}")
    keep = np.ones(b.shape, dtype=bool)
    if nodata is not None:
        keep &= (b != nodata) & (a != nodata)
    b, a = b[keep].astype(np.int64), a[keep].astype(np.int64)
    if b.size and (min(b.min(), a.min()) < 0 or max(b.max(), a.max()) >= n_classes):
        raise AccuracyInputError("unknown_class", f"class values must lie in 0..{n_classes - 1}")
    counts = np.bincount(b * n_classes + a, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    if out is None:
        return counts.astype(np.int64)
    out += counts
    return out


def transition_strata(matrix: npt.ArrayLike, classes: Sequence[str], *, unit_area: float = 1.0) -> dict[str, float]:
    """Stratum sizes (area) of every non-empty mapped transition, from a transition matrix of pixel counts."""
    m = np.asarray(matrix)
    if m.shape != (len(classes), len(classes)):
        raise AccuracyInputError("not_square", f"a {len(classes)}-class transition matrix must be square")
    return {
        transition_label(b, a): float(m[i, j]) * unit_area
        for i, b in enumerate(classes)
        for j, a in enumerate(classes)
        if m[i, j] > 0
    }


@dataclass(frozen=True)
class ChangeSample:
    """A stratified sample for change: per unit its stratum, the two map labels and the two reference labels."""

    stratum: Sequence[str]
    map_before: Sequence[str]
    map_after: Sequence[str]
    reference_before: Sequence[str]
    reference_after: Sequence[str]


@dataclass(frozen=True)
class ClassChange:
    name: str
    gross_loss: Estimate
    gross_gain: Estimate
    net_change: Estimate


@dataclass(frozen=True)
class ChangeAreaReport:
    """Estimated areas of reference transitions, per-class gross/net change, and transition-map accuracy."""

    classes: tuple[str, ...]
    transition_area: dict[tuple[str, str], Estimate]  # (before, after) → estimated area
    per_class: tuple[ClassChange, ...]
    transition_accuracy: AccuracyReport
    total_area: float


def estimate_change_area(
    *,
    sample: ChangeSample,
    stratum_sizes: Mapping[str, float],
    classes: Sequence[str],
    fpc: bool = False,
    z: float = Z_95,
) -> ChangeAreaReport:
    """Design-based change areas (in the unit of ``stratum_sizes``) from a stratified change sample."""
    fields = (sample.stratum, sample.map_before, sample.map_after, sample.reference_before, sample.reference_after)
    if len({len(f) for f in fields}) != 1:
        raise AccuracyInputError("bad_parameter", "the fields of the change sample differ in length")
    legend = set(classes)
    for row, labels in enumerate(zip(*fields[1:], strict=True)):
        unknown = [label for label in labels if label not in legend]
        if unknown:
            raise AccuracyInputError("unknown_class", f"class {unknown[0]!r} is not in the legend", row=row)
    design = StratifiedDesign.build(unit_strata=list(sample.stratum), stratum_sizes=stratum_sizes, fpc=fpc)
    total = design.population_size
    rb = np.array(sample.reference_before, dtype=object)
    ra = np.array(sample.reference_after, dtype=object)

    def area(y: npt.NDArray[np.float64]) -> Estimate:
        mean, var = design.mean(y)
        return Estimate.normal(mean, np.sqrt(var), z).scaled(total)

    transition_area = {(b, a): area(((rb == b) & (ra == a)).astype(np.float64)) for b in classes for a in classes}
    per_class = tuple(
        ClassChange(
            name=k,
            gross_loss=area(((rb == k) & (ra != k)).astype(np.float64)),
            gross_gain=area(((ra == k) & (rb != k)).astype(np.float64)),
            net_change=area((ra == k).astype(np.float64) - (rb == k).astype(np.float64)),
        )
        for k in classes
    )
    transitions = [transition_label(b, a) for b in classes for a in classes]
    accuracy = estimate_stehman(
        sample=ValidationSample(
            stratum=sample.stratum,
            map_class=[transition_label(b, a) for b, a in zip(sample.map_before, sample.map_after, strict=True)],
            reference_class=[transition_label(b, a) for b, a in zip(rb, ra, strict=True)],
        ),
        stratum_sizes=stratum_sizes,
        classes=transitions,
        fpc=fpc,
        z=z,
    )
    return ChangeAreaReport(
        classes=tuple(classes),
        transition_area=transition_area,
        per_class=per_class,
        transition_accuracy=accuracy,
        total_area=total,
    )
