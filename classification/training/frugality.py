"""What a computation costs: wall time, CPU-seconds (all threads and reaped children), peak memory, energy.

Energy is an estimate, not a measurement: CPU-seconds × a configurable power per busy core. It is meant
for comparing runs on the same machine ("what each point of accuracy costs"), not for carbon accounting.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: Default power drawn by one busy core, in watts (a mid-range server core under load; configurable).
DEFAULT_WATTS_PER_CORE = 10.0
JOULES_PER_KWH = 3.6e6

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def energy_kwh(cpu_seconds: float, *, watts_per_core: float = DEFAULT_WATTS_PER_CORE) -> float:
    """Energy estimate of `cpu_seconds` of busy cores: CPU-seconds × watts per core / 3.6e6."""
    if cpu_seconds < 0 or watts_per_core < 0:
        raise ValueError("cpu_seconds and watts_per_core must be non-negative")
    return cpu_seconds * watts_per_core / JOULES_PER_KWH


def _cpu_seconds() -> float:
    # RUSAGE_SELF counts every thread of the process (OpenMP, BLAS, joblib threads); RUSAGE_CHILDREN
    # counts child processes once they have been waited for (joblib/loky processes, subprocesses).
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _read_status_kib(key: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset the process's peak RSS (VmHWM) so the next reading is the peak of this run (Linux ≥ 4.0)."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def peak_rss_bytes() -> int:
    """Peak resident memory of this process since the last reset (or since it started)."""
    kib = _read_status_kib("VmHWM")
    if kib is None:
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kib * 1024


@dataclass
class Frugality:
    """The cost of one run. `peak_rss_scope` is "run" when the peak was reset at the start, else "process"."""

    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_rss_bytes: int = 0
    peak_rss_scope: str = "run"
    rss_start_bytes: int = 0  # resident memory when the run started: peak − start is what the run added
    watts_per_core: float = DEFAULT_WATTS_PER_CORE
    energy_kwh: float = 0.0
    model_size_bytes: int | None = None
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def cpu_hours(self) -> float:
        return self.cpu_seconds / 3600.0

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["cpu_hours"] = self.cpu_hours
        return data

    def add(self, other: Frugality) -> Frugality:
        """Combine two runs (e.g. tiles done by different workers): times and energy add, peak is the max."""
        scope = "run" if self.peak_rss_scope == other.peak_rss_scope == "run" else "process"
        cpu = self.cpu_seconds + other.cpu_seconds
        return Frugality(
            wall_seconds=self.wall_seconds + other.wall_seconds,
            cpu_seconds=cpu,
            peak_rss_bytes=max(self.peak_rss_bytes, other.peak_rss_bytes),
            peak_rss_scope=scope,
            rss_start_bytes=max(self.rss_start_bytes, other.rss_start_bytes),
            watts_per_core=self.watts_per_core,
            energy_kwh=self.energy_kwh + other.energy_kwh,
        )


@contextmanager
def measure(*, watts_per_core: float = DEFAULT_WATTS_PER_CORE) -> Iterator[Frugality]:
    """Measure the block: `with measure() as cost: fit()`; `cost` is filled in when the block exits."""
    cost = Frugality(watts_per_core=watts_per_core)
    cost.peak_rss_scope = "run" if _reset_peak_rss() else "process"
    cost.rss_start_bytes = (_read_status_kib("VmRSS") or 0) * 1024
    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    try:
        yield cost
    finally:
        cost.wall_seconds = time.perf_counter() - t0
        cost.cpu_seconds = max(0.0, _cpu_seconds() - cpu0)
        cost.peak_rss_bytes = peak_rss_bytes()
        cost.energy_kwh = energy_kwh(cost.cpu_seconds, watts_per_core=watts_per_core)
