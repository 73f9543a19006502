"""Error matrix and the stratified estimators of Olofsson et al. (2014) (strata = map classes).

Olofsson, P., Foody, G.M., Herold, M., Stehman, S.V., Woodcock, C.E., Wulder, M.A., 2014. Good practices
for estimating area and assessing accuracy of land change. Remote Sensing of Environment 148, 42–57.

With W_i the mapped proportion of class i, n_ij the sample count (map i, reference j), n_i. = Σ_j n_ij:

    p̂_ij = W_i n_ij / n_i.                                      (eq. 4)
    overall  Ô = Σ_j p̂_jj,        V̂(Ô) = Σ_i W_i² Û_i (1 − Û_i) / (n_i. − 1)          (eqs. 1, 5)
    user's   Û_i = p̂_ii / p̂_i.,   V̂(Û_i) = Û_i (1 − Û_i) / (n_i. − 1)               (eqs. 2, 6)
    producer's P̂_j = p̂_jj / p̂_.j, V̂(P̂_j) = 1/N̂_.j² [N_j.² (1 − P̂_j)² Û_j (1 − Û_j) / (n_j. − 1)
                                      + P̂_j² Σ_{i≠j} N_i.² (n_ij/n_i.)(1 − n_ij/n_i.) / (n_i. − 1)]  (eqs. 3, 7)
    area proportion p̂_.k = Σ_i p̂_ik,  S(p̂_.k) = sqrt(Σ_i (W_i p̂_ik − p̂_ik²) / (n_i. − 1))      (eqs. 9, 10)
    area Â_k = A·p̂_.k, S(Â_k) = A·S(p̂_.k); 95 % CI = estimate ± 1.96·SE                       (eqs. 11, 12)

No finite population correction (the paper's choice: mapped populations are millions of pixels).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from classification.accuracy.errors import AccuracyInputError
from classification.accuracy.estimates import Z_95, AccuracyReport, ClassEstimates, Estimate


def error_matrix(
    map_labels: Sequence[str], reference_labels: Sequence[str], classes: Sequence[str]
) -> npt.NDArray[np.int64]:
    """Count sample units by (map class, reference class): rows map classes, columns reference classes."""
    if len(map_labels) != len(reference_labels):
        raise AccuracyInputError(
            "bad_parameter", f"{len(map_labels)} map labels but {len(reference_labels)} reference labels"
        )
    position = _class_positions(classes)
    counts = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for row, (m, r) in enumerate(zip(map_labels, reference_labels, strict=True)):
        for label in (m, r):
            if label not in position:
                raise AccuracyInputError("unknown_class", f"class {label!r} is not in the legend", row=row)
        counts[position[m], position[r]] += 1
    return counts


def _class_positions(classes: Sequence[str]) -> dict[str, int]:
    position: dict[str, int] = {}
    for i, name in enumerate(classes):
        if name in position:
            raise AccuracyInputError("duplicate_class", f"class {name!r} appears twice")
        position[name] = i
    return position


def _check_counts(counts: npt.ArrayLike, classes: Sequence[str]) -> npt.NDArray[np.int64]:
    matrix = np.asarray(counts)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise AccuracyInputError("not_square", f"the error matrix must be square, got shape {matrix.shape}")
    if matrix.shape[0] != len(classes):
        raise AccuracyInputError("not_square", f"{len(classes)} class names for a {matrix.shape[0]}-class matrix")
    if not np.all(np.isfinite(matrix.astype(np.float64))):
        raise AccuracyInputError("not_a_number", "the error matrix holds non-finite values")
    if np.any(matrix < 0):
        i, j = np.argwhere(matrix < 0)[0]
        raise AccuracyInputError(
            "negative_count", f"negative count {matrix[i, j]} (map {classes[i]!r}, reference {classes[j]!r})"
        )
    if np.any(matrix != np.round(matrix)):
        raise AccuracyInputError("not_a_number", "sample counts must be whole numbers")
    return matrix.astype(np.int64)


def estimate_olofsson(
    *,
    counts: npt.ArrayLike,
    classes: Sequence[str],
    mapped_area: Mapping[str, float],
    z: float = Z_95,
) -> AccuracyReport:
    """Olofsson et al. (2014) estimates from an error matrix of sample counts and each class's mapped area.

    ``counts[i][j]``: sample units mapped as ``classes[i]`` whose reference class is ``classes[j]``; the
    sample is a stratified random sample with the map classes as strata. ``mapped_area`` gives every
    class's mapped area (any unit: pixels, ha); areas are reported in that unit.
    """
    _class_positions(classes)
    n = _check_counts(counts, classes)
    missing = [c for c in classes if c not in mapped_area]
    if missing:
        raise AccuracyInputError("missing_area", f"no mapped area for class(es) {', '.join(map(repr, missing))}")
    unknown = [c for c in mapped_area if c not in set(classes)]
    if unknown:
        raise AccuracyInputError("unknown_class", f"mapped area given for unknown class(es) {unknown!r}")
    area = np.array([float(mapped_area[c]) for c in classes], dtype=np.float64)
    if np.any(~np.isfinite(area)) or np.any(area < 0):
        bad = classes[int(np.argmax(~np.isfinite(area) | (area < 0)))]
        raise AccuracyInputError("negative_area", f"mapped area of {bad!r} must be a finite number ≥ 0")
    total_area = float(area.sum())
    if total_area <= 0:
        raise AccuracyInputError("missing_area", "the mapped areas sum to zero")

    n_i = n.sum(axis=1).astype(np.float64)
    for name, a, size in zip(classes, area, n_i, strict=True):
        if a > 0 and size == 0:
            raise AccuracyInputError("empty_stratum", f"map class {name!r} covers {a:g} but has no sample unit")
        if a == 0 and size > 0:
            raise AccuracyInputError(
                "sample_outside_area", f"map class {name!r} has mapped area 0 but {int(size)} sample units"
            )
        if size == 1:
            raise AccuracyInputError(
                "stratum_too_small",
                f"map class {name!r} has a single sample unit: its variance cannot be estimated (need ≥ 2)",
            )

    w = area / total_area
    sampled = n_i > 0
    safe_n = np.where(sampled, n_i, 1.0)
    dof = np.where(n_i > 1, n_i - 1.0, 1.0)
    row_share = n / safe_n[:, None]  # n_ij / n_i.  (0 for unsampled, zero-area rows)
    p = w[:, None] * row_share  # p̂_ij
    diag = np.diag(row_share)  # Û_i for sampled rows
    users = np.where(sampled, diag, np.nan)

    oa = float(np.trace(p))
    oa_var = float(np.sum(np.where(sampled, w**2 * diag * (1 - diag) / dof, 0.0)))

    ref_prop = p.sum(axis=0)  # p̂_.j
    cell_var = np.where(sampled[:, None], w[:, None] ** 2 * row_share * (1 - row_share) / dof[:, None], 0.0)
    ref_prop_se = np.sqrt(cell_var.sum(axis=0))

    per_class: list[ClassEstimates] = []
    k = len(classes)
    for j in range(k):
        ua = Estimate.normal(users[j], np.sqrt(users[j] * (1 - users[j]) / dof[j]) if sampled[j] else np.nan, z)
        if ref_prop[j] > 0:
            pa_value = p[j, j] / ref_prop[j]
            others = sum(cell_var[i, j] for i in range(k) if i != j)
            own = cell_var[j, j] * (1 - pa_value) ** 2  # W_j² Û_j(1 − Û_j)/(n_j. − 1) · (1 − P̂_j)²
            pa = Estimate.normal(pa_value, np.sqrt(own + pa_value**2 * others) / ref_prop[j], z)
        else:
            pa = Estimate.normal(np.nan, np.nan, z)
        prop = Estimate.normal(ref_prop[j], ref_prop_se[j], z)
        per_class.append(
            ClassEstimates(
                name=classes[j],
                users_accuracy=ua,
                producers_accuracy=pa,
                area_proportion=prop,
                area=prop.scaled(total_area),
                sample_count=int(n_i[j]),
                mapped_area=float(area[j]),
            )
        )
    return AccuracyReport(
        method="olofsson2014",
        classes=tuple(classes),
        sample_counts=n,
        cell_proportions=p,
        overall_accuracy=Estimate.normal(oa, np.sqrt(oa_var), z),
        per_class=tuple(per_class),
        total_area=total_area,
        z=z,
    )
