"""EUNIS-ESy characteristic species importer: links each row to a habitat unit by normalised EUNIS code
(``T21`` ≡ HABREF's ``T2-1``) and to a taxon by the name without author."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.db.models import Case, F, When
from tqdm import tqdm

from habitats.models import CharacteristicSpecies, HabitatUnit, Taxon
from habitats.services.habref import normalize_code
from habitats.services.importing import ImportAborted, ImportReport, ReferenceVersionSource, read_table

EUNIS_2022 = 107
KINDS = {
    "diagnostic": CharacteristicSpecies.Kind.DIAGNOSTIC,
    "constant": CharacteristicSpecies.Kind.CONSTANT,
    "dominant": CharacteristicSpecies.Kind.DOMINANT,
}
FIELDS = ["habitat_id", "habitat_name", "taxon_id", "value"]


def _normalized_names(names: list[str]) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n, lower(unaccent(replace(n, '×', 'x'))) FROM unnest(%s::text[]) AS n",
            [names],
        )
        return dict(cursor.fetchall())


@transaction.atomic
def characteristic_species_import(
    *,
    path: Path | str,
    source: str = "EUNIS-ESy 2021-06-01",
    typology: int = EUNIS_2022,
    skip_invalid: bool = False,
    progress: bool = False,
) -> ImportReport:
    """Upsert characteristic species by (source, habitat code, species, kind); unmatched codes or names keep
    a null link (counted in the report's warnings summary), bad values are rejected."""
    required = ["habitat_code", "species_type", "species", "value"]
    table = read_table(path, kind="characteristic species", delimiter=",", required=required)
    report = ImportReport(file=str(path), kind="characteristic species")
    version = ReferenceVersionSource(f"{source} characteristic species")
    units: dict[str, int] = {}
    # Prefer the reference name when a code is shared (HABREF keeps synonyms and errors under old codes):
    # reference names come first in this ordering, and the first unit of a code wins.
    for cd_hab, code in (
        HabitatUnit.objects.filter(typology_id=typology)
        .exclude(code_normalized="")
        .order_by(Case(When(validity=HabitatUnit.Validity.REFERENCE, then=0), default=1), "cd_hab")
        .values_list("cd_hab", "code_normalized")
    ):
        units.setdefault(code, cd_hab)
    taxa: dict[str, int] = {}
    # An accepted name wins over a synonym spelt the same way.
    for cd_nom, normalized in Taxon.objects.order_by(
        Case(When(cd_nom=F("cd_ref"), then=0), default=1), "cd_nom"
    ).values_list("cd_nom", "name_normalized"):
        taxa.setdefault(normalized, cd_nom)
    parsed: list[tuple[int, dict[str, Any]]] = []
    lines: dict[tuple[str, str, str], int] = {}
    for line, row in tqdm(table.rows, desc="EUNIS-ESy", unit=" rows", disable=not progress, mininterval=0.5):
        report.rows += 1
        code = normalize_code(row["habitat_code"])
        species = " ".join(row["species"].split())
        kind = KINDS.get(row["species_type"].strip().lower())
        before = len(report.rejected)
        if not code:
            report.reject(line, "habitat_code", "missing_value", "habitat_code is empty")
        if not species:
            report.reject(line, "species", "missing_value", "species is empty")
        if kind is None:
            report.reject(
                line,
                "species_type",
                "bad_value",
                f"species_type must be Diagnostic, Constant or Dominant, got {row['species_type']!r}",
            )
        try:
            value = float(row["value"].replace(",", "."))
            if not math.isfinite(value):
                raise ValueError
        except ValueError:
            report.reject(line, "value", "bad_value", f"value must be a number, got {row['value']!r}")
        if len(report.rejected) > before:
            continue
        key = (code, species, str(kind))
        if key in lines:
            report.reject(line, "species", "duplicate_id", f"{species} ({kind}) of {code} already on line {lines[key]}")
            continue
        lines[key] = line
        entry: dict[str, Any] = {"code": code, "species": species, "kind": kind, "value": value}
        entry["habitat_name"] = row.get("habitat_name", "").strip()[:300]
        parsed.append((line, entry))
    if report.rejected and not skip_invalid:
        raise ImportAborted([report])
    normalized_names = _normalized_names(sorted({pair[1]["species"] for pair in parsed}))
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for _line, item in parsed:
        habitat = units.get(item["code"])
        taxon = taxa.get(normalized_names[item["species"]])
        if habitat is None:
            report.note("kept without a HABREF unit (code not in the typology)")
        if taxon is None:
            report.note("kept without a taxon (name not in the taxa)")
        rows[(item["code"], item["species"], item["kind"])] = {
            "habitat_id": habitat,
            "habitat_name": item["habitat_name"],
            "taxon_id": taxon,
            "value": item["value"],
        }
    stored = {
        (code, name, kind): (pk, (habitat, habitat_name, taxon, value))
        for pk, code, name, kind, habitat, habitat_name, taxon, value in CharacteristicSpecies.objects.filter(
            source=source
        ).values_list("pk", "habitat_code", "species_name", "kind", *FIELDS)
    }
    to_write = []
    for key, values in rows.items():
        old = stored.get(key)
        new = tuple(values[f] for f in FIELDS)
        if old is None:
            report.created += 1
        elif old[1] != new:
            report.updated += 1
        else:
            report.unchanged += 1
            continue
        to_write.append(
            CharacteristicSpecies(
                source=source,
                habitat_code=key[0],
                species_name=key[1],
                kind=key[2],
                ref_version=version.get(),
                **values,
            )
        )
    CharacteristicSpecies.objects.bulk_create(
        to_write,
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["source", "habitat_code", "species_name", "kind"],
        update_fields=["habitat", "habitat_name", "taxon", "value", "ref_version"],
    )
    version.finish([report])
    report.written = True
    return report
