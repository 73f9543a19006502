"""Reads of the reference data: habitat search, tree walks, crosswalks, taxa, and legend resolution."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection
from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import Length, Upper

from habitats.models import Correspondence, HabitatUnit, LegendRule, MapClass, MapLegend, Taxon

SEARCH_LIMIT = 20
# Crosswalk relations under which a unit lies inside its counterpart: source "=" or "<" target, and the
# reverse rows target "=" or ">" source (HABREF relation types 1, 2 and 3).
RELATION_EQUAL, RELATION_INCLUDED, RELATION_INCLUDES = 1, 2, 3
INSIDE_RELATIONS = (RELATION_EQUAL, RELATION_INCLUDED, RELATION_INCLUDES)


def normalize_query(text: str) -> str:
    """Lower-case and unaccent a query exactly as the stored search texts are (PostgreSQL ``unaccent``)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT lower(unaccent(replace(%s, '×', 'x')))", [text])
        return cursor.fetchone()[0]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def habitat_unit_search(
    *, query: str, typology: int | None = None, in_france: bool | None = None, limit: int = SEARCH_LIMIT
) -> list[HabitatUnit]:
    """Units whose code starts with ``query``, or each of whose query words starts a word of the names.

    Accent- and case-insensitive (``chene`` finds "Chênaies"); code matches come first, then shallower units.
    """
    normalized = normalize_query(query.strip())
    words = [w for w in "".join(c if c.isalnum() or c == "." else " " for c in normalized).split() if w]
    if not words:
        return []
    code_prefix = _like_escape(query.strip().upper())
    qs = HabitatUnit.objects.select_related("typology")
    if typology is not None:
        qs = qs.filter(typology_id=typology)
    if in_france is not None:
        qs = qs.filter(in_france=in_france)
    by_code = Q(code_upper__startswith=code_prefix) | Q(code_normalized__startswith=code_prefix.replace("-", ""))
    by_words = Q()
    for word in words:
        by_words &= Q(search_text__contains=f" {word}")
    return list(
        qs.annotate(code_upper=Upper("code"))
        .filter(by_code | by_words)
        .annotate(
            code_match=Case(When(by_code, then=Value(0)), default=Value(1), output_field=IntegerField()),
        )
        .order_by("code_match", F("level").asc(nulls_last=True), "typology_id", "code", "cd_hab")[:limit]
    )


def habitat_unit_get_by_code(*, typology: int, code: str) -> HabitatUnit | None:
    """The unit of a typology with this code (``T2-1`` or ``T21``); the reference name wins over synonyms."""
    return (
        HabitatUnit.objects.filter(typology_id=typology, code_normalized="".join(code.split()).replace("-", "").upper())
        .order_by(Case(When(validity=HabitatUnit.Validity.REFERENCE, then=0), default=1), "cd_hab")
        .first()
    )


def habitat_unit_subtree(*, unit: HabitatUnit, include_self: bool = True) -> QuerySet[HabitatUnit]:
    """The unit and everything below it, through the materialised path (one indexed prefix scan)."""
    qs = HabitatUnit.objects.filter(path__startswith=unit.path)
    return qs if include_self else qs.exclude(pk=unit.pk)


def habitat_unit_ancestors(*, unit: HabitatUnit) -> list[HabitatUnit]:
    """The unit's ancestors, root first (read from its path, one query)."""
    ids = [int(part) for part in unit.path.strip("/").split("/") if part and int(part) != unit.pk]
    by_id = HabitatUnit.objects.in_bulk(ids)
    return [by_id[i] for i in ids if i in by_id]


@dataclass(frozen=True)
class CrosswalkTarget:
    unit: HabitatUnit
    relation: str | None
    relation_id: int | None
    direction: str  # "forward": a row from this unit; "reverse": a row towards it, relation inverted


INVERSE = {"<": ">", ">": "<"}


def habitat_unit_crosswalk(*, unit: HabitatUnit, typology: int) -> list[CrosswalkTarget]:
    """The units of ``typology`` that HABREF relates to ``unit``, with the relation type.

    Rows from the unit are used as they are; rows towards it (when HABREF only states the other direction)
    are turned around, ``<`` becoming ``>``.
    """
    forward = (
        Correspondence.objects.filter(source=unit, target__typology_id=typology, valid=True)
        .select_related("target", "relation")
        .order_by("target__code", "target_id")
    )
    results = [
        CrosswalkTarget(c.target, c.relation.short_label if c.relation else None, c.relation_id, "forward")
        for c in forward
    ]
    seen = {r.unit.pk for r in results}
    reverse = (
        Correspondence.objects.filter(target=unit, source__typology_id=typology, valid=True)
        .exclude(source_id__in=seen)
        .select_related("source", "relation")
        .order_by("source__code", "source_id")
    )
    for c in reverse:
        label = c.relation.short_label if c.relation else None
        results.append(CrosswalkTarget(c.source, INVERSE.get(label or "", label), c.relation_id, "reverse"))
    return results


def taxon_autocomplete(*, query: str, limit: int = SEARCH_LIMIT, accepted_only: bool = False) -> list[Taxon]:
    """Taxa whose name without author starts with the query; each word may be abbreviated
    (``que pub`` → Quercus pubescens). Accepted names first, then shorter names."""
    words = normalize_query(query.strip()).split()
    if not words:
        return []
    pattern = " ".join(_like_escape(w) + "%" for w in words)
    qs = Taxon.objects.extra(where=["name_normalized LIKE %s"], params=[pattern])
    if accepted_only:
        qs = qs.filter(cd_nom=F("cd_ref"))
    return list(
        qs.annotate(
            synonym=Case(When(cd_nom=F("cd_ref"), then=Value(0)), default=Value(1), output_field=IntegerField()),
            name_length=Length("name"),
        ).order_by("synonym", "name_length", "name", "cd_nom")[:limit]
    )


def taxon_accepted_map(*, cd_noms: Iterable[int]) -> dict[int, Taxon]:
    """{cd_nom: accepted Taxon} for known names (synonyms resolved through CD_REF); unknown ids are absent."""
    refs = dict(Taxon.objects.filter(cd_nom__in=set(cd_noms)).values_list("cd_nom", "cd_ref"))
    accepted = Taxon.objects.in_bulk(set(refs.values()))
    return {cd_nom: accepted[cd_ref] for cd_nom, cd_ref in refs.items() if cd_ref in accepted}


def taxon_accepted(*, cd_nom: int) -> Taxon | None:
    """The accepted name of a TAXREF name (itself when accepted), or None when unknown."""
    return taxon_accepted_map(cd_noms=[cd_nom]).get(cd_nom)


def _path_ids(path: str) -> list[int]:
    return [int(part) for part in path.strip("/").split("/") if part]


def habitat_unit_map_class(*, legend: MapLegend, units: Iterable[int | HabitatUnit]) -> dict[int, MapClass]:
    """{cd_hab: MapClass} for the given units under ``legend``; units no rule reaches are absent.

    A rule matches a unit when the rule's unit is the unit, or an ancestor of it (``include_subtree``), or
    — with ``via_crosswalk`` — when the unit or one of its ancestors lies inside a unit the rule covers
    according to a HABREF crosswalk (``=``/``<``, or reverse ``=``/``>``). The most specific rule wins: the
    deepest matched unit of the unit's own tree, then the lowest ``priority``, then the lowest class value.
    Four queries whatever the number of units.
    """
    cd_habs = {u.pk if isinstance(u, HabitatUnit) else int(u) for u in units}
    if not cd_habs:
        return {}
    paths = dict(HabitatUnit.objects.filter(cd_hab__in=cd_habs).values_list("cd_hab", "path"))
    rules = list(
        LegendRule.objects.filter(map_class__legend=legend).values_list(
            "unit_id", "unit__path", "include_subtree", "via_crosswalk", "priority", "map_class__value", "map_class_id"
        )
    )
    if not rules:
        return {}
    # candidate rules per anchor unit: (rule covers the anchor's subtree?, priority, class value, class id)
    direct: dict[int, list[tuple[bool, int, int, int]]] = defaultdict(list)
    crosswalk_rules: dict[int, list[tuple[bool, int, int, int]]] = defaultdict(list)
    for unit_id, _path, subtree, via_crosswalk, priority, value, class_id in rules:
        direct[unit_id].append((subtree, priority, value, class_id))
        if via_crosswalk:
            crosswalk_rules[unit_id].append((subtree, priority, value, class_id))

    ancestors = {cd: _path_ids(path) for cd, path in paths.items()}
    # Anchor → rules reached through a crosswalk from it.
    via: dict[int, list[tuple[bool, int, int, int]]] = defaultdict(list)
    if crosswalk_rules:
        all_anchors = {a for chain in ancestors.values() for a in chain}
        rows = Correspondence.objects.filter(valid=True, relation_id__in=INSIDE_RELATIONS).filter(
            Q(source_id__in=all_anchors) | Q(target_id__in=all_anchors)
        )
        for source, source_path, target, target_path, relation in rows.values_list(
            "source_id", "source__path", "target_id", "target__path", "relation_id"
        ):
            # (inner, outer's path): the inner unit lies inside the outer one.
            pairs = []
            if relation in (RELATION_EQUAL, RELATION_INCLUDED):
                pairs.append((source, target_path))
            if relation in (RELATION_EQUAL, RELATION_INCLUDES):
                pairs.append((target, source_path))
            for inner, outer_path in pairs:
                if inner not in all_anchors:
                    continue
                outer_chain = _path_ids(outer_path)
                for depth, covering in enumerate(outer_chain):
                    for subtree, priority, value, class_id in crosswalk_rules.get(covering, ()):
                        # The outer unit must be the rule's unit or, for a subtree rule, below it.
                        if depth == len(outer_chain) - 1 or subtree:
                            via[inner].append((subtree, priority, value, class_id))

    classes = MapClass.objects.in_bulk({r[6] for r in rules})
    result: dict[int, MapClass] = {}
    for cd_hab, chain in ancestors.items():
        # Walk from the unit up to its root: the first level with a matching rule is the most specific.
        for anchor in reversed(chain):
            is_self = anchor == cd_hab
            candidates = [
                (priority, value, class_id)
                for subtree, priority, value, class_id in (*direct.get(anchor, ()), *via.get(anchor, ()))
                if is_self or subtree
            ]
            if candidates:
                result[cd_hab] = classes[min(candidates)[2]]
                break
    return result


def legend_units_by_class(*, legend: MapLegend, typology: int | None = None) -> dict[int, list[int]]:
    """{class id: [cd_hab…]} of every unit (optionally of one typology) the legend classifies."""
    units = HabitatUnit.objects.all()
    if typology is not None:
        units = units.filter(typology_id=typology)
    mapping = habitat_unit_map_class(legend=legend, units=units.values_list("cd_hab", flat=True))
    by_class: dict[int, list[int]] = defaultdict(list)
    for cd_hab, map_class in sorted(mapping.items()):
        by_class[map_class.pk].append(cd_hab)
    return by_class


def map_legend_active(*, name: str | None = None) -> MapLegend | None:
    """The active legend (of a name, or the most recent active one)."""
    qs = MapLegend.objects.filter(is_active=True)
    if name is not None:
        qs = qs.filter(name=name)
    return qs.order_by("-created_at", "-pk").first()
