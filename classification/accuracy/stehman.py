"""Stehman (2014): accuracy and area when the sampling strata are not the map classes.

Stehman, S.V., 2014. Estimating area and map accuracy for stratified random sampling when the strata are
different from the map classes. International Journal of Remote Sensing 35(13), 4923–4939.

Every parameter is a mean or a ratio of population totals of unit-level indicators, estimated from the
stratified sample (see :mod:`classification.accuracy.design`):

    overall accuracy        y_u = 1 if map_u = reference_u                     Ô = Ŷ/N
    area proportion of k    y_u = 1 if reference_u = k                         p̂_k = Ŷ/N
    cell (i, j)             y_u = 1 if map_u = i and reference_u = j           p̂_ij = Ŷ/N
    user's accuracy of k    y_u = 1 if map_u = reference_u = k, x_u = 1 if map_u = k    Û_k = Ŷ/X̂
    producer's accuracy     y_u as above,                      x_u = 1 if reference_u = k   P̂_k = Ŷ/X̂

With the map classes as strata and no finite population correction these reduce exactly to
Olofsson et al. (2014); the tests check it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from classification.accuracy.design import StratifiedDesign
from classification.accuracy.errors import AccuracyInputError
from classification.accuracy.estimates import Z_95, AccuracyReport, ClassEstimates, Estimate
from classification.accuracy.olofsson import error_matrix


@dataclass(frozen=True)
class ValidationSample:
    """A stratified random validation sample, one entry per sample unit (same length in each field).

    ``stratum``: the sampling stratum the unit was drawn from; ``map_class``: the map's label at the unit;
    ``reference_class``: the reference (ground-truth) label.
    """

    stratum: Sequence[str]
    map_class: Sequence[str]
    reference_class: Sequence[str]

    def __post_init__(self) -> None:
        sizes = {len(self.stratum), len(self.map_class), len(self.reference_class)}
        if len(sizes) != 1:
            raise AccuracyInputError("bad_parameter", "stratum, map_class and reference_class differ in length")


def estimate_stehman(
    *,
    sample: ValidationSample,
    stratum_sizes: Mapping[str, float],
    classes: Sequence[str] | None = None,
    fpc: bool = False,
    z: float = Z_95,
    source: str | None = None,
) -> AccuracyReport:
    """Stehman (2014) estimates from a per-unit sample and the size (pixels or area) of every stratum.

    ``classes`` fixes the order (and the legend: a label outside it is an error); by default the sorted
    union of map and reference labels. Areas are reported in the unit of ``stratum_sizes``. ``fpc``
    applies the finite population correction of Stehman's eq. 25 (negligible unless n_h is a noticeable
    share of N_h).
    """
    design = StratifiedDesign.build(
        unit_strata=list(sample.stratum), stratum_sizes=stratum_sizes, fpc=fpc, source=source
    )
    if classes is None:
        classes = sorted(set(sample.map_class) | set(sample.reference_class))
    names = tuple(classes)
    counts = error_matrix(sample.map_class, sample.reference_class, names)
    m = np.array(sample.map_class, dtype=object)
    r = np.array(sample.reference_class, dtype=object)
    total = design.population_size

    cells = np.zeros((len(names), len(names)), dtype=np.float64)
    for i, mi in enumerate(names):
        for j, rj in enumerate(names):
            cells[i, j] = design.mean((m == mi) & (r == rj))[0]

    correct = (m == r).astype(np.float64)
    oa, oa_var = design.mean(correct)
    per_class: list[ClassEstimates] = []
    for k, name in enumerate(names):
        hit = correct * (m == name)
        ua, ua_var = design.ratio(hit, m == name)
        pa, pa_var = design.ratio(hit, r == name)
        prop, prop_var = design.mean(r == name)
        area_prop = Estimate.normal(prop, np.sqrt(prop_var), z)
        per_class.append(
            ClassEstimates(
                name=name,
                users_accuracy=Estimate.normal(ua, np.sqrt(ua_var), z),
                producers_accuracy=Estimate.normal(pa, np.sqrt(pa_var), z),
                area_proportion=area_prop,
                area=area_prop.scaled(total),
                sample_count=int(counts[k].sum()),
                mapped_area=None,
            )
        )
    return AccuracyReport(
        method="stehman2014",
        classes=names,
        sample_counts=counts,
        cell_proportions=cells,
        overall_accuracy=Estimate.normal(oa, np.sqrt(oa_var), z),
        per_class=tuple(per_class),
        total_area=total,
        z=z,
        notes=() if fpc else ("no finite population correction",),
    )
