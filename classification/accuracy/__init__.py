"""Design-based map accuracy and area estimation (pure numpy; no Django import).

Entry points:

- :func:`estimate_olofsson` — stratified random sample with the map classes as strata, from an error
  matrix of sample counts and the mapped area of each class (Olofsson et al. 2014).
- :func:`estimate_stehman` — stratified random sample whose strata are not the map classes, from the
  per-unit (stratum, map class, reference class) and each stratum's size (Stehman 2014).
- :func:`sample_size_overall_accuracy`, :func:`sample_size_users_accuracy`, :func:`allocate`,
  :func:`allocation_suggestions` — designing the validation sample.
- :func:`transition_matrix`, :func:`transition_strata`, :func:`estimate_change_area` — year-to-year change.

Assessing a stored map run (to be wired by the service layer, which owns the Django side)::

    accuracy_assessment_run(*, map_run: MapRun, sampling_plan: SamplingPlan, actor: User) -> AccuracyAssessment

reads, for every validated sample point of the plan, its stratum (``SamplePoint.stratum``), the map class
at the point from the run's class COG, and the reference class from the validated relevé through the
legend's rules; takes each stratum's size in pixels from the stratification raster; then calls
``estimate_stehman(sample=ValidationSample(...), stratum_sizes=..., classes=legend_class_names)`` — which
equals :func:`estimate_olofsson` when the strata are the run's own map classes — and stores
``AccuracyReport.as_dict()``.
"""

from classification.accuracy.change import (
    ChangeAreaReport,
    ChangeSample,
    estimate_change_area,
    transition_label,
    transition_matrix,
    transition_strata,
)
from classification.accuracy.design import StratifiedDesign
from classification.accuracy.errors import AccuracyInputError
from classification.accuracy.estimates import Z_95, AccuracyReport, ClassEstimates, Estimate
from classification.accuracy.olofsson import error_matrix, estimate_olofsson
from classification.accuracy.sample_size import (
    ALLOCATIONS,
    AllocationOption,
    allocate,
    allocation_suggestions,
    anticipated_standard_errors,
    sample_size_overall_accuracy,
    sample_size_users_accuracy,
)
from classification.accuracy.stehman import ValidationSample, estimate_stehman
from classification.accuracy.tables import read_counts, read_named_values, read_sample

__all__ = [
    "ALLOCATIONS",
    "Z_95",
    "AccuracyInputError",
    "AccuracyReport",
    "AllocationOption",
    "ChangeAreaReport",
    "ChangeSample",
    "ClassEstimates",
    "Estimate",
    "StratifiedDesign",
    "ValidationSample",
    "allocate",
    "allocation_suggestions",
    "anticipated_standard_errors",
    "error_matrix",
    "estimate_change_area",
    "estimate_olofsson",
    "estimate_stehman",
    "read_counts",
    "read_named_values",
    "read_sample",
    "sample_size_overall_accuracy",
    "sample_size_users_accuracy",
    "transition_label",
    "transition_matrix",
    "transition_strata",
]
