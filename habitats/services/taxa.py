"""Taxon importers: TAXREF (``TAXREFvNN.txt``, tab-separated) and a simple ``CD_NOM;name`` flora list
(names with authors, e.g. the French flora with its wetland-indicator flag)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from django.db import transaction
from tqdm import tqdm

from habitats.models import Taxon
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

# Words that introduce an infraspecific or infrageneric epithet; the epithet after them is part of the name.
RANK_MARKERS = {
    "subsp.", "ssp.", "var.", "subvar.", "f.", "fo.", "subf.", "forma", "proles", "race", "convar.",
    "nothosubsp.", "nothovar.", "nothof.", "subg.", "sect.", "subsect.", "ser.", "subser.", "cv.",
}  # fmt: skip
HYBRID_MARKERS = {"x", "×"}
# Lower-case words that start author citations ("de Bary", "van Tieghem") and never are epithets.
AUTHOR_PARTICLES = {"de", "van", "von", "der", "den", "da", "del", "della", "di", "du", "le", "la", "d'", "ex", "in"}
EPITHET = re.compile(r"^[a-zà-öø-ÿ][a-zà-öø-ÿ'-]*\.?$")
NAME_FIELDS = ["name", "author", "full_name"]


def taxon_name_without_author(full_name: str) -> tuple[str, str]:
    """Split a scientific name with author into (name, author).

    ``Ballota nigra subsp. ruderalis (Sw.) Briq., 1893`` → (``Ballota nigra subsp. ruderalis``,
    ``(Sw.) Briq., 1893``). The grammar: a genus (or higher uninomial), then an epithet right after the genus
    or after a rank marker (``subsp.``, ``var.``, ``sect.``…), hybrid markers (``x``) included; the first
    word that fits nowhere starts the author.
    """
    words = full_name.split()
    if not words:
        return "", ""
    name = [words[0]]
    index = 1
    if words[0] in HYBRID_MARKERS and len(words) > 1:
        name.append(words[1])
        index = 2
    expect_epithet = True  # right after the genus
    while index < len(words):
        word = words[index]
        lower = word.lower()
        if lower in RANK_MARKERS:
            if index + 1 < len(words):
                name += [word, words[index + 1]]
                index += 2
                expect_epithet = False
                continue
            break
        if word in HYBRID_MARKERS and index + 1 < len(words):
            following = words[index + 1]
            name.append(word)
            if following[:1].isupper():  # a hybrid formula: "Arum italicum x Arum maculatum"
                name.append(following)
                index += 2
                expect_epithet = True
                continue
            index += 1
            expect_epithet = True
            continue
        if expect_epithet and lower not in AUTHOR_PARTICLES and EPITHET.match(word) and not word.endswith("."):
            name.append(word)
            index += 1
            expect_epithet = False
            continue
        if word in {"agg.", "aggr.", "s.l.", "s.str.", "s.s."}:
            name.append(word)
            index += 1
            continue
        break
    return " ".join(name), " ".join(words[index:])


def _finish(report: ImportReport, skip_invalid: bool) -> None:
    if report.rejected and not skip_invalid:
        raise ImportAborted([report])


def _normalize_names(version: ReferenceVersionSource, report: ImportReport) -> None:
    if report.changed:
        # Same normalisation as the autocomplete query (selectors.taxon_autocomplete).
        run_sql(
            "UPDATE habitats_taxon SET name_normalized = lower(unaccent(replace(name, '×', 'x'))) "
            "WHERE ref_version = %s",
            [version.get()],
        )
        run_sql("ANALYZE habitats_taxon", [])


@transaction.atomic
def flora_import(
    *, path: Path | str, skip_invalid: bool = False, progress: bool = False, source: str = "flora list"
) -> ImportReport:
    """Upsert taxa from ``CD_NOM;Nom scientifique[;Indicatrice ZH]``; an existing taxon keeps its CD_REF."""
    table = read_table(path, kind="flora", delimiter=";", required=["CD_NOM", "Nom scientifique"])
    report = ImportReport(file=str(path), kind="flora")
    version = ReferenceVersionSource(source)
    rows: dict[int, dict[str, Any]] = {}
    lines: dict[int, int] = {}
    has_wetland = "Indicatrice ZH" in table.header
    for line, row in tqdm(table.rows, desc="flora", unit=" rows", disable=not progress, mininterval=0.5):
        report.rows += 1
        raw = row["CD_NOM"].strip()
        try:
            cd_nom = parse_int(raw)
        except ValueError:
            cd_nom = None
        if cd_nom is None or cd_nom <= 0:
            report.reject(line, "CD_NOM", "bad_value", f"CD_NOM must be a positive integer, got {raw!r}")
            continue
        if cd_nom in lines:
            report.reject(line, "CD_NOM", "duplicate_id", f"CD_NOM {cd_nom} already on line {lines[cd_nom]}")
            continue
        full = " ".join(row["Nom scientifique"].split())
        if not full:
            report.reject(line, "Nom scientifique", "missing_value", "the scientific name is empty")
            continue
        wetland = None
        if has_wetland:
            try:
                wetland = parse_bool(row["Indicatrice ZH"])
            except ValueError:
                report.reject(line, "Indicatrice ZH", "bad_value", f"expected Oui or -, got {row['Indicatrice ZH']!r}")
                continue
        lines[cd_nom] = line
        name, author = taxon_name_without_author(full)
        rows[cd_nom] = {
            "name": name[:300],
            "author": author[:300],
            "full_name": full[:500],
            "wetland_indicator": wetland,
            # Insert-only values: a taxon already imported from TAXREF keeps its accepted name.
            "cd_ref": cd_nom,
            "name_normalized": name.lower()[:300],
        }
    _finish(report, skip_invalid)
    fields = [*NAME_FIELDS, "wetland_indicator"] if has_wetland else NAME_FIELDS
    upsert(model=Taxon, rows=rows, fields=fields, report=report, version=version)
    _normalize_names(version, report)
    version.finish([report])
    report.written = True
    return report


TAXREF_FIELDS = ["cd_ref", "name", "author", "full_name", "rank", "family", "vernacular_name"]


@transaction.atomic
def taxref_import(
    *,
    path: Path | str,
    kingdom: str | None = None,
    skip_invalid: bool = False,
    progress: bool = False,
    source: str = "TAXREF",
) -> ImportReport:
    """Upsert taxa from a TAXREF export (tab-separated, by header name); synonyms point to CD_REF, which
    must be in the file or already imported. ``kingdom`` (REGNE, e.g. Plantae) restricts the rows kept."""
    required = ["CD_NOM", "CD_REF", "LB_NOM", "LB_AUTEUR", "NOM_COMPLET"]
    table = read_table(path, kind="TAXREF", delimiter="\t", required=required)
    if kingdom and "REGNE" not in table.header:
        report = ImportReport(file=str(path), kind="TAXREF")
        report.reject(1, "REGNE", "missing_columns", "filtering by kingdom needs the REGNE column")
        raise ImportAborted([report])
    report = ImportReport(file=str(path), kind="TAXREF")
    version = ReferenceVersionSource(source)
    rows: dict[int, dict[str, Any]] = {}
    lines: dict[int, int] = {}
    for line, row in tqdm(table.rows, desc="TAXREF", unit=" rows", disable=not progress, mininterval=0.5):
        report.rows += 1
        if kingdom and row["REGNE"].strip() != kingdom:
            report.skip(f"kingdom other than {kingdom}")
            continue
        ids = {}
        for column in ("CD_NOM", "CD_REF"):
            raw = row[column].strip()
            try:
                ids[column] = parse_int(raw)
            except ValueError:
                ids[column] = None
            if ids[column] is None or ids[column] <= 0:  # type: ignore[operator]
                report.reject(line, column, "bad_value", f"{column} must be a positive integer, got {raw!r}")
        cd_nom, cd_ref = ids["CD_NOM"], ids["CD_REF"]
        if cd_nom is None or cd_ref is None or cd_nom <= 0 or cd_ref <= 0:
            continue
        if cd_nom in lines:
            report.reject(line, "CD_NOM", "duplicate_id", f"CD_NOM {cd_nom} already on line {lines[cd_nom]}")
            continue
        name = " ".join(row["LB_NOM"].split())
        if not name:
            report.reject(line, "LB_NOM", "missing_value", "LB_NOM is empty")
            continue
        lines[cd_nom] = line
        author = " ".join(row["LB_AUTEUR"].split())
        rows[cd_nom] = {
            "cd_ref": cd_ref,
            "name": name[:300],
            "author": author[:300],
            "full_name": (" ".join(row["NOM_COMPLET"].split()) or f"{name} {author}".strip())[:500],
            "rank": row.get("RANG", "").strip()[:10],
            "family": row.get("FAMILLE", "").strip()[:100],
            "vernacular_name": row.get("NOM_VERN", "").strip()[:500],
            "name_normalized": name.lower()[:300],
        }
    missing_refs = {r["cd_ref"] for r in rows.values() if r["cd_ref"] not in rows}
    stored_refs = set(Taxon.objects.filter(cd_nom__in=missing_refs).values_list("cd_nom", flat=True))
    for cd_nom in [cd for cd, r in rows.items() if r["cd_ref"] not in rows and r["cd_ref"] not in stored_refs]:
        report.reject(
            lines[cd_nom],
            "CD_REF",
            "dangling_accepted_name",
            f"accepted name {rows[cd_nom]['cd_ref']} of CD_NOM {cd_nom} is neither in the file nor imported",
        )
        del rows[cd_nom]
    report.rejected.sort(key=lambda p: p.line)
    _finish(report, skip_invalid)
    upsert(model=Taxon, rows=rows, fields=TAXREF_FIELDS, report=report, version=version)
    _normalize_names(version, report)
    version.finish([report])
    report.written = True
    return report
