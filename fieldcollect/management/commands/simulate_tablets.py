"""``manage.py simulate_tablets``: N tablets push realistic relevés (with photos) and pull, through the API."""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fieldcollect.client import HttpTransport, InProcessTransport, Transport
from fieldcollect.models import Campaign
from fieldcollect.services.simulation import SimulationError, tablets_simulate


class Command(BaseCommand):
    help = (
        "Play N field tablets of a campaign's botanists: realistic relevés from the imported reference data, "
        "pushed in batches with photos (some uploads cut and resumed), then a pull. Against a running server "
        "(--url) or in this process."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--campaign", required=True, help="campaign slug")
        parser.add_argument("--url", help="base URL of a running server, e.g. http://127.0.0.1:8000 (else in-process)")
        parser.add_argument("--tablets", type=int, default=2)
        parser.add_argument("--releves", type=int, default=50, help="relevés per tablet")
        parser.add_argument("--batch", type=int, default=50, help="relevés per push")
        parser.add_argument("--photos", type=int, default=1, help="photos per relevé")
        parser.add_argument("--interrupt-every", type=int, default=5, help="cut every Nth photo upload (0: never)")
        parser.add_argument("--species", type=int, default=30)
        parser.add_argument("--habitats", type=int, default=2)
        parser.add_argument("--users", nargs="*", help="only these botanists")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--notes", default="SYNTHETIC relevé made by the tablet simulator.")
        parser.add_argument("--sequential", action="store_true", help="one tablet after the other")

    def handle(self, *args: Any, **options: Any) -> None:
        campaign = Campaign.objects.filter(slug=options["campaign"]).first()
        if campaign is None:
            raise CommandError(f"No campaign {options['campaign']!r} [unknown_campaign]")
        url = options["url"]

        def transport() -> Transport:
            return HttpTransport(url) if url else InProcessTransport()

        try:
            report = tablets_simulate(
                campaign=campaign,
                transport_factory=transport,
                tablets=options["tablets"],
                releves_per_tablet=options["releves"],
                batch_size=options["batch"],
                photos_per_releve=options["photos"],
                interrupt_every=options["interrupt_every"],
                notes=options["notes"],
                seed=options["seed"],
                species=options["species"],
                habitats=options["habitats"],
                concurrent=not options["sequential"],
                usernames=options["users"],
            )
        except SimulationError as exc:
            raise CommandError(f"{exc} [simulation_impossible]") from exc
        summary = report.summary()
        self.stdout.write(json.dumps(summary, indent=2))
        if summary["errors"]:
            raise CommandError(f"{len(summary['errors'])} tablet(s) failed [tablet_failed]")
