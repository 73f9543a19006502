"""Write a SYNTHETIC demo landscape (DEM, slope, aspect, true habitat map, Sentinel-2-like stack) as COGs."""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from classification.landscape.generator import PRODUCTS
from classification.services.landscape import (
    DEFAULT_CENTRE,
    departement_centre,
    landscape_classes,
    landscape_make,
)
from classification.services.rasters import CatalogueError


class Command(BaseCommand):
    help = (
        "Generate a SYNTHETIC landscape over part of the real Occitanie boundary: same seed, same files. "
        "Sizes from a few hundred cells (tests) to 10,000 × 10,000 and more (benchmarks)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", type=Path, help="Output directory (default LANDSCAPE_DIR/<name>).")
        parser.add_argument("--name", default="demo", help="Name of the landscape; prefix of registered layers.")
        parser.add_argument("--size", type=int, default=1000, help="Width and height in cells.")
        parser.add_argument("--resolution", type=float, default=10.0, help="Cell size in metres.")
        parser.add_argument("--seed", type=int, default=0)
        place = parser.add_mutually_exclusive_group()
        place.add_argument("--centre", help="Lambert-93 centre 'x,y' (default: Roussillon).")
        place.add_argument("--departement", help="Centre on an Occitanie département, by code (e.g. 34).")
        parser.add_argument("--dates", default="2027-04-15,2027-06-15,2027-08-15", help="Sentinel-2-like dates.")
        parser.add_argument("--cloud-cover", type=float, default=0.1)
        parser.add_argument("--products", default=",".join(PRODUCTS), help=f"Any of {','.join(PRODUCTS)}.")
        parser.add_argument("--legend", type=int, help="Paint the classes of this map legend (id).")
        parser.add_argument("--no-register", action="store_true", help="Do not add the files to the catalogue.")

    def handle(self, *args: Any, **options: Any) -> None:
        out = options["out"] or Path(settings.LANDSCAPE_DIR) / options["name"]
        try:
            if options["departement"]:
                centre = departement_centre(options["departement"])
            elif options["centre"]:
                x, y = (float(v) for v in options["centre"].split(","))
                centre = (x, y)
            else:
                centre = DEFAULT_CENTRE
            step = max(1, 1 + ((options["size"] + 511) // 512) ** 2 // 20)

            def progress(done: int, total: int) -> None:
                if done % step == 0 or done == total:
                    self.stdout.write(f"  block {done}/{total}")

            manifest, layers = landscape_make(
                out_dir=out,
                size=options["size"],
                resolution=options["resolution"],
                seed=options["seed"],
                centre=centre,
                dates=tuple(d for d in options["dates"].split(",") if d),
                cloud_cover=options["cloud_cover"],
                products=tuple(p for p in options["products"].split(",") if p),
                classes=landscape_classes(legend_id=options["legend"]),
                register_prefix=None if options["no_register"] else options["name"],
                progress=progress,
            )
        except (CatalogueError, ValueError) as exc:
            raise CommandError(f"[{getattr(exc, 'code', 'invalid')}] {exc}") from exc
        self.stdout.write(
            f"SYNTHETIC landscape written to {out} ({len(manifest['files'])} files, seed {options['seed']})"
        )
        for layer in layers:
            self.stdout.write(f"  registered {layer.name}")
