from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from habitats.management.commands._reporting import run_import
from habitats.services.characteristic_species import EUNIS_2022, characteristic_species_import


class Command(BaseCommand):
    help = (
        "Import EUNIS-ESy characteristic species (habitat_code,habitat_name,species_type,species,value), "
        "linked to habitat units by normalised code and to taxa by name without author. Import taxa first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path")
        parser.add_argument("--source", default="EUNIS-ESy 2021-06-01")
        parser.add_argument("--typology", type=int, default=EUNIS_2022, help="CD_TYPO of the codes (107)")
        parser.add_argument("--skip-invalid", action="store_true", help="import valid rows, report the rejected")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        run_import(
            self,
            lambda: [
                characteristic_species_import(
                    path=options["path"],
                    source=options["source"],
                    typology=options["typology"],
                    skip_invalid=options["skip_invalid"],
                    progress=not options["no_progress"],
                )
            ],
            options["verbosity"],
        )
