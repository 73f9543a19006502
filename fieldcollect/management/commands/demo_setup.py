"""Load everything the demo needs: users with roles, the demo campaign, and (as each module provides
them) reference data, a landscape, a sampling plan and synthetic relevés. Safe to re-run."""

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.db.models import Count

from fieldcollect.models import Role, User
from fieldcollect.services.accounts import role_permissions_sync, user_set_roles
from fieldcollect.services.campaigns import boundary_from_geojson, campaign_add_member, campaign_create_or_update

DEMO_PASSWORD = "demo-password-2027"  # noqa: S105 - printed by `make demo`; demo users only
# The demo shows the season just past (April–September 2026), so that its relevés, dated inside the
# campaign, are not refused as being in the future.
DEMO_CAMPAIGN = "occitanie-2026"
DEMO_YEAR = 2026
DEMO_RELEVE_NOTES = "SYNTHETIC demo relevé (tablet simulator)."
DEMO_USERS = [
    ("admin", None, "Ada", "Admin"),
    ("coordinator", Role.COORDINATOR, "Claire", "Coordinatrice"),
    ("botanist", Role.BOTANIST, "Bastien", "Botaniste"),
    ("botanist2", Role.BOTANIST, "Berthe", "Botaniste"),
    ("modeller", Role.MODELLER, "Mathis", "Modélisateur"),
]


class Command(BaseCommand):
    help = "Create demo users and the demo campaign, then load the demo data of each module."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data-dir", default=str(settings.SHARED_DATA_DIR))

    def handle(self, *args: Any, **options: Any) -> None:
        data_dir = options["data_dir"]
        with transaction.atomic():
            role_permissions_sync()
            users = self._users()
            region = boundary_from_geojson(f"{data_dir}/boundaries/region-occitanie.geojson")
            campaign, _ = campaign_create_or_update(
                slug=DEMO_CAMPAIGN,
                name=f"Occitanie habitat map {DEMO_YEAR}",
                year=DEMO_YEAR,
                region=region,
                starts_on=dt.date(DEMO_YEAR, 4, 1),
                ends_on=dt.date(DEMO_YEAR, 9, 30),
            )
            for username, role, *_ in DEMO_USERS:
                if role is not None:
                    campaign_add_member(campaign=campaign, user=users[username], role=role)
        self.stdout.write(f"Demo campaign {campaign.slug} ({campaign.region.area / 1e6:,.0f} km²), users ready")
        self._reference_data(data_dir)
        layers, water = self._landscape(data_dir)
        self._sampling_plan(campaign, layers, users, water)
        self._synthetic_releves(campaign)
        # Last: QC of whatever relevés the steps above (or earlier runs) put in the campaign.
        self._quality_control(campaign)

    def _synthetic_releves(self, campaign: Any) -> None:
        """300 SYNTHETIC relevés of the two demo botanists, pushed (with a photo each) through the tablet client."""
        from fieldcollect.client import InProcessTransport
        from fieldcollect.models import Releve
        from fieldcollect.services.simulation import SimulationError, tablets_simulate

        if Releve.objects.filter(campaign=campaign, notes__startswith=DEMO_RELEVE_NOTES).exists():
            return
        try:
            report = tablets_simulate(
                campaign=campaign,
                transport_factory=InProcessTransport,
                tablets=2,
                releves_per_tablet=150,
                batch_size=50,
                photos_per_releve=1,
                interrupt_every=10,
                notes=DEMO_RELEVE_NOTES,
                seed=DEMO_YEAR,
                concurrent=False,
                usernames=["botanist", "botanist2"],
            )
        except SimulationError as exc:
            self.stdout.write(f"SYNTHETIC relevés skipped: {exc}")
            return
        summary = report.summary()
        errors = f"; errors: {'; '.join(summary['errors'])}" if summary["errors"] else ""
        self.stdout.write(
            f"SYNTHETIC relevés pushed by the tablet client: {summary['results']}, "
            f"{summary['photos_uploaded']} photos ({summary['uploads_resumed']} uploads resumed), "
            f"{summary['pulled']} changes pulled{errors}"
        )

    def _reference_data(self, data_dir: str) -> None:
        # HABREF, flora, EUNIS-ESy characteristic species and the demo legend (habitats module).
        from habitats.services.demo import reference_demo_load

        # The demo legend is defined but not activated: the SYNTHETIC landscape and sampling plan below are
        # tuned to their built-in class list and would take the active legend's classes instead.
        reports, legend = reference_demo_load(data_dir=data_dir, activate_legend=False)
        for report in reports:
            self.stdout.write(report.summary())
        self.stdout.write(f"Legend {legend} defined with {legend.classes.count()} classes (not activated)")

    def _sampling_plan(
        self, campaign: Any, layers: dict[str, Any], users: dict[str, User], water: tuple[float, ...]
    ) -> None:
        """A 300-point plan stratified by the SYNTHETIC map, split between the two demo botanists."""
        from django.contrib.gis.geos import Polygon

        from classification.models import SamplingPlan, Stratification
        from classification.services.sampling import (
            Exclusion,
            sample_points_assign_by_zone,
            sampling_plan_create,
            stratification_create_from_raster,
        )

        if SamplingPlan.objects.filter(campaign=campaign, name=f"Demo plan {DEMO_YEAR}").exists():
            return
        habitat = layers["demo-habitat"]
        stratification = Stratification.objects.filter(campaign=campaign, name="Demo pre-map (SYNTHETIC)").first()
        if stratification is None:
            stratification = stratification_create_from_raster(
                campaign=campaign, name="Demo pre-map (SYNTHETIC)", layer=habitat, description="SYNTHETIC demo map"
            )
        with transaction.atomic():
            plan = sampling_plan_create(
                actor=users["coordinator"],
                campaign=campaign,
                stratification=stratification,
                name=f"Demo plan {DEMO_YEAR}",
                allocation="proportional",
                total_size=300,
                min_per_stratum=2,
                min_distance_m=300.0,
                seed=2027,
                exclusions=[
                    Exclusion(layer_id=habitat.pk, values=water, label="water"),
                    Exclusion(layer_id=layers["demo-slope"].pk, above=35.0, label="too steep"),
                ],
                drop_empty_strata=True,
            )
            plan.status = SamplingPlan.Status.ACTIVE
            plan.save(update_fields=["status"])
            xmin, ymin, xmax, ymax = habitat.extent.extent
            middle = (xmin + xmax) / 2
            west, east = Polygon.from_bbox((xmin, ymin, middle, ymax)), Polygon.from_bbox((middle, ymin, xmax, ymax))
            west.srid = east.srid = 2154
            counts = sample_points_assign_by_zone(
                actor=users["coordinator"], plan=plan, zones=[(users["botanist"], west), (users["botanist2"], east)]
            )
        self.stdout.write(f"Demo sampling plan: {plan.points.count()} points, assigned {counts}")

    def _quality_control(self, campaign: Any) -> None:
        """Run the QC rules on the demo relevés not checked yet, so flagged and clean ones show in review."""
        from fieldcollect.models import Releve, ReleveStatus
        from fieldcollect.services.quality import releve_run_qc

        ids = list(
            Releve.objects.filter(campaign=campaign, deleted_at__isnull=True, qc_state__isnull=True).values_list(
                "id", flat=True
            )
        )
        releve_run_qc(releve_ids=ids)
        counts = dict(
            Releve.objects.filter(campaign=campaign, status__in=[ReleveStatus.QC_FLAGGED, ReleveStatus.QC_PASSED])
            .values_list("status")
            .annotate(n=Count("id"))
        )
        self.stdout.write(
            f"Quality control: {len(ids)} relevés checked; {counts.get(ReleveStatus.QC_FLAGGED, 0)} flagged, "
            f"{counts.get(ReleveStatus.QC_PASSED, 0)} passed, awaiting review"
        )

    def _landscape(self, data_dir: str) -> tuple[dict[str, Any], tuple[float, ...]]:
        """The SYNTHETIC demo landscape (36 km over Roussillon at 30 m), registered in the raster catalogue."""
        from pathlib import Path

        from classification.services.landscape import landscape_classes, landscape_make
        from habitats.models import MapLegend

        # The demo legend's classes when a legend with classes is active, else the built-in synthetic list.
        legend = MapLegend.objects.filter(is_active=True, classes__isnull=False).distinct().order_by("pk").first()
        classes = landscape_classes(legend_id=legend.pk if legend else None)
        _manifest, layers = landscape_make(
            out_dir=Path(settings.LANDSCAPE_DIR) / "demo",
            size=1200,
            resolution=30.0,
            seed=2027,
            classes=classes,
            dates=tuple(f"{DEMO_YEAR}-{month}" for month in ("04-15", "06-15", "08-15")),
            register_prefix="demo",
            data_dir=Path(data_dir),
            reuse=True,
        )
        self.stdout.write(
            f"SYNTHETIC demo landscape: {len(layers)} layers registered, {len(classes)} habitat classes"
            f"{f' of legend {legend}' if legend else ' (built-in list)'}"
        )
        # Open-water classes (mostly water in their synthetic spectrum) are excluded from the demo plan.
        water = tuple(float(c.value) for c in classes if c.mix[3] > 0.5)
        return {layer.name: layer for layer in layers}, water

    def _users(self) -> dict[str, User]:
        users = {}
        for username, role, first, last in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"first_name": first, "last_name": last, "email": f"{username}@example.org"}
            )
            if created:
                user.set_password(DEMO_PASSWORD)
            user.is_staff = role in (None, Role.COORDINATOR, Role.MODELLER)
            user.is_superuser = role is None
            user.save()
            if role is not None:
                user_set_roles(user=user, roles=[role])
            users[username] = user
        return users
