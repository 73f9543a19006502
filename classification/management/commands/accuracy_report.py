"""Print design-based accuracy and area estimates from an error matrix, or from a per-unit stratified sample."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from classification.accuracy import (
    AccuracyInputError,
    AccuracyReport,
    estimate_olofsson,
    estimate_stehman,
    read_counts,
    read_named_values,
    read_sample,
)
from classification.accuracy.tables import named_value_lines


class Command(BaseCommand):
    help = (
        "Accuracy (overall, user's, producer's) and class areas with standard errors and 95 % confidence "
        "intervals. Either --counts and --mapped-area (stratified by map class, Olofsson et al. 2014), or "
        "--sample and --strata (strata different from the map classes, Stehman 2014)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--counts", type=Path, help="error matrix of sample counts (rows map, columns reference)")
        parser.add_argument("--mapped-area", type=Path, help="CSV class,mapped_area (pixels or any area unit)")
        parser.add_argument("--sample", type=Path, help="CSV of sample units: stratum,map_class,reference_class")
        parser.add_argument("--strata", type=Path, help="CSV stratum,size (pixels or any area unit)")
        parser.add_argument(
            "--pixel-area", type=float, default=1.0, help="multiply areas by this (e.g. 0.01 for 10 m pixels in ha)"
        )
        parser.add_argument("--fpc", action="store_true", help="finite population correction (with --sample)")
        parser.add_argument("--format", choices=("json", "csv"), default="json")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = self._report(options)
        except AccuracyInputError as exc:
            raise CommandError(f"{exc.message} [{exc.code}]") from exc
        if options["format"] == "json":
            self.stdout.write(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
        else:
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=["measure", "class", "estimate", "se", "ci_low", "ci_high"])
            writer.writeheader()
            for row in report.as_rows():
                writer.writerow({k: "" if v is None else v for k, v in row.items()})
            self.stdout.write(buffer.getvalue(), ending="")

    def _report(self, options: dict[str, Any]) -> AccuracyReport:
        counts_path, areas_path = options["counts"], options["mapped_area"]
        sample_path, strata_path = options["sample"], options["strata"]
        if not options["pixel_area"] > 0:
            raise CommandError("--pixel-area must be > 0")
        if counts_path or areas_path:
            if sample_path or strata_path:
                raise CommandError("use either --counts/--mapped-area or --sample/--strata, not both")
            if not (counts_path and areas_path):
                raise CommandError("--counts needs --mapped-area (and the other way round)")
            return self._olofsson(counts_path, areas_path, options["pixel_area"])
        if sample_path and strata_path:
            return self._stehman(sample_path, strata_path, options["pixel_area"], options["fpc"])
        raise CommandError("give --counts and --mapped-area, or --sample and --strata")

    def _olofsson(self, counts_path: Path, areas_path: Path, pixel_area: float) -> AccuracyReport:
        table = read_counts(counts_path)
        areas = read_named_values(areas_path, what="mapped area")
        # Name the file and row of any class known to one file only.
        for name, line in named_value_lines(areas_path).items():
            if name not in table.classes:
                raise AccuracyInputError(
                    "unknown_class", f"class {name!r} is not in {counts_path}", source=str(areas_path), row=line
                )
        for line, name in enumerate(table.classes, start=2):
            if name not in areas:
                message = f"class {name!r} has no mapped area in {areas_path}"
                raise AccuracyInputError("missing_area", message, source=str(counts_path), row=line)
        scaled = {name: value * pixel_area for name, value in areas.items()}
        try:
            return estimate_olofsson(counts=table.counts, classes=table.classes, mapped_area=scaled)
        except AccuracyInputError as exc:
            raise AccuracyInputError(exc.code, exc.message, source=str(counts_path)) from exc

    def _stehman(self, sample_path: Path, strata_path: Path, pixel_area: float, fpc: bool) -> AccuracyReport:
        sample = read_sample(sample_path)
        sizes = read_named_values(strata_path, what="size")
        scaled = {name: value * pixel_area for name, value in sizes.items()}
        try:
            return estimate_stehman(sample=sample, stratum_sizes=scaled, fpc=fpc)
        except AccuracyInputError as exc:
            # Unit indices are 0-based; the file's first unit is on line 2.
            row = None if exc.row is None else exc.row + 2
            source = str(sample_path) if row is not None or exc.source is None else exc.source
            raise AccuracyInputError(exc.code, exc.message, source=source, row=row) from exc
