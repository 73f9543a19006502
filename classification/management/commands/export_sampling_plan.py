"""Export a sampling plan's points as a GeoPackage and/or CSV."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from classification.models import SamplingPlan
from classification.services.sampling import sampling_plan_export_csv, sampling_plan_export_gpkg


class Command(BaseCommand):
    help = "Write a plan's points (number, stratum, inclusion probability, assignee, visit state) for QGIS or a sheet."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("plan", type=int, help="Plan id.")
        parser.add_argument("--gpkg", type=Path, help="GeoPackage to write (layer sample_points, EPSG:2154).")
        parser.add_argument("--csv", type=Path, help="CSV to write (Lambert-93 and WGS 84 coordinates).")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["gpkg"] and not options["csv"]:
            raise CommandError("[nothing_to_write] give --gpkg and/or --csv")
        plan = SamplingPlan.objects.filter(pk=options["plan"]).first()
        if plan is None:
            raise CommandError(f"[not_found] no sampling plan {options['plan']}")
        for path in (options["gpkg"], options["csv"]):
            if path is not None and path.exists():
                raise CommandError(f"[exists] {path} already exists; nothing was overwritten")
        if options["gpkg"]:
            n = sampling_plan_export_gpkg(plan=plan, path=options["gpkg"])
            self.stdout.write(f"{n} points written to {options['gpkg']}")
        if options["csv"]:
            with open(options["csv"], "w", newline="", encoding="utf-8") as stream:
                n = sampling_plan_export_csv(plan=plan, stream=stream)
            self.stdout.write(f"{n} points written to {options['csv']}")
