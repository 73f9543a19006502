"""Back up the database and the media files into a new directory, with checksums."""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from fieldcollect.services.backups import BackupError, DatabaseTarget, backup_create


class Command(BaseCommand):
    help = "Write database.dump (pg_dump), media.tar and manifest.json (checksums, row counts) into OUTPUT."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("output", type=Path, help="A new (or empty) directory")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            manifest = backup_create(
                target=DatabaseTarget.from_django(connection.settings_dict),
                media_root=Path(settings.MEDIA_ROOT),
                output=options["output"],
            )
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        rows = sum(manifest["row_counts"].values())
        self.stdout.write(
            f"Backup written to {options['output']}: {len(manifest['row_counts'])} tables, {rows} rows, "
            f"{len(manifest['media_files'])} media files"
        )
