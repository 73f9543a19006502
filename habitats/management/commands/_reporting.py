"""Shared output of the import commands: one summary line per file, warnings, and the abort report."""

from collections.abc import Callable

from django.core.management.base import BaseCommand, CommandError

from habitats.services.importing import ImportAborted, ImportReport


def run_import(command: BaseCommand, action: Callable[[], list[ImportReport]], verbosity: int) -> None:
    try:
        reports = action()
    except ImportAborted as aborted:
        raise CommandError(aborted.describe(limit=50 if verbosity < 2 else 100_000)) from None
    for report in reports:
        command.stdout.write(report.summary())
        for problem in report.rejected[: 20 if verbosity < 2 else None]:
            command.stdout.write(f"  rejected {problem}")
        for problem in report.warnings[: 5 if verbosity < 2 else None]:
            command.stdout.write(f"  warning {problem}")
        if verbosity < 2 and len(report.warnings) > 5:
            command.stdout.write(f"  … {len(report.warnings) - 5} more warnings (-v 2 lists them)")
