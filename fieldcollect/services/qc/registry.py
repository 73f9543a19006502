"""The QC rule registry: each rule is a small named, versioned pure function.

A rule receives one relevé snapshot and the shared context and yields ``Flag``s; the engine turns them
into ``Finding``s stamped with the rule's code and version. Bump a rule's ``version`` whenever its logic
or thresholds change: stored results remember the version that produced them, so stale ones can be re-run.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .context import QCContext
from .snapshot import ReleveSnapshot


class Severity(StrEnum):
    ERROR = "error"  # blocks validation unless a coordinator waives it with a reason
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 3, "warning": 2, "info": 1}[self.value]


@dataclass(frozen=True, slots=True)
class Flag:
    """What a rule reports: a sentence for people and JSON-serialisable details for machines."""

    message: str
    details: dict[str, Any] = field(default_factory=dict)
    severity: Severity | None = None  # None: the rule's own severity


@dataclass(frozen=True, slots=True)
class Finding:
    releve: Hashable
    rule: str
    rule_version: int
    severity: Severity
    message: str
    details: dict[str, Any]


RuleCheck = Callable[[ReleveSnapshot, QCContext], Iterable[Flag]]


@dataclass(frozen=True)
class Rule:
    code: str
    severity: Severity  # the most severe a finding of this rule usually is; flags may lower or raise it
    version: int
    description: str  # one line, shown to coordinators
    check: RuleCheck
    uses_rasters: bool = False

    def __call__(self, snapshot: ReleveSnapshot, context: QCContext) -> list[Finding]:
        return [
            Finding(
                releve=snapshot.key,
                rule=self.code,
                rule_version=self.version,
                severity=flag.severity or self.severity,
                message=flag.message,
                details=flag.details,
            )
            for flag in self.check(snapshot, context)
        ]


REGISTRY: dict[str, Rule] = {}


def qc_rule(
    *, code: str, severity: Severity, version: int, description: str, uses_rasters: bool = False
) -> Callable[[RuleCheck], RuleCheck]:
    """Register a check function under ``code``."""

    def register(check: RuleCheck) -> RuleCheck:
        if code in REGISTRY:
            raise ValueError(f"QC rule {code!r} is registered twice")
        if "\n" in description:
            raise ValueError(f"QC rule {code!r}: the description must be one line")
        REGISTRY[code] = Rule(code, severity, version, description, check, uses_rasters)
        return check

    return register


def rules_all(*, rasters: bool = True) -> list[Rule]:
    """The registered rules in code order; ``rasters=False`` leaves out those reading rasters."""
    return [rule for code, rule in sorted(REGISTRY.items()) if rasters or not rule.uses_rasters]
