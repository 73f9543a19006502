"""A table to export: an Arrow schema and a re-iterable stream of record batches (no Django here).

Every writer consumes these, so anything that can produce batches — relevés, and training sets (features,
labels, plot ids, fold ids) — exports to every format through the same functions. ``batches`` is a
callable so a writer may run through a table once per output (each call starts a new chunked read).
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa

WKB = pa.binary()


@dataclass(frozen=True)
class GeometryColumn:
    """The WKB column of a table, its OGC geometry type and the EPSG code of its coordinates."""

    name: str
    geometry_type: str  # "Point", "Polygon"…
    epsg: int


@dataclass(frozen=True)
class ExportTable:
    name: str
    schema: pa.Schema
    batches: Callable[[], Iterator[pa.RecordBatch]]
    geometry: GeometryColumn | None = None
    description: str = ""
    column_descriptions: dict[str, str] = field(default_factory=dict)

    def reader(self) -> pa.RecordBatchReader:
        """A fresh stream of the table's batches (the Arrow C stream GDAL and Parquet writers consume)."""
        return pa.RecordBatchReader.from_batches(self.schema, self.batches())


def batch_from_rows(schema: pa.Schema, rows: list[tuple]) -> pa.RecordBatch:
    """Build one record batch from row tuples in schema order (a chunk, never a whole table)."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    return pa.record_batch(
        [pa.array(column, type=f.type) for column, f in zip(columns, schema, strict=True)], schema=schema
    )
