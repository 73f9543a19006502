"""Reading the accuracy inputs from CSV files, with errors that name the file and the row.

Row numbers are 1-based lines of the file (the header is row 1), as a spreadsheet shows them.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from classification.accuracy.errors import AccuracyInputError
from classification.accuracy.stehman import ValidationSample


def _rows(path: Path) -> list[list[str]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = [[cell.strip() for cell in row] for row in csv.reader(handle)]
    except OSError as exc:
        raise AccuracyInputError("empty_input", f"cannot read the file ({exc.strerror})", source=str(path)) from exc
    except (csv.Error, UnicodeDecodeError) as exc:
        raise AccuracyInputError("bad_row", f"not a UTF-8 CSV file ({exc})", source=str(path)) from exc
    rows = [row for row in rows if any(row)]
    if not rows:
        raise AccuracyInputError("empty_input", "the file is empty", source=str(path))
    return rows


def _number(text: str, *, what: str, source: str, row: int) -> float:
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise AccuracyInputError("not_a_number", f"{what} {text!r} is not a number", source=source, row=row) from None
    if not math.isfinite(value):
        raise AccuracyInputError("not_a_number", f"{what} {text!r} is not a finite number", source=source, row=row)
    return value


@dataclass(frozen=True)
class CountsTable:
    classes: tuple[str, ...]
    counts: npt.NDArray[np.int64]


def read_counts(path: Path) -> CountsTable:
    """An error matrix of sample counts: header row of reference classes, first column of map classes.

    The top-left cell is a free label. Columns may come in another order than rows; they are reordered
    to the row order. Both must name the same classes.
    """
    source = str(path)
    rows = _rows(path)
    header = rows[0][1:]
    _unique(header, source=source, row=1, what="reference class")
    body = rows[1:]
    if not body:
        raise AccuracyInputError("empty_input", "no map-class rows under the header", source=source)
    names = [r[0] for r in body]
    if len(body) != len(header):
        raise AccuracyInputError(
            "not_square",
            f"{len(body)} map-class rows but {len(header)} reference-class columns: the matrix must be square",
            source=source,
        )
    seen: dict[str, int] = {}
    for offset, name in enumerate(names):
        if not name:
            raise AccuracyInputError("bad_row", "the map class name is empty", source=source, row=offset + 2)
        if name in seen:
            raise AccuracyInputError(
                "duplicate_class", f"map class {name!r} repeats row {seen[name]}", source=source, row=offset + 2
            )
        seen[name] = offset + 2
    column_of = {name: i for i, name in enumerate(header)}
    for name, line in seen.items():
        if name not in column_of:
            raise AccuracyInputError(
                "unknown_class", f"map class {name!r} has no reference-class column", source=source, row=line
            )
    for name in header:
        if name not in seen:
            raise AccuracyInputError(
                "unknown_class", f"reference class {name!r} has no map-class row", source=source, row=1
            )
    counts = np.zeros((len(names), len(names)), dtype=np.int64)
    for i, row in enumerate(body):
        line = i + 2
        if len(row) != len(header) + 1:
            raise AccuracyInputError(
                "not_square", f"{len(row) - 1} counts for {len(header)} reference classes", source=source, row=line
            )
        for j, name in enumerate(names):
            cell = row[1 + column_of[name]]
            value = _number(cell, what=f"count for reference class {name!r}", source=source, row=line)
            if value < 0:
                raise AccuracyInputError(
                    "negative_count", f"negative count {cell} for reference class {name!r}", source=source, row=line
                )
            if value != int(value):
                raise AccuracyInputError(
                    "not_a_number", f"count {cell} for reference class {name!r} is not whole", source=source, row=line
                )
            counts[i, j] = int(value)
    return CountsTable(classes=tuple(names), counts=counts)


def _unique(names: list[str], *, source: str, row: int, what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if not name:
            raise AccuracyInputError("bad_header", f"a {what} name is empty", source=source, row=row)
        if name in seen:
            raise AccuracyInputError("duplicate_class", f"{what} {name!r} appears twice", source=source, row=row)
        seen.add(name)


def read_named_values(path: Path, *, what: str, code_negative: str = "negative_area") -> dict[str, float]:
    """A two-column table ``name,value`` with a header row (e.g. ``class,mapped_area`` or ``stratum,size``)."""
    source = str(path)
    rows = _rows(path)
    if len(rows[0]) != 2:
        raise AccuracyInputError("bad_header", f"expected 2 columns (name, {what}), got {len(rows[0])}", source=source)
    values: dict[str, float] = {}
    for offset, row in enumerate(rows[1:]):
        line = offset + 2
        if len(row) != 2 or not row[0]:
            raise AccuracyInputError("bad_row", f"expected a name and a {what}", source=source, row=line)
        name, text = row
        if name in values:
            raise AccuracyInputError("duplicate_class", f"{name!r} is listed twice", source=source, row=line)
        if not text:
            raise AccuracyInputError("missing_area", f"no {what} for {name!r}", source=source, row=line)
        value = _number(text, what=what, source=source, row=line)
        if value < 0:
            raise AccuracyInputError(code_negative, f"negative {what} {text} for {name!r}", source=source, row=line)
        values[name] = value
    if not values:
        raise AccuracyInputError("empty_input", "no rows under the header", source=source)
    return values


def named_value_lines(path: Path) -> dict[str, int]:
    """The file line of each name in a two-column table (to point at a row in a later error)."""
    return {row[0]: line for line, row in enumerate(_rows(path)[1:], start=2) if row}


SAMPLE_COLUMNS = ("stratum", "map_class", "reference_class")


def read_sample(path: Path) -> ValidationSample:
    """Per-unit sample: a header with the columns ``stratum``, ``map_class``, ``reference_class`` (any order)."""
    source = str(path)
    rows = _rows(path)
    header = rows[0]
    missing = [c for c in SAMPLE_COLUMNS if c not in header]
    if missing:
        raise AccuracyInputError("bad_header", f"missing column(s) {', '.join(missing)}", source=source, row=1)
    index = [header.index(c) for c in SAMPLE_COLUMNS]
    columns: list[list[str]] = [[], [], []]
    for offset, row in enumerate(rows[1:]):
        line = offset + 2
        if len(row) != len(header):
            raise AccuracyInputError("bad_row", f"{len(row)} cells for {len(header)} columns", source=source, row=line)
        for k, i in enumerate(index):
            if not row[i]:
                raise AccuracyInputError("bad_row", f"empty {SAMPLE_COLUMNS[k]}", source=source, row=line)
            columns[k].append(row[i])
    if not columns[0]:
        raise AccuracyInputError("empty_input", "no sample units under the header", source=source)
    return ValidationSample(stratum=columns[0], map_class=columns[1], reference_class=columns[2])
