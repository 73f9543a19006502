"""Queue QC for every relevé whose QC never ran on its current version (e.g. pushed while Redis was down).

A push schedules QC once it commits; if the broker was unreachable then, the push still succeeded and the
relevé simply waits here. Safe to run at any time and as often as wanted (QC is idempotent): from cron,
e.g. every 10 minutes, or by hand after a Redis outage.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fieldcollect.selectors import releve_ids_qc_pending

CHUNK = 200


class Command(BaseCommand):
    help = __doc__.splitlines()[0]

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--campaign", help="Only this campaign (slug).")
        parser.add_argument(
            "--inline", action="store_true", help="Run QC in this process instead of queueing Celery tasks."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from fieldcollect.models import Campaign
        from fieldcollect.services.quality import releve_run_qc
        from fieldcollect.tasks import releve_run_qc_task

        if options["campaign"] and not Campaign.objects.filter(slug=options["campaign"]).exists():
            raise CommandError(f"Unknown campaign {options['campaign']!r} [unknown_campaign]")
        ids = releve_ids_qc_pending(campaign_slug=options["campaign"])
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            if options["inline"]:
                releve_run_qc(releve_ids=chunk)
            else:
                releve_run_qc_task.delay(chunk)
        verb = "checked" if options["inline"] else "queued for QC"
        self.stdout.write(f"{len(ids)} relevé(s) {verb}.")
