"""Map legends: define a legend version from a specification (classes and their rules), activate it, and
record every change as a reference version so that tablets pick it up."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction

from habitats.models import HabitatUnit, LegendRule, MapClass, MapLegend, ReferenceVersion
from habitats.selectors import habitat_unit_get_by_code


@dataclass(frozen=True)
class RuleSpec:
    typology: int
    code: str
    include_subtree: bool = True
    via_crosswalk: bool = False
    priority: int = 100


@dataclass(frozen=True)
class ClassSpec:
    value: int
    code: str
    name: str
    color: str = "#808080"
    description: str = ""
    rules: tuple[RuleSpec, ...] = field(default_factory=tuple)


class LegendError(Exception):
    """A legend specification naming unknown units or inconsistent classes; nothing was written."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))


def map_legend_touch(*, legend: MapLegend, source: str) -> ReferenceVersion:
    """Record a change of a legend (classes or rules) as a new reference version."""
    version = ReferenceVersion.objects.create(source=source[:200], summary={"legend": str(legend)})
    MapLegend.objects.filter(pk=legend.pk).update(ref_version=version.pk)
    legend.ref_version = version.pk
    return version


def _current_spec(legend: MapLegend) -> list[tuple]:
    spec = []
    for c in legend.classes.order_by("value").prefetch_related("rules"):
        rules = sorted((r.unit_id, r.include_subtree, r.via_crosswalk, r.priority) for r in c.rules.all())
        spec.append((c.value, c.code, c.name, c.color, c.description, tuple(rules)))
    return spec


@transaction.atomic
def map_legend_define(
    *, name: str, version: int, classes: list[ClassSpec], description: str = "", activate: bool = False
) -> tuple[MapLegend, bool]:
    """Create or replace the classes and rules of legend ``name`` v``version``; returns (legend, changed).

    Idempotent: the same specification again changes nothing and records no reference version. Units are
    named by typology and code (``T2-1`` or ``T21``); any unknown unit aborts the whole definition.
    """
    errors: dict[str, list[str]] = {}
    resolved: list[tuple[ClassSpec, list[tuple[HabitatUnit, RuleSpec]]]] = []
    values, codes = set(), set()
    for i, spec in enumerate(classes):
        if spec.value in values or not 1 <= spec.value <= 65535:
            errors.setdefault(f"classes.{i}.value", []).append(f"value {spec.value} is duplicated or not in 1…65535")
        if spec.code in codes:
            errors.setdefault(f"classes.{i}.code", []).append(f"code {spec.code} is duplicated")
        values.add(spec.value)
        codes.add(spec.code)
        units = []
        for j, rule in enumerate(spec.rules):
            unit = habitat_unit_get_by_code(typology=rule.typology, code=rule.code)
            if unit is None:
                errors.setdefault(f"classes.{i}.rules.{j}", []).append(
                    f"no unit {rule.code!r} in typology {rule.typology}"
                )
            else:
                units.append((unit, rule))
        resolved.append((spec, units))
    if errors:
        raise LegendError(errors)
    legend, created = MapLegend.objects.get_or_create(name=name, version=version, defaults={"description": description})
    wanted = [
        (
            spec.value,
            spec.code,
            spec.name,
            spec.color,
            spec.description,
            tuple(sorted((u.pk, r.include_subtree, r.via_crosswalk, r.priority) for u, r in units)),
        )
        for spec, units in sorted(resolved, key=lambda item: item[0].value)
    ]
    changed = created or _current_spec(legend) != wanted or legend.description != description
    if changed:
        legend.description = description
        legend.save(update_fields=["description"])
        legend.classes.all().delete()
        for spec, units in resolved:
            map_class = MapClass.objects.create(
                legend=legend,
                value=spec.value,
                code=spec.code,
                name=spec.name,
                color=spec.color,
                description=spec.description,
            )
            LegendRule.objects.bulk_create(
                LegendRule(
                    map_class=map_class,
                    unit=unit,
                    include_subtree=rule.include_subtree,
                    via_crosswalk=rule.via_crosswalk,
                    priority=rule.priority,
                )
                for unit, rule in units
            )
    if activate and not legend.is_active:
        map_legend_activate(legend=legend, touch=False)
        changed = True
    if changed:
        map_legend_touch(legend=legend, source=f"legend {legend}")
    return legend, changed


@transaction.atomic
def map_legend_activate(*, legend: MapLegend, touch: bool = True) -> MapLegend:
    """Make this version the active one of its name (the others of the name are deactivated)."""
    MapLegend.objects.filter(name=legend.name, is_active=True).exclude(pk=legend.pk).update(is_active=False)
    MapLegend.objects.filter(pk=legend.pk).update(is_active=True)
    legend.is_active = True
    if touch:
        map_legend_touch(legend=legend, source=f"legend {legend} activated")
    return legend
