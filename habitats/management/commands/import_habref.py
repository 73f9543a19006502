from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from habitats.management.commands._reporting import run_import
from habitats.services.habref import HabrefFiles, habref_import


class Command(BaseCommand):
    help = (
        "Import HABREF files (TYPOREF, HABREF_TYPE_REL, HABREF units, HABREF_CORRESP_HAB), all or nothing. "
        "Give a directory (--dir) and/or individual files; re-running updates, never duplicates."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dir", help="directory holding TYPOREF_70.csv, HABREF_70[_SUBSET].csv, …")
        parser.add_argument("--habref-version", default="70", help="HABREF version in the file names (default 70)")
        parser.add_argument("--typologies", help="TYPOREF_NN.csv")
        parser.add_argument("--relation-types", help="HABREF_TYPE_REL_NN.csv")
        parser.add_argument("--units", help="HABREF_NN.csv")
        parser.add_argument("--crosswalks", help="HABREF_CORRESP_HAB_NN.csv")
        parser.add_argument("--skip-invalid", action="store_true", help="import valid rows, report the rejected")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        found = (
            HabrefFiles.from_directory(options["dir"], options["habref_version"]) if options["dir"] else HabrefFiles()
        )

        def given(name: str) -> Path | None:
            return Path(options[name]) if options[name] else getattr(found, name)

        files = HabrefFiles(
            typologies=given("typologies"),
            relation_types=given("relation_types"),
            units=given("units"),
            crosswalks=given("crosswalks"),
        )
        if not any(vars(files).values()):
            raise CommandError("no HABREF file given (use --dir or --typologies/--relation-types/--units/--crosswalks)")
        run_import(
            self,
            lambda: habref_import(
                files=files,
                skip_invalid=options["skip_invalid"],
                progress=not options["no_progress"],
                source=f"import_habref {options['dir'] or ''}".strip(),
            ),
            options["verbosity"],
        )
