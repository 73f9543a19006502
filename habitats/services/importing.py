"""Shared machinery of the reference-data importers: reading delimited files by header name, the import
report (created / updated / unchanged / skipped / rejected with file, line and column), and the bulk upsert
that classifies rows against what is stored.

Importers validate a whole file before writing anything; a rejected row names its file, line and column.
By default any rejected row aborts the import (nothing written); ``skip_invalid`` imports the valid rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import connection, models

from habitats.models import ReferenceVersion

# HABREF's LB_DESCRIPTION and TYPOREF's PRESENTATION hold whole paragraphs.
csv.field_size_limit(10_000_000)


@dataclass(frozen=True)
class RowProblem:
    """One rejected row (or one warning) located in its source file."""

    file: str
    line: int
    column: str
    code: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" + (f" column {self.column}" if self.column else "")
        return f"{where}: [{self.code}] {self.message}"


@dataclass
class ImportReport:
    """What one importer did to one file."""

    file: str
    kind: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    rejected: list[RowProblem] = field(default_factory=list)
    warnings: list[RowProblem] = field(default_factory=list)
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)
    written: bool = False

    def reject(self, line: int, column: str, code: str, message: str) -> None:
        self.rejected.append(RowProblem(self.file, line, column, code, message))

    def warn(self, line: int, column: str, code: str, message: str) -> None:
        self.warnings.append(RowProblem(self.file, line, column, code, message))

    def skip(self, reason: str) -> None:
        self.skipped += 1
        self.skipped_reasons[reason] = self.skipped_reasons.get(reason, 0) + 1

    def note(self, what: str) -> None:
        self.notes[what] = self.notes.get(what, 0) + 1

    @property
    def changed(self) -> int:
        return self.created + self.updated

    def counts(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "rejected": len(self.rejected),
            "warnings": len(self.warnings),
        }

    def summary(self) -> str:
        line = (
            f"{self.kind} {Path(self.file).name}: {self.rows} rows, {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.skipped} skipped, {len(self.rejected)} rejected"
        )
        if self.skipped_reasons:
            line += " (skipped: " + "; ".join(f"{n} {why}" for why, n in sorted(self.skipped_reasons.items())) + ")"
        if self.notes:
            line += " (" + "; ".join(f"{n} {what}" for what, n in sorted(self.notes.items())) + ")"
        if self.warnings:
            line += f", {len(self.warnings)} warning(s)"
        return line


class ImportAborted(Exception):
    """Raised when an import writes nothing: a file-level problem, or rejected rows without skip_invalid."""

    def __init__(self, reports: list[ImportReport], message: str = "") -> None:
        self.reports = reports
        problems = [p for r in reports for p in r.rejected]
        self.problems = problems
        super().__init__(message or f"import aborted, nothing written: {len(problems)} problem(s)")

    def describe(self, limit: int = 50) -> str:
        lines = [str(self)]
        lines += [f"  {p}" for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"  … and {len(self.problems) - limit} more")
        return "\n".join(lines)


def file_problem(path: str | Path, kind: str, line: int, column: str, code: str, message: str) -> ImportAborted:
    report = ImportReport(file=str(path), kind=kind)
    report.reject(line, column, code, message)
    return ImportAborted([report], message=f"{Path(path).name}: {message}")


@dataclass
class Table:
    """A delimited file decoded and checked: its header and an iterator of (first line number, row dict)."""

    path: str
    header: list[str]
    rows: Iterator[tuple[int, dict[str, str]]]


def read_table(
    path: str | Path,
    *,
    kind: str,
    delimiter: str,
    required: Iterable[str],
    encoding: str = "utf-8-sig",
) -> Table:
    """Decode a whole file strictly and check its header; columns are matched by name, never by position."""
    path = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise file_problem(path, kind, 0, "", "unreadable", f"cannot read the file: {exc.strerror}") from exc
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise file_problem(
            path,
            kind,
            line,
            "",
            "bad_encoding",
            f"not valid {encoding.replace('-sig', '')}: byte 0x{raw[exc.start]:02x} at line {line}, "
            f"byte {column} (expected UTF-8; re-save the file as UTF-8)",
        ) from exc
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', strict=False)
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise file_problem(path, kind, 1, "", "empty_file", "the file is empty (no header line)") from None
    missing = [name for name in required if name not in header]
    if missing:
        hint = ""
        if len(header) == 1 and delimiter not in header[0]:
            hint = f" (is the separator {delimiter!r}? the header was read as one column)"
        raise file_problem(
            path,
            kind,
            1,
            ", ".join(missing),
            "missing_columns",
            f"required column(s) missing from the header: {', '.join(missing)}{hint}",
        )

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        width = len(header)
        while True:
            start = reader.line_num + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise file_problem(path, kind, start, "", "bad_csv", f"unreadable row: {exc}") from exc
            if not values or (len(values) == 1 and not values[0].strip()):
                continue
            if len(values) < width:
                values = values + [""] * (width - len(values))
            yield start, dict(zip(header, values, strict=False))

    return Table(path=path, header=header, rows=rows())


def parse_int(value: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    return int(value)


def parse_bool(value: str) -> bool | None:
    value = value.strip().lower()
    if value in {"true", "t", "1", "oui", "yes", "vrai"}:
        return True
    if value in {"false", "f", "0", "non", "no", "faux", "-"}:
        return False
    if value == "":
        return None
    raise ValueError(f"not a boolean: {value!r}")


class ReferenceVersionSource:
    """Creates the ReferenceVersion of an import run lazily: only a run that changes something gets one."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._version: ReferenceVersion | None = None

    def get(self) -> int:
        if self._version is None:
            self._version = ReferenceVersion.objects.create(source=self.source[:200])
        return self._version.pk

    def finish(self, reports: list[ImportReport]) -> ReferenceVersion | None:
        if self._version is not None:
            self._version.summary = {r.kind: r.counts() for r in reports}
            self._version.save(update_fields=["summary"])
        return self._version


def upsert(
    *,
    model: type[models.Model],
    rows: dict[Any, dict[str, Any]],
    fields: list[str],
    report: ImportReport,
    version: ReferenceVersionSource,
    batch_size: int = 2000,
) -> list[Any]:
    """Insert new rows and update changed ones (only ``fields``), counting created/updated/unchanged.

    ``rows`` maps primary key → {attname: value}. Comparison is done in Python against one read of the
    stored values; the write is a single INSERT … ON CONFLICT DO UPDATE per batch. Returns the keys written.
    """
    pk_name = model._meta.pk.attname
    stored: dict[Any, tuple] = {}
    keys = list(rows)
    for start in range(0, len(keys), 10_000):
        chunk = keys[start : start + 10_000]
        for values in model._default_manager.filter(pk__in=chunk).values_list(pk_name, *fields):
            stored[values[0]] = tuple(values[1:])
    to_write = []
    written_keys = []
    for key, values in rows.items():
        new = tuple(values[name] for name in fields)
        old = stored.get(key)
        if old is None:
            report.created += 1
        elif old != new:
            report.updated += 1
        else:
            report.unchanged += 1
            continue
        written_keys.append(key)
        to_write.append(model(**{pk_name: key, **values, "ref_version": version.get()}))
    if to_write:
        model._default_manager.bulk_create(
            to_write,
            batch_size=batch_size,
            update_conflicts=True,
            unique_fields=[model._meta.pk.name],
            update_fields=[*[model._meta.get_field(f).name for f in fields], "ref_version"],
        )
    return written_keys


def run_sql(sql: str, params: list[Any]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
