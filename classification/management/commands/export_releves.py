"""``manage.py export_releves --format gpkg|csv|parquet|dwca|photos --output FILE [filters]``."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from classification.exports.errors import ExportError
from classification.exports.releves import DEFAULT_CHUNK_SIZE, releve_selection_parse
from classification.exports.services import FORMATS, export_format_parse, releve_export_write


class Command(BaseCommand):
    help = "Export relevés (validated by default): GeoPackage, zipped CSV, GeoParquet, Darwin Core Archive, photos."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", required=True, help=f"one of {', '.join(FORMATS)}")
        parser.add_argument("--output", required=True, type=Path, help="file to write (replaced if it exists)")
        parser.add_argument("--campaign", help="campaign slug (default: every campaign)")
        parser.add_argument(
            "--status", action="append", help="relevé status, repeatable (default: validated)", dest="statuses"
        )
        parser.add_argument("--from", dest="date_from", help="first observation day, YYYY-MM-DD")
        parser.add_argument("--to", dest="date_to", help="last observation day, YYYY-MM-DD")
        parser.add_argument("--bbox", help="minx,miny,maxx,maxy (in --bbox-crs)")
        parser.add_argument("--bbox-crs", default="4326", help="EPSG code of --bbox: 4326 (default) or 2154")
        parser.add_argument("--crs", default="2154", help="EPSG code of the output geometries: 2154 (default) or 4326")
        parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, help="relevés read per query")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            fmt = export_format_parse(options["format"])
            selection = releve_selection_parse(
                campaign=options["campaign"],
                statuses=options["statuses"],
                date_from=options["date_from"],
                date_to=options["date_to"],
                bbox=options["bbox"],
                bbox_crs=options["bbox_crs"],
                crs=options["crs"],
                chunk_size=options["chunk_size"],
            )
            output: Path = options["output"]
            if not output.parent.is_dir():
                raise ExportError("bad_output", f"The directory of {output} does not exist.", field="output")
            counts = releve_export_write(selection=selection, fmt=fmt, path=output)
        except ExportError as exc:
            raise CommandError(str(exc)) from exc
        summary = ", ".join(f"{name} {count}" for name, count in counts.items())
        self.stdout.write(f"Wrote {output} ({fmt}): {summary}")
