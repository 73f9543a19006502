"""Register a GeoTIFF/COG in the raster catalogue after checking that it can be used."""

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from classification.models import RasterKind, Resampling
from classification.services.rasters import CatalogueError, raster_layer_register


class Command(BaseCommand):
    help = (
        "Register a raster (local path or GDAL URL) in the catalogue. Files not in EPSG:2154 are refused unless "
        "--reproject-from names their EPSG code and --resampling the method to reproject them on read."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("uri")
        parser.add_argument("--name", required=True, help="Unique slug of the layer.")
        parser.add_argument("--kind", required=True, choices=RasterKind.values)
        parser.add_argument("--date", type=dt.date.fromisoformat, help="Acquisition date, YYYY-MM-DD.")
        parser.add_argument("--categorical", action="store_true", help="Class codes, not measurements.")
        parser.add_argument("--reproject-from", type=int, metavar="EPSG", help="The file's EPSG code (integer only).")
        parser.add_argument("--resampling", choices=Resampling.values, default="")
        parser.add_argument("--bands", help="Comma-separated band names (default: the file's band descriptions).")
        parser.add_argument("--description", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            layer, created = raster_layer_register(
                uri=options["uri"],
                name=options["name"],
                kind=options["kind"],
                date=options["date"],
                is_categorical=options["categorical"],
                reproject_from_epsg=options["reproject_from"],
                resampling=options["resampling"],
                band_names=options["bands"].split(",") if options["bands"] else None,
                description=options["description"],
            )
        except CatalogueError as exc:
            raise CommandError(f"[{exc.code}] {exc.message}") from exc
        self.stdout.write(
            f"{'Registered' if created else 'Updated'} {layer.name}: {layer.band_count} band(s) {layer.dtype}, "
            f"{layer.width}×{layer.height} px at {layer.resolution_x:g} m, EPSG:{layer.source_epsg}"
            f"{' (reprojected on read, ' + layer.resampling + ')' if layer.resampling else ''}"
            f"{', SYNTHETIC' if layer.is_synthetic else ''}"
        )
