"""Fixtures of the reference-data tests: the real shared files, and helpers to write broken copies."""

import csv
import io
from pathlib import Path

import pytest

from habitats.services.characteristic_species import characteristic_species_import
from habitats.services.habref import HabrefFiles, habref_import
from habitats.services.taxa import flora_import

DATA = Path(__file__).parent / "data"


@pytest.fixture
def habref_files(shared_data) -> HabrefFiles:
    return HabrefFiles.from_directory(shared_data / "habref")


@pytest.fixture
def habref_loaded(db, habref_files):
    return habref_import(files=habref_files)


@pytest.fixture
def flora_loaded(db, shared_data):
    return flora_import(path=shared_data / "taxa" / "flora_fr_taxref_cd_nom_wetland_indicator.csv")


@pytest.fixture
def reference_loaded(habref_loaded, flora_loaded, shared_data):
    characteristic_species_import(path=shared_data / "eunis" / "eunis_esy_characteristic_species_2021-06-01.csv")


def read_rows(path: Path, delimiter: str = ";") -> tuple[list[str], list[list[str]]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter=delimiter))
    return rows[0], rows[1:]


def write_rows(
    path: Path, header: list[str], rows: list[list[str]], delimiter: str = ";", encoding: str = "utf-8-sig"
) -> Path:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path
