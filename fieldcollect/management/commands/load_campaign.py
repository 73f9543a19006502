"""Create or update a campaign from a GeoJSON boundary (EPSG:4326), stored in Lambert-93."""

import datetime as dt
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fieldcollect.services.campaigns import BoundaryError, boundary_from_geojson, campaign_create_or_update


class Command(BaseCommand):
    help = "Create or update a campaign whose region is read from a GeoJSON file (EPSG:4326)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("boundary", type=Path, help="GeoJSON Feature/FeatureCollection/geometry in EPSG:4326")
        parser.add_argument("--slug", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--year", type=int, required=True)
        parser.add_argument("--start", type=dt.date.fromisoformat, required=True, help="YYYY-MM-DD")
        parser.add_argument("--end", type=dt.date.fromisoformat, required=True, help="YYYY-MM-DD")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            region = boundary_from_geojson(options["boundary"])
            campaign, created = campaign_create_or_update(
                slug=options["slug"],
                name=options["name"],
                year=options["year"],
                region=region,
                starts_on=options["start"],
                ends_on=options["end"],
            )
        except (BoundaryError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} campaign {campaign.slug}: {region.area / 1e6:,.0f} km² in EPSG:{region.srid}")
