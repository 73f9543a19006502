"""Writers: every format consumes ``ExportTable`` batch streams and holds one batch at a time.

GeoPackage goes through GDAL's Arrow stream interface (``pyogrio.write_arrow``): one layer per table,
written batch by batch. CSV is one file per table inside a zip, written entry by entry. GeoParquet is one
Parquet file per table with the GeoParquet 1.1 ``geo`` metadata (WKB encoding, CRS as PROJJSON).
"""

import json
import shutil
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .tables import ExportTable

GEOPARQUET_VERSION = "1.1.0"
COPY_BUFFER = 1024 * 1024


class RowCounter:
    """Counts the rows of the batches that go through it (writers report per-table counts)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def through(self, table: ExportTable) -> Iterator[pa.RecordBatch]:
        self.counts[table.name] = 0
        for batch in table.batches():
            self.counts[table.name] += batch.num_rows
            yield batch


def write_geopackage(*, tables: Iterable[ExportTable], path: Path) -> dict[str, int]:
    """One GeoPackage layer per table (attribute-only tables have no geometry column); opens in QGIS."""
    import pyogrio

    counter = RowCounter()
    for table in tables:
        reader = pa.RecordBatchReader.from_batches(table.schema, counter.through(table))
        options: dict[str, Any] = {}
        if table.geometry is not None:
            options = {
                "geometry_name": table.geometry.name,
                "geometry_type": table.geometry.geometry_type,
                "crs": f"EPSG:{table.geometry.epsg}",
            }
        layer_metadata = {"DESCRIPTION": table.description} if table.description else None
        pyogrio.write_arrow(
            reader, str(path), layer=table.name, driver="GPKG", layer_metadata=layer_metadata, **options
        )
    return counter.counts


def _wkb_to_wkt(column: pa.Array) -> pa.Array:
    from django.contrib.gis.geos import GEOSGeometry  # GEOS bindings only; no settings involved

    return pa.array(
        [None if value is None else GEOSGeometry(memoryview(value)).wkt for value in column.to_pylist()],
        type=pa.string(),
    )


def _csv_schema(table: ExportTable) -> pa.Schema:
    fields = []
    for f in table.schema:
        if table.geometry is not None and f.name == table.geometry.name:
            fields.append(pa.field(f"{f.name}_wkt", pa.string()))
        elif pa.types.is_timestamp(f.type):
            fields.append(pa.field(f.name, pa.string()))
        else:
            fields.append(f)
    return pa.schema(fields)


def _csv_batch(table: ExportTable, schema: pa.Schema, batch: pa.RecordBatch) -> pa.RecordBatch:
    columns = []
    for f, column in zip(table.schema, batch.columns, strict=True):
        if table.geometry is not None and f.name == table.geometry.name:
            columns.append(_wkb_to_wkt(column))
        elif pa.types.is_timestamp(f.type):
            # ISO 8601 in UTC to the second with a "Z" (pyarrow's default writes a space, not the "T").
            columns.append(
                pc.strftime(pc.cast(column, pa.timestamp("s", tz="UTC"), safe=False), format="%Y-%m-%dT%H:%M:%SZ")
            )
        else:
            columns.append(column)
    return pa.record_batch(columns, schema=schema)


def write_csv_zip(*, tables: Iterable[ExportTable], stream: IO[bytes]) -> dict[str, int]:
    """One UTF-8 CSV per table in a zip; geometries as WKT in ``<column>_wkt``, times ISO 8601 UTC."""
    counter = RowCounter()
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for table in tables:
            schema = _csv_schema(table)
            with archive.open(f"{table.name}.csv", "w", force_zip64=True) as entry:
                writer = pacsv.CSVWriter(entry, schema)
                for batch in counter.through(table):
                    writer.write_batch(_csv_batch(table, schema, batch))
                writer.close()
    return counter.counts


def geoparquet_metadata(table: ExportTable) -> dict[str, Any]:
    """The GeoParquet 1.1 ``geo`` metadata of a table with a geometry column (WKB, CRS as PROJJSON)."""
    from pyproj import CRS

    assert table.geometry is not None
    return {
        "version": GEOPARQUET_VERSION,
        "primary_column": table.geometry.name,
        "columns": {
            table.geometry.name: {
                "encoding": "WKB",
                "geometry_types": [table.geometry.geometry_type],
                "crs": CRS.from_epsg(table.geometry.epsg).to_json_dict(),
            }
        },
    }


def write_geoparquet(*, tables: Iterable[ExportTable], directory: Path) -> dict[str, int]:
    """One ``<table>.parquet`` per table in ``directory`` (GeoParquet where the table has a geometry)."""
    counter = RowCounter()
    for table in tables:
        schema = table.schema
        if table.geometry is not None:
            schema = schema.with_metadata({b"geo": json.dumps(geoparquet_metadata(table)).encode()})
        with pq.ParquetWriter(directory / f"{table.name}.parquet", schema, compression="zstd") as writer:
            for batch in counter.through(table):
                writer.write_batch(pa.record_batch(batch.columns, schema=schema))
    return counter.counts


def zip_directory(*, directory: Path, stream: IO[bytes], compression: int = zipfile.ZIP_STORED) -> None:
    """Zip the files of ``directory`` (sorted by name) into ``stream``, copying each file in chunks."""
    with zipfile.ZipFile(stream, "w", compression=compression) as archive:
        for path in sorted(p for p in directory.iterdir() if p.is_file()):
            with path.open("rb") as source, archive.open(path.name, "w", force_zip64=True) as entry:
                shutil.copyfileobj(source, entry, COPY_BUFFER)
