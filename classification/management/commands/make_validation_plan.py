"""Draw the validation sample of a finished map run: a stratified random plan whose strata are the map's classes."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from classification.accuracy import ALLOCATIONS
from classification.models import MapRun, SamplingPlan
from classification.services.accuracy import AccuracyServiceError, validation_plan_create
from fieldcollect.models import Campaign


class Command(BaseCommand):
    help = (
        "Stratify a campaign by a finished map run's classes and draw its validation sample (Olofsson et al. "
        "2014: by default at least --minimum points per class, the rest proportional to mapped area). Give "
        "--total, or --target-se for the standard error wanted on overall accuracy."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--map-run", type=int, required=True, help="Id of a finished map run.")
        parser.add_argument("--campaign", required=True, help="Campaign slug (whose botanists visit the points).")
        parser.add_argument("--name", required=True)
        parser.add_argument("--seed", type=int, required=True)
        size = parser.add_mutually_exclusive_group(required=True)
        size.add_argument("--total", type=int, help="Total number of points.")
        size.add_argument("--target-se", type=float, help="Target standard error of overall accuracy, e.g. 0.01.")
        parser.add_argument("--allocation", choices=ALLOCATIONS, default="minimum_then_proportional")
        parser.add_argument("--minimum", type=int, default=50, help="Points per class at least (default 50).")
        parser.add_argument("--min-distance", type=float, default=0.0, help="Metres between any two points.")
        parser.add_argument("--activate", action="store_true", help="Make the plan active (points reach tablets).")

    def handle(self, *args: Any, **options: Any) -> None:
        run = MapRun.objects.filter(pk=options["map_run"]).first()
        if run is None:
            raise CommandError(f"[unknown_map_run] no map run {options['map_run']}")
        campaign = Campaign.objects.filter(slug=options["campaign"]).first()
        if campaign is None:
            raise CommandError(f"[unknown_campaign] no campaign {options['campaign']!r}")
        try:
            plan = validation_plan_create(
                actor=None,
                map_run=run,
                campaign=campaign,
                name=options["name"],
                seed=options["seed"],
                total_size=options["total"],
                target_overall_se=options["target_se"],
                allocation=options["allocation"],
                minimum=options["minimum"],
                min_distance_m=options["min_distance"],
            )
        except AccuracyServiceError as exc:
            raise CommandError(f"[{exc.code}] {exc.message}") from exc
        if options["activate"]:
            plan.status = SamplingPlan.Status.ACTIVE
            plan.save(update_fields=["status"])
        design = plan.parameters["validation"]
        self.stdout.write(
            f"Plan {plan.pk} {plan.name!r}: {plan.points.count()} points in {plan.plan_strata.count()} map classes "
            f"({plan.get_allocation_display()}, seed {plan.seed}, {plan.status}); anticipated SE of overall "
            f"accuracy {design['anticipated_se']['overall_accuracy']:.4f}"
        )
