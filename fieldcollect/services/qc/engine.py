"""Run the registered rules over many relevés: one bulk preparation step, then pure per-relevé checks."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .context import QCContext
from .registry import Finding, Rule, Severity, rules_all
from .snapshot import ReleveSnapshot

logger = logging.getLogger(__name__)

CRASH_RULE = "qc.rule_failed"


@dataclass
class QCReport:
    findings: list[Finding] = field(default_factory=list)
    releves: int = 0
    rules: list[Rule] = field(default_factory=list)
    raster_reads: int = 0  # blocks read by the DEM sampler during preparation

    def by_releve(self) -> dict[object, list[Finding]]:
        grouped: dict[object, list[Finding]] = {}
        for finding in self.findings:
            grouped.setdefault(finding.releve, []).append(finding)
        return grouped


def qc_prepare(*, snapshots: Sequence[ReleveSnapshot], context: QCContext, rasters: bool = True) -> int:
    """Load what rules share in bulk: population indexes and raster samples (one sampler call per run)."""
    context.add_population(s.as_ref() for s in snapshots)
    reads = 0
    if not rasters:
        return reads
    located = [s for s in snapshots if s.has_valid_location and s.key not in context.dem_altitude]
    if context.dem is not None and located:
        before = int(getattr(context.dem, "reads", 0))
        values = context.dem.sample([s.location for s in located if s.location is not None])
        context.dem_altitude.update({s.key: v for s, v in zip(located, values, strict=True)})
        reads = int(getattr(context.dem, "reads", 0)) - before
    keys = [s.key for s in snapshots]
    if context.spectral is not None:
        # Only plots whose class has enough validated peers to judge them: reading their features costs
        # raster reads, and early in a season most classes have too few peers.
        judged = [
            s.key
            for s in snapshots
            if (primary := s.primary_habitat) is not None
            and primary.map_class is not None
            and len(context.spectral_reference(primary.map_class)) >= context.settings.spectral_min_peers
        ]
        if judged:
            context.spectral_features.update(context.spectral.features(judged))
    if context.homogeneity is not None:
        context.footprint_variability.update(context.homogeneity.variability(keys))
    return reads


def qc_evaluate(
    *,
    snapshots: Sequence[ReleveSnapshot],
    context: QCContext,
    rules: Iterable[Rule] | None = None,
    rasters: bool = True,
) -> QCReport:
    """Evaluate ``rules`` (all registered ones by default) on every snapshot; never raises for bad data.

    A rule that fails on an unexpected input is reported as a ``qc.rule_failed`` warning on that relevé,
    so one odd relevé never stops the run (and the failure is visible, not swallowed).
    """
    selected = list(rules) if rules is not None else rules_all(rasters=rasters)
    report = QCReport(releves=len(snapshots), rules=selected)
    report.raster_reads = qc_prepare(snapshots=snapshots, context=context, rasters=rasters)
    for snapshot in snapshots:
        for rule in selected:
            try:
                report.findings.extend(rule(snapshot, context))
            except Exception as exc:
                logger.exception("QC rule %s failed on relevé %s", rule.code, snapshot.key)
                report.findings.append(
                    Finding(
                        releve=snapshot.key,
                        rule=CRASH_RULE,
                        rule_version=1,
                        severity=Severity.WARNING,
                        message=f"Rule {rule.code} could not check this relevé ({type(exc).__name__}).",
                        details={"rule": rule.code, "error": repr(exc)[:500]},
                    )
                )
    return report
