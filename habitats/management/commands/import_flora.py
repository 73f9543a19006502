from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from habitats.management.commands._reporting import run_import
from habitats.services.taxa import flora_import


class Command(BaseCommand):
    help = "Import a flora list `CD_NOM;Nom scientifique[;Indicatrice ZH]` (UTF-8), all or nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path")
        parser.add_argument("--skip-invalid", action="store_true", help="import valid rows, report the rejected")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        run_import(
            self,
            lambda: [
                flora_import(
                    path=options["path"],
                    skip_invalid=options["skip_invalid"],
                    progress=not options["no_progress"],
                    source=f"import_flora {options['path']}",
                )
            ],
            options["verbosity"],
        )
