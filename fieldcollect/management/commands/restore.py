"""Restore a backup made by `manage.py backup` into the configured (empty or disposable) database."""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from fieldcollect.services.backups import BackupError, DatabaseTarget, backup_restore, backup_verify


class Command(BaseCommand):
    help = "Verify a backup's checksums, then restore its database and media (existing objects are replaced)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("backup", type=Path)
        parser.add_argument("--verify-only", action="store_true", help="Only check the checksums")
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation")

    def handle(self, *args: Any, **options: Any) -> None:
        target = DatabaseTarget.from_django(connection.settings_dict)
        try:
            if options["verify_only"]:
                backup_verify(backup=options["backup"])
                self.stdout.write("Backup checksums are correct.")
                return
            if not options["yes"] and input(f"Replace the contents of database {target.name!r}? [y/N] ") != "y":
                raise CommandError("Restore cancelled.")
            connection.close()
            report = backup_restore(backup=options["backup"], target=target, media_root=Path(settings.MEDIA_ROOT))
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Restored {report['tables']} tables ({report['rows']} rows) and {report['media_files']} media files; "
            "row counts and media checksums match the manifest."
        )
