"""Stratified field sampling core: strata areas, allocation, random points. Plain numpy, no Django import."""

from .allocation import AllocationResult, allocate, largest_remainder, sample_size_for_accuracy
from .errors import SamplingError
from .points import PointSet, StrataBlock, strata_count, stratified_random_points

__all__ = [
    "AllocationResult",
    "PointSet",
    "SamplingError",
    "StrataBlock",
    "allocate",
    "largest_remainder",
    "sample_size_for_accuracy",
    "strata_count",
    "stratified_random_points",
]
