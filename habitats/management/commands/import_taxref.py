from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from habitats.management.commands._reporting import run_import
from habitats.services.taxa import taxref_import


class Command(BaseCommand):
    help = "Import a TAXREF export (TAXREFvNN.txt, tab-separated, UTF-8), all or nothing; re-running updates."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path")
        parser.add_argument("--kingdom", help="keep only this REGNE, e.g. Plantae")
        parser.add_argument("--skip-invalid", action="store_true", help="import valid rows, report the rejected")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        run_import(
            self,
            lambda: [
                taxref_import(
                    path=options["path"],
                    kingdom=options["kingdom"],
                    skip_invalid=options["skip_invalid"],
                    progress=not options["no_progress"],
                    source=f"import_taxref {options['path']}",
                )
            ],
            options["verbosity"],
        )
