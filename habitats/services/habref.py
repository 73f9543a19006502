"""HABREF importers: typologies (TYPOREF), relation types (HABREF_TYPE_REL), habitat units (HABREF) and
crosswalks (HABREF_CORRESP_HAB). One transaction for all the files of a run: a failure leaves the
previous data intact."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction
from tqdm import tqdm

from habitats.models import Correspondence, HabitatUnit, RelationType, Typology
from habitats.services.importing import (
    ImportAborted,
    ImportReport,
    ReferenceVersionSource,
    parse_bool,
    parse_int,
    read_table,
    run_sql,
    upsert,
)

VALIDITY_CODES = {
    "NR": HabitatUnit.Validity.REFERENCE,
    "1": HabitatUnit.Validity.REFERENCE,
    "SYN": HabitatUnit.Validity.SYNONYM,
    "2": HabitatUnit.Validity.SYNONYM,
    "SUPPR": HabitatUnit.Validity.DELETED,
    "3": HabitatUnit.Validity.DELETED,
    "ERR": HabitatUnit.Validity.ERROR,
    "7": HabitatUnit.Validity.ERROR,
}
MAX_PATH = HabitatUnit._meta.get_field("path").max_length or 500
MAX_CODE = HabitatUnit._meta.get_field("code").max_length or 50


def normalize_code(code: str) -> str:
    """HABREF writes EUNIS 2022 codes with a dash (T2-1), the EEA and EUNIS-ESy without (T21)."""
    return "".join(code.split()).replace("-", "").upper()


@dataclass(frozen=True)
class HabrefFiles:
    typologies: Path | None = None
    relation_types: Path | None = None
    units: Path | None = None
    crosswalks: Path | None = None

    @classmethod
    def from_directory(cls, directory: Path | str, version: str = "70") -> HabrefFiles:
        d = Path(directory)

        def pick(*names: str) -> Path | None:
            return next((d / n for n in names if (d / n).is_file()), None)

        return cls(
            typologies=pick(f"TYPOREF_{version}.csv"),
            relation_types=pick(f"HABREF_TYPE_REL_{version}.csv"),
            units=pick(f"HABREF_{version}.csv", f"HABREF_{version}_SUBSET.csv"),
            crosswalks=pick(f"HABREF_CORRESP_HAB_{version}.csv"),
        )


def _int_or_reject(report: ImportReport, line: int, row: dict[str, str], column: str, required: bool) -> int | None:
    value = row.get(column, "")
    try:
        parsed = parse_int(value)
    except ValueError:
        report.reject(line, column, "bad_value", f"{column} must be an integer, got {value!r}")
        return None
    if parsed is None and required:
        report.reject(line, column, "missing_value", f"{column} is empty")
    if parsed is not None and parsed < 0:
        report.reject(line, column, "bad_value", f"{column} must be positive, got {value!r}")
        return None
    return parsed


def _bool_or_reject(report: ImportReport, line: int, row: dict[str, str], column: str) -> bool | None:
    try:
        return parse_bool(row.get(column, ""))
    except ValueError:
        report.reject(line, column, "bad_value", f"{column} must be true or false, got {row.get(column)!r}")
        return None


def _rows(table: Any, desc: str, progress: bool) -> Iterable[tuple[int, dict[str, str]]]:
    return tqdm(table.rows, desc=desc, unit=" rows", disable=not progress, mininterval=0.5)


def _finish(report: ImportReport, skip_invalid: bool) -> None:
    if report.rejected and not skip_invalid:
        raise ImportAborted([report])


def typologies_import(
    *, path: Path | str, version: ReferenceVersionSource, skip_invalid: bool = False, progress: bool = False
) -> ImportReport:
    """Upsert TYPOREF typologies by CD_TYPO."""
    table = read_table(path, kind="typologies", delimiter=";", required=["CD_TYPO", "LB_NOM_TYPO"])
    report = ImportReport(file=str(path), kind="typologies")
    rows: dict[int, dict[str, Any]] = {}
    first_line: dict[int, int] = {}
    for line, row in _rows(table, "TYPOREF", progress):
        report.rows += 1
        before = len(report.rejected)
        cd_typo = _int_or_reject(report, line, row, "CD_TYPO", required=True)
        name = row["LB_NOM_TYPO"].strip()
        if not name:
            report.reject(line, "LB_NOM_TYPO", "missing_value", "LB_NOM_TYPO is empty")
        if cd_typo is not None and cd_typo in first_line:
            report.reject(line, "CD_TYPO", "duplicate_id", f"CD_TYPO {cd_typo} already on line {first_line[cd_typo]}")
        if len(report.rejected) > before or cd_typo is None:
            continue
        first_line[cd_typo] = line
        rows[cd_typo] = {
            "table_code": row.get("CD_TABLE", "").strip()[:100],
            "name": name[:200],
            "dataset_name": row.get("NOM_JEU_DONNEES", "").strip()[:500],
            "description": row.get("DESCRIPTION", "").strip(),
        }
    _finish(report, skip_invalid)
    upsert(model=Typology, rows=rows, fields=list(next(iter(rows.values()), {})), report=report, version=version)
    report.written = True
    return report


def relation_types_import(
    *, path: Path | str, version: ReferenceVersionSource, skip_invalid: bool = False, progress: bool = False
) -> ImportReport:
    """Upsert HABREF_TYPE_REL relation types by CD_TYPE_REL."""
    table = read_table(path, kind="relation types", delimiter=";", required=["CD_TYPE_REL", "LB_TYPE_REL"])
    report = ImportReport(file=str(path), kind="relation types")
    rows: dict[int, dict[str, Any]] = {}
    first_line: dict[int, int] = {}
    for line, row in _rows(table, "HABREF_TYPE_REL", progress):
        report.rows += 1
        before = len(report.rejected)
        cd = _int_or_reject(report, line, row, "CD_TYPE_REL", required=True)
        between = _bool_or_reject(report, line, row, "CORRESP_HAB")
        to_species = _bool_or_reject(report, line, row, "CORRESP_ESP")
        if cd is not None and cd in first_line:
            report.reject(line, "CD_TYPE_REL", "duplicate_id", f"CD_TYPE_REL {cd} already on line {first_line[cd]}")
        if len(report.rejected) > before or cd is None:
            continue
        first_line[cd] = line
        rows[cd] = {
            "short_label": row["LB_TYPE_REL"].strip()[:100],
            "label": row.get("LB_REL", "").strip()[:300],
            "definition": row.get("LB_DEFINITION", "").strip(),
            "between_habitats": bool(between),
            "habitat_to_species": bool(to_species),
        }
    _finish(report, skip_invalid)
    fields = ["short_label", "label", "definition", "between_habitats", "habitat_to_species"]
    upsert(model=RelationType, rows=rows, fields=fields, report=report, version=version)
    report.written = True
    return report


UNIT_FIELDS = [
    "typology_id",
    "code",
    "code_normalized",
    "name_fr",
    "name_fr_full",
    "name_en",
    "author",
    "level",
    "parent_id",
    "path",
    "validity",
    "in_france",
    "description",
]


def habitat_units_import(
    *, path: Path | str, version: ReferenceVersionSource, skip_invalid: bool = False, progress: bool = False
) -> ImportReport:
    """Upsert HABREF habitat units by CD_HAB, computing the materialised path from CD_HAB_SUP.

    Rejected: bad values, unknown typologies, duplicate CD_HAB, dangling parents, cycles, and the
    descendants of rejected units. A unit whose CD_HAB_SUP is itself (HABREF's level-1 units) is a root.
    """
    table = read_table(
        path, kind="habitat units", delimiter=";", required=["CD_HAB", "CD_TYPO", "LB_CODE", "CD_HAB_SUP"]
    )
    report = ImportReport(file=str(path), kind="habitat units")
    known_typologies = set(Typology.objects.values_list("cd_typo", flat=True))
    parsed: dict[int, dict[str, Any]] = {}
    lines: dict[int, int] = {}
    for line, row in _rows(table, "HABREF units", progress):
        report.rows += 1
        before = len(report.rejected)
        cd_hab = _int_or_reject(report, line, row, "CD_HAB", required=True)
        cd_typo = _int_or_reject(report, line, row, "CD_TYPO", required=True)
        parent = _int_or_reject(report, line, row, "CD_HAB_SUP", required=False)
        level = _int_or_reject(report, line, row, "NIVEAU", required=False) if "NIVEAU" in row else None
        in_france = _bool_or_reject(report, line, row, "FRANCE")
        validity_raw = row.get("FG_VALIDITE", "").strip().upper() or "NR"
        validity = VALIDITY_CODES.get(validity_raw)
        if validity is None:
            report.reject(line, "FG_VALIDITE", "bad_value", f"unknown validity {validity_raw!r} (NR, SYN, SUPPR, ERR)")
        if cd_typo is not None and cd_typo not in known_typologies:
            report.reject(
                line, "CD_TYPO", "unknown_typology", f"typology {cd_typo} is not in TYPOREF (import typologies first)"
            )
        code = row["LB_CODE"].strip()
        if len(code) > MAX_CODE:
            report.reject(line, "LB_CODE", "bad_value", f"LB_CODE longer than {MAX_CODE} characters")
        if cd_hab is not None and cd_hab in lines:
            report.reject(line, "CD_HAB", "duplicate_id", f"CD_HAB {cd_hab} already on line {lines[cd_hab]}")
            continue
        if cd_hab is None:
            continue
        lines[cd_hab] = line
        if len(report.rejected) > before:
            parsed[cd_hab] = {"rejected": True}
            continue
        parsed[cd_hab] = {
            "typology_id": cd_typo,
            "code": code,
            "code_normalized": normalize_code(code),
            "name_fr": row.get("LB_HAB_FR", "").strip(),
            "name_fr_full": row.get("LB_HAB_FR_COMPLET", "").strip(),
            "name_en": row.get("LB_HAB_EN", "").strip(),
            "author": row.get("LB_AUTEUR", "").strip(),
            "level": level,
            "parent_id": None if parent in (None, cd_hab) else parent,
            "validity": validity,
            "in_france": in_france,
            "description": row.get("LB_DESCRIPTION", "").strip(),
        }

    # Parents outside the file must already be stored.
    outside = {u["parent_id"] for u in parsed.values() if u.get("parent_id") and u["parent_id"] not in parsed}
    stored_parents = {
        cd: (typo, path)
        for cd, typo, path in HabitatUnit.objects.filter(cd_hab__in=outside).values_list(
            "cd_hab", "typology_id", "path"
        )
    }
    paths: dict[int, str | None] = {}  # None: rejected

    def resolve(cd_hab: int) -> str | None:
        # Iterative walk up the parents, so a deep or cyclic chain never recurses.
        chain: list[int] = []
        on_chain: set[int] = set()
        current: int | None = cd_hab
        prefix: str | None = "/"
        while current is not None:
            if current in paths:
                prefix = paths[current]
                break
            unit = parsed[current]
            if unit.get("rejected"):
                paths[current] = None
                prefix = None
                break
            if current in on_chain:
                cycle = chain[chain.index(current) :]
                listed = " → ".join(str(c) for c in [*cycle, current])
                for member in cycle:
                    report.reject(lines[member], "CD_HAB_SUP", "cycle", f"CD_HAB_SUP forms a cycle: {listed}")
                    paths[member] = None
                chain = chain[: chain.index(current)]
                prefix = None
                break
            chain.append(current)
            on_chain.add(current)
            parent = unit["parent_id"]
            if parent is None:
                prefix = "/"
                break
            if parent in parsed:
                if not parsed[parent].get("rejected") and parsed[parent]["typology_id"] != unit["typology_id"]:
                    report.reject(
                        lines[current],
                        "CD_HAB_SUP",
                        "parent_other_typology",
                        f"parent {parent} belongs to typology {parsed[parent]['typology_id']}, "
                        f"not {unit['typology_id']}",
                    )
                    paths[current] = None
                    chain.pop()
                    prefix = None
                    break
                current = parent
                continue
            if parent in stored_parents:
                prefix = stored_parents[parent][1]
                break
            report.reject(
                lines[current],
                "CD_HAB_SUP",
                "dangling_parent",
                f"parent {parent} is neither in the file nor already imported",
            )
            paths[current] = None
            chain.pop()
            prefix = None
            break
        # Unwind: each unit's path is its parent's path plus itself; below a rejected unit, reject.
        for member in reversed(chain):
            if member in paths:
                prefix = paths[member]
                continue
            if prefix is None:
                parent = parsed[member]["parent_id"]
                report.reject(
                    lines[member], "CD_HAB_SUP", "parent_rejected", f"parent {parent} was rejected, so is its subtree"
                )
                paths[member] = None
                continue
            path = f"{prefix}{member}/"
            if len(path) > MAX_PATH:
                report.reject(lines[member], "CD_HAB_SUP", "too_deep", f"path longer than {MAX_PATH} characters")
                paths[member] = None
                prefix = None
                continue
            paths[member] = path
            prefix = path
        return paths.get(cd_hab)

    for cd_hab in parsed:
        resolve(cd_hab)

    rows = {}
    seen_codes: dict[tuple[int, str], int] = {}
    for cd_hab, unit in parsed.items():
        path_value = paths.get(cd_hab)
        if path_value is None:
            continue
        unit["path"] = path_value
        rows[cd_hab] = unit
        if unit["code"] and unit["validity"] == HabitatUnit.Validity.REFERENCE:
            key = (unit["typology_id"], unit["code_normalized"])
            if key in seen_codes:
                report.warn(
                    lines[cd_hab],
                    "LB_CODE",
                    "duplicate_code",
                    f"code {unit['code']} of typology {key[0]} is also used by CD_HAB {seen_codes[key]}",
                )
            else:
                seen_codes[key] = cd_hab
    report.rejected.sort(key=lambda p: p.line)
    _finish(report, skip_invalid)
    upsert(model=HabitatUnit, rows=rows, fields=UNIT_FIELDS, report=report, version=version)
    if report.changed:
        # Derived in SQL with unaccent, exactly as search queries are normalised (selectors.py).
        run_sql(
            "UPDATE habitats_habitatunit SET search_text = ' ' || trim(regexp_replace(lower(unaccent("
            "concat_ws(' ', code, code_normalized, name_fr, name_fr_full, name_en))), '[^a-z0-9.]+', ' ', 'g')) "
            "|| ' ' WHERE ref_version = %s",
            [version.get()],
        )
        # Fresh statistics after a bulk load, so that searches use the trigram and prefix indexes.
        run_sql("ANALYZE habitats_habitatunit", [])
    report.written = True
    return report


CROSSWALK_FIELDS = ["source_id", "target_id", "relation_id", "condition", "remarks", "valid"]


def crosswalks_import(
    *, path: Path | str, version: ReferenceVersionSource, skip_invalid: bool = False, progress: bool = False
) -> ImportReport:
    """Upsert HABREF_CORRESP_HAB rows whose two units are imported; rows naming units of typologies not
    loaded are skipped (counted), rows naming unknown typologies or relation types are rejected."""
    table = read_table(
        path, kind="crosswalks", delimiter=";", required=["CD_CORRESP_HAB", "CD_HAB_ENTRE", "CD_HAB_SORTIE"]
    )
    report = ImportReport(file=str(path), kind="crosswalks")
    known_typologies = set(Typology.objects.values_list("cd_typo", flat=True))
    relation_types = set(RelationType.objects.values_list("cd_type_rel", flat=True))
    units = dict(HabitatUnit.objects.values_list("cd_hab", "typology_id"))
    rows: dict[int, dict[str, Any]] = {}
    lines: dict[int, int] = {}
    for line, row in _rows(table, "HABREF crosswalks", progress):
        report.rows += 1
        before = len(report.rejected)
        cd = _int_or_reject(report, line, row, "CD_CORRESP_HAB", required=True)
        source = _int_or_reject(report, line, row, "CD_HAB_ENTRE", required=True)
        # HABREF states "no correspondence in that typology" (relation 24) as a row without a target.
        target = _int_or_reject(report, line, row, "CD_HAB_SORTIE", required=False)
        relation = _int_or_reject(report, line, row, "CD_TYPE_RELATION", required=False)
        typo_in = _int_or_reject(report, line, row, "CD_TYPO_ENTRE", required=False)
        typo_out = _int_or_reject(report, line, row, "CD_TYPO_SORTIE", required=False)
        valid = _bool_or_reject(report, line, row, "VALIDITE")
        if relation is not None and relation not in relation_types:
            report.reject(line, "CD_TYPE_RELATION", "unknown_relation_type", f"relation type {relation} is unknown")
        for column, typo in (("CD_TYPO_ENTRE", typo_in), ("CD_TYPO_SORTIE", typo_out)):
            if typo is not None and typo not in known_typologies:
                report.reject(line, column, "unknown_typology", f"typology {typo} is not in TYPOREF")
        if cd is not None and cd in lines:
            report.reject(line, "CD_CORRESP_HAB", "duplicate_id", f"CD_CORRESP_HAB {cd} already on line {lines[cd]}")
            continue
        if cd is None or source is None or len(report.rejected) > before:
            continue
        lines[cd] = line
        if target is None:
            report.skip("without a target unit (no correspondence)")
            continue
        if source not in units or target not in units:
            missing_typo = typo_in if source not in units else typo_out
            report.skip(f"unit of typology {missing_typo if missing_typo is not None else '?'} not imported")
            continue
        for column, unit, typo in (("CD_TYPO_ENTRE", source, typo_in), ("CD_TYPO_SORTIE", target, typo_out)):
            if typo is not None and units[unit] != typo:
                report.reject(
                    line, column, "typology_mismatch", f"unit {unit} belongs to typology {units[unit]}, not {typo}"
                )
        if len(report.rejected) > before:
            continue
        rows[cd] = {
            "source_id": source,
            "target_id": target,
            "relation_id": relation,
            "condition": row.get("LB_CONDITION", "").strip(),
            "remarks": row.get("LB_REMARQUES", "").strip(),
            "valid": True if valid is None else valid,
        }
    _finish(report, skip_invalid)
    upsert(model=Correspondence, rows=rows, fields=CROSSWALK_FIELDS, report=report, version=version)
    report.written = True
    return report


@transaction.atomic
def habref_import(
    *, files: HabrefFiles, skip_invalid: bool = False, progress: bool = False, source: str = "HABREF"
) -> list[ImportReport]:
    """Import the given HABREF files in dependency order, all or nothing (see ImportAborted)."""
    version = ReferenceVersionSource(source)
    reports: list[ImportReport] = []
    steps = [
        (files.typologies, typologies_import),
        (files.relation_types, relation_types_import),
        (files.units, habitat_units_import),
        (files.crosswalks, crosswalks_import),
    ]
    for path, step in steps:
        if path is None:
            continue
        try:
            reports.append(step(path=path, version=version, skip_invalid=skip_invalid, progress=progress))
        except ImportAborted as aborted:
            raise ImportAborted([*reports, *aborted.reports], str(aborted)) from None
    version.finish(reports)
    return reports
