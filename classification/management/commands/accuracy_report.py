"""Print design-based accuracy and area estimates: from an error matrix, from a per-unit stratified sample,
or from a stored map run and its validation plan (the assessment is then stored too)."""

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
        "--sample and --strata (strata different from the map classes, Stehman 2014), or --map-run and --plan "
        "(a finished map run assessed with a validation plan's validated relevés; stored, areas in ha), or "
        "--assessment (print a stored assessment)."
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
        parser.add_argument("--map-run", type=int, help="id of a finished map run (with --plan)")
        parser.add_argument("--plan", type=int, help="id of the validation sampling plan (with --map-run)")
        parser.add_argument("--assessment", type=int, help="id of a stored accuracy assessment to print")
        parser.add_argument("--format", choices=("json", "csv"), default="json")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["map_run"] is not None or options["plan"] is not None or options["assessment"] is not None:
            self._stored(options)
            return
        try:
            report = self._report(options)
        except AccuracyInputError as exc:
            raise CommandError(f"{exc.message} [{exc.code}]") from exc
        if options["format"] == "json":
            self.stdout.write(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
        else:
            self._write_csv(report.as_rows())

    def _write_csv(self, rows: list[dict[str, Any]]) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["measure", "class", "estimate", "se", "ci_low", "ci_high"])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
        self.stdout.write(buffer.getvalue(), ending="")

    def _stored(self, options: dict[str, Any]) -> None:
        from classification.models import AccuracyAssessment, MapRun, SamplingPlan
        from classification.selectors import accuracy_assessment_detail
        from classification.services.accuracy import AccuracyServiceError, accuracy_assessment_run

        if any(options[k] for k in ("counts", "mapped_area", "sample", "strata")):
            raise CommandError("--map-run/--plan/--assessment cannot be combined with CSV inputs")
        if options["assessment"] is not None:
            if options["map_run"] is not None or options["plan"] is not None:
                raise CommandError("use either --assessment or --map-run with --plan")
            assessment = AccuracyAssessment.objects.filter(pk=options["assessment"]).first()
            if assessment is None:
                raise CommandError(f"no accuracy assessment {options['assessment']} [not_found]")
        else:
            if options["map_run"] is None or options["plan"] is None:
                raise CommandError("--map-run needs --plan (and the other way round)")
            run = MapRun.objects.filter(pk=options["map_run"]).first()
            if run is None:
                raise CommandError(f"no map run {options['map_run']} [unknown_map_run]")
            plan = SamplingPlan.objects.filter(pk=options["plan"]).first()
            if plan is None:
                raise CommandError(f"no sampling plan {options['plan']} [unknown_plan]")
            try:
                assessment = accuracy_assessment_run(map_run=run, sampling_plan=plan, actor=None)
            except AccuracyServiceError as exc:
                raise CommandError(f"{exc.message} [{exc.code}]") from exc
            self.stderr.write(
                f"Stored accuracy assessment {assessment.pk} ({assessment.method}): {assessment.n_used} of "
                f"{assessment.n_points} points used; areas in {assessment.area_unit}"
            )
            for e in assessment.exclusions:
                self.stderr.write(f"  point {e['point']} unused: {e['reason']} ({e['message']})")
        if options["format"] == "json":
            self.stdout.write(json.dumps(accuracy_assessment_detail(assessment), indent=2, ensure_ascii=False))
        else:
            self._write_csv(report_rows(assessment.report))

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


def report_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The long-format CSV rows of a stored report (as ``AccuracyReport.as_rows`` gives them)."""
    rows: list[dict[str, Any]] = [{"measure": "overall_accuracy", "class": "", **report["overall_accuracy"]}]
    for c in report["per_class"]:
        for measure in ("users_accuracy", "producers_accuracy", "area_proportion", "area"):
            rows.append({"measure": measure, "class": c["class"], **c[measure]})
    return rows
