"""Training sets as export tables: one row per pixel (plot, pixel, x, y, label, class code, features, point).

The frozen table is read back through ``training_set_table`` (which checks its hash) and written in
chunks of ``chunk_size`` rows, so the writers never hold more than one chunk of Arrow data.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
from django.contrib.gis.geos import Point

from classification.models import TrainingSet
from classification.services.training import training_set_table

from .errors import ExportError
from .tables import WKB, ExportTable, GeometryColumn
from .writers import write_csv_zip, write_geopackage, write_geoparquet, zip_directory

TRAINING_SET_FORMATS = ("gpkg", "csv", "parquet")
DEFAULT_CHUNK_ROWS = 50_000


def training_set_export_tables(training_set: TrainingSet, *, chunk_size: int = DEFAULT_CHUNK_ROWS) -> list[ExportTable]:
    """The training set's samples as one table with a Point geometry in EPSG:2154."""
    table = training_set_table(training_set)
    codes = dict(training_set.legend.classes.values_list("value", "code"))
    schema = pa.schema(
        [
            ("plot", pa.int64()),
            ("pixel", pa.int32()),
            ("x", pa.float64()),
            ("y", pa.float64()),
            ("label", pa.int32()),
            ("class_code", pa.string()),
            *[(name, pa.float32()) for name in table.feature_names],
            ("geometry", WKB),
        ]
    )

    def batches() -> Iterator[pa.RecordBatch]:
        for start in range(0, table.y.size, chunk_size):
            stop = min(start + chunk_size, table.y.size)
            xy = table.xy[start:stop]
            labels = table.y[start:stop].astype(np.int32)
            pixel = np.zeros(stop - start, dtype=np.int32)
            plots = table.plot[start:stop]
            # pixel rank inside its plot (rows are sorted by plot, then pixel)
            first = np.searchsorted(table.plot, plots, side="left")
            pixel[:] = np.arange(start, stop) - first
            yield pa.record_batch(
                [
                    pa.array(plots, pa.int64()),
                    pa.array(pixel, pa.int32()),
                    pa.array(xy[:, 0], pa.float64()),
                    pa.array(xy[:, 1], pa.float64()),
                    pa.array(labels, pa.int32()),
                    pa.array([codes.get(int(v), "") for v in labels], pa.string()),
                    *[pa.array(table.X[start:stop, i], pa.float32()) for i in range(len(table.feature_names))],
                    pa.array([bytes(Point(float(x), float(y)).wkb) for x, y in xy], WKB),
                ],
                schema=schema,
            )

    return [
        ExportTable(
            name="training_samples",
            schema=schema,
            batches=batches,
            geometry=GeometryColumn("geometry", "Point", 2154),
            description=f"Training set {training_set.name} ({training_set.content_hash}): one row per pixel.",
            column_descriptions={
                "plot": "relevé id (all pixels of a plot share it)",
                "pixel": "rank of the pixel in its plot",
                "label": "map class value of the legend",
            },
        )
    ]


def training_set_export_write(*, training_set: TrainingSet, fmt: str, path: Path) -> dict[str, int]:
    """Write a training set to ``path`` as a GeoPackage, zipped CSV or zipped GeoParquet; row counts."""
    if fmt not in TRAINING_SET_FORMATS:
        raise ExportError(
            "unknown_format", f"Unknown format {fmt!r}; one of {', '.join(TRAINING_SET_FORMATS)}.", field="format"
        )
    tables = training_set_export_tables(training_set)
    if fmt == "gpkg":
        if path.exists():
            path.unlink()
        return write_geopackage(tables=tables, path=path)
    if fmt == "csv":
        with path.open("wb") as stream:
            return write_csv_zip(tables=tables, stream=stream)
    with tempfile.TemporaryDirectory(prefix="export-parquet-") as directory:
        counts = write_geoparquet(tables=tables, directory=Path(directory))
        with path.open("wb") as stream:
            zip_directory(directory=Path(directory), stream=stream)
    return counts
