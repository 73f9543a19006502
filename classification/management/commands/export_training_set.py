"""``manage.py export_training_set NAME --format gpkg|csv|parquet --output FILE``."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from classification.exports.errors import ExportError
from classification.exports.training_sets import TRAINING_SET_FORMATS, training_set_export_write
from classification.models import TrainingSet


class Command(BaseCommand):
    help = "Export a frozen training set (one row per pixel): GeoPackage, zipped CSV or zipped GeoParquet."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="training set name")
        parser.add_argument("--format", required=True, help=f"one of {', '.join(TRAINING_SET_FORMATS)}")
        parser.add_argument("--output", required=True, type=Path, help="file to write (replaced if it exists)")

    def handle(self, *args: Any, **options: Any) -> None:
        output: Path = options["output"]
        try:
            if not output.parent.is_dir():
                raise ExportError("bad_output", f"The directory of {output} does not exist.", field="output")
            training_set = TrainingSet.objects.filter(name=options["name"]).first()
            if training_set is None:
                raise ExportError("not_found", f"No training set named {options['name']!r}.", status_code=404)
            counts = training_set_export_write(training_set=training_set, fmt=options["format"], path=output)
        except ExportError as exc:
            raise CommandError(str(exc)) from exc
        summary = ", ".join(f"{name} {count}" for name, count in counts.items())
        self.stdout.write(f"Wrote {output} ({options['format']}): {summary}")
