"""Draw a stratified sampling plan for a campaign from a categorical strata raster of the catalogue."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from classification.models import Allocation, RasterLayer, SamplingPlan, Stratification
from classification.sampling import SamplingError
from classification.services.sampling import Exclusion, sampling_plan_create, stratification_create_from_raster
from fieldcollect.models import Campaign


def parse_exclusion(text: str) -> Exclusion:
    """LAYER:values=1,2  |  LAYER:above=30  |  LAYER:below=0 (LAYER = a catalogue layer name)."""
    try:
        name, rule = text.split(":", 1)
        key, value = rule.split("=", 1)
        layer = RasterLayer.objects.get(name=name)
        if key == "values":
            return Exclusion(layer_id=layer.pk, values=tuple(float(v) for v in value.split(",")), label=text)
        if key == "above":
            return Exclusion(layer_id=layer.pk, above=float(value), label=text)
        if key == "below":
            return Exclusion(layer_id=layer.pk, below=float(value), label=text)
    except RasterLayer.DoesNotExist as exc:
        raise CommandError(f"[unknown_layer] no raster layer named in {text!r}") from exc
    except ValueError as exc:
        raise CommandError(
            f"[invalid_exclusion] {text!r}: use LAYER:values=1,2, LAYER:above=N or LAYER:below=N"
        ) from exc
    raise CommandError(f"[invalid_exclusion] {text!r}: use LAYER:values=1,2, LAYER:above=N or LAYER:below=N")


class Command(BaseCommand):
    help = "Allocate and draw a stratified random plan (reproducible from --seed); never stores a short plan."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--campaign", required=True, help="Campaign slug.")
        parser.add_argument("--strata", required=True, help="Categorical strata layer (catalogue name).")
        parser.add_argument("--name", required=True)
        parser.add_argument("--allocation", choices=Allocation.values, default=Allocation.PROPORTIONAL)
        parser.add_argument("--total", type=int, required=True)
        parser.add_argument("--minimum", type=int, default=0, help="Minimum points per stratum.")
        parser.add_argument("--min-distance", type=float, default=0.0, help="Metres between any two points.")
        parser.add_argument("--seed", type=int, required=True)
        parser.add_argument(
            "--exclude", action="append", default=[], help="LAYER:values=1,2 | LAYER:above=N | LAYER:below=N"
        )
        parser.add_argument("--drop-empty-strata", action="store_true")
        parser.add_argument("--activate", action="store_true", help="Make the plan active (points reach tablets).")

    def handle(self, *args: Any, **options: Any) -> None:
        campaign = Campaign.objects.filter(slug=options["campaign"]).first()
        if campaign is None:
            raise CommandError(f"[unknown_campaign] no campaign {options['campaign']!r}")
        layer = RasterLayer.objects.filter(name=options["strata"]).first()
        if layer is None:
            raise CommandError(f"[unknown_layer] no raster layer {options['strata']!r}")
        exclusions = [parse_exclusion(text) for text in options["exclude"]]
        try:
            stratification = Stratification.objects.filter(campaign=campaign, name=layer.name).first()
            if stratification is None:
                stratification = stratification_create_from_raster(campaign=campaign, name=layer.name, layer=layer)
            plan = sampling_plan_create(
                actor=None,
                campaign=campaign,
                stratification=stratification,
                name=options["name"],
                allocation=options["allocation"],
                total_size=options["total"],
                seed=options["seed"],
                min_per_stratum=options["minimum"],
                min_distance_m=options["min_distance"],
                exclusions=exclusions,
                drop_empty_strata=options["drop_empty_strata"],
            )
        except SamplingError as exc:
            raise CommandError(f"[{exc.code}] {exc.message}") from exc
        if options["activate"]:
            plan.status = SamplingPlan.Status.ACTIVE
            plan.save(update_fields=["status"])
        self.stdout.write(
            f"Plan {plan.pk} {plan.name!r}: {plan.points.count()} points in {plan.plan_strata.count()} strata "
            f"({plan.get_allocation_display()}, seed {plan.seed}, {plan.status})"
        )
