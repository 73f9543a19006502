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
DEMO_FIELD_NOTES = "SYNTHETIC demo relevé at a sample point (habitat of the synthetic true map)."
DEMO_FEATURE_SET = "Demo Sentinel-2 + DEM (SYNTHETIC)"
DEMO_TRAINING_SET = f"Demo training set {DEMO_YEAR} (SYNTHETIC)"
DEMO_MAP = f"Demo habitat map {DEMO_YEAR} (SYNTHETIC)"
DEMO_VALIDATION_PLAN = f"Demo validation sample {DEMO_YEAR}"
DEMO_VALIDATION_NOTES = "SYNTHETIC demo relevé at a validation point (habitat of the synthetic true map)."
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
        parser.add_argument(
            "--no-model",
            action="store_true",
            help="Stop after the field season: no training set, model or map (these need a Celery worker).",
        )
        parser.add_argument("--timeout", type=float, default=900.0, help="Seconds to wait for each Celery job.")

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
        legend = self._reference_data(data_dir)
        layers, water = self._landscape(data_dir)
        # The feature set exists before any validation, so that validated relevés enter the training pool.
        feature_set = self._feature_set(layers)
        plan = self._sampling_plan(campaign, layers, users, water)
        self._synthetic_releves(campaign)
        field_ids = self._field_season(campaign, plan, layers, legend)
        # QC of whatever relevés the steps above (or earlier runs) put in the campaign.
        self._quality_control(campaign)
        self._validate(field_ids, users["coordinator"])
        if options["no_model"]:
            return
        run = self._model_and_map(campaign, legend, feature_set, users["modeller"], timeout=options["timeout"])
        if run is not None:
            self._accuracy(campaign, run, legend, layers, users)

    def _feature_set(self, layers: dict[str, Any]) -> Any:
        from classification.services.demo import demo_feature_set

        feature_set = demo_feature_set(name=DEMO_FEATURE_SET, layers=layers, resolution=30.0)
        self.stdout.write(f"Feature set {feature_set.name}: {feature_set.features.count()} features at 30 m")
        return feature_set

    def _field_season(self, campaign: Any, plan: Any, layers: dict[str, Any], legend: Any) -> list[int]:
        """The demo botanists visit their plan points: SYNTHETIC relevés of what the true map has there."""
        from classification.services.demo import demo_field_sites, demo_pending_points
        from fieldcollect.client import InProcessTransport
        from fieldcollect.models import Releve
        from fieldcollect.services.simulation import sites_visit_simulate

        done = Releve.objects.filter(campaign=campaign, notes=DEMO_FIELD_NOTES)
        if not done.exists():
            sites = demo_field_sites(
                points=demo_pending_points(plan.pk),
                truth=layers["demo-habitat"],
                dem=layers["demo-dem"],
                legend=legend,
                seed=DEMO_YEAR,
            )
            report = sites_visit_simulate(
                campaign=campaign,
                transport_factory=InProcessTransport,
                sites=sites,
                photos_per_releve=1,
                notes=DEMO_FIELD_NOTES,
                seed=DEMO_YEAR + 1,
            )
            summary = report.summary()
            errors = f"; errors: {'; '.join(summary['errors'])}" if summary["errors"] else ""
            visited = plan.points.filter(state="visited").count()
            self.stdout.write(
                f"Field season at the plan's points: {summary['results']} SYNTHETIC relevés, "
                f"{summary['photos_uploaded']} photos, {visited} of {plan.points.count()} points visited{errors}"
            )
        return list(done.values_list("id", flat=True))

    def _validate(self, releve_ids: list[int], coordinator: User, *, what: str = "field relevés") -> None:
        """The coordinator validates the field-season relevés QC did not block; they enter the training pool."""
        from classification.services.pool import training_pool_update
        from fieldcollect.models import Releve, ReleveStatus
        from fieldcollect.services.review import releve_review_bulk

        todo = list(
            Releve.objects.filter(pk__in=releve_ids, status__in=[ReleveStatus.QC_PASSED, ReleveStatus.QC_FLAGGED])
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        outcome = releve_review_bulk(releve_ids=todo, actor=coordinator, action="validate")
        # The pool follows validation through a Celery task; done here too (idempotent) so the demo's
        # training set does not depend on the worker's timing.
        pool = training_pool_update(releve_ids=releve_ids)
        blocked = len(outcome.refused)
        validated = Releve.objects.filter(pk__in=releve_ids, status=ReleveStatus.VALIDATED).count()
        self.stdout.write(
            f"Review: {validated} {what} validated by the coordinator"
            f"{f', {blocked} left with QC errors to look at' if blocked else ''}; training pool: "
            f"{pool.included} samples included, {pool.excluded} excluded {pool.reasons or ''}".rstrip()
        )

    def _model_and_map(self, campaign: Any, legend: Any, feature_set: Any, modeller: User, *, timeout: float) -> Any:
        """Freeze the pool, train a random forest and map the landscape, on the Celery workers."""
        from pathlib import Path

        from classification.models import JobStatus, MapRun, RasterLayer, TrainedModel, TrainingSet
        from classification.services.demo import DemoError, wait_for
        from classification.services.mapping import map_run_progress, map_run_start
        from classification.services.pool import PoolError, training_pool_freeze
        from classification.services.training import trained_model_train
        from fieldcollect.celery import app

        if not app.control.inspect(timeout=2.0).ping():
            self.stdout.write("No Celery worker answers: training and the map are skipped (start one, re-run).")
            return None
        training_set = TrainingSet.objects.filter(name=DEMO_TRAINING_SET).first()
        if training_set is None:
            try:
                training_set = training_pool_freeze(
                    actor=modeller, name=DEMO_TRAINING_SET, legend=legend, feature_set=feature_set, seed=DEMO_YEAR
                )
            except PoolError as exc:
                self.stdout.write(f"No demo training set: {exc}")
                return None
        self.stdout.write(
            f"Training set {training_set.name}: {training_set.n_plots} plots, {training_set.n_samples} pixels, "
            f"{len(training_set.class_counts)} classes, hash {training_set.content_hash[:12]}"
        )
        finished = (JobStatus.SUCCEEDED, JobStatus.FAILED)
        model = TrainedModel.objects.filter(training_set=training_set).order_by("-pk").first()
        if model is None or model.status == JobStatus.FAILED:
            model = trained_model_train(
                actor=modeller, training_set=training_set, params={"n_estimators": 100}, n_folds=5, seed=DEMO_YEAR
            )
        try:
            model = wait_for(
                lambda: TrainedModel.objects.get(pk=model.pk),
                lambda m: m.status in finished,
                timeout_s=timeout,
                what=f"Training of model {model.pk}",
                report=lambda m: self.stdout.write(f"  training… {m.progress:.0%}"),
            )
        except DemoError as exc:
            self.stdout.write(str(exc))
            return None
        if model.status != JobStatus.SUCCEEDED:
            self.stdout.write(f"Model {model.pk} failed: {model.message}")
            return None
        self.stdout.write(f"Model {model.pk} trained: {self._model_summary(model)}")
        run = MapRun.objects.filter(model=model, name=DEMO_MAP).order_by("-pk").first()
        if run is None or run.status == JobStatus.FAILED:
            run = map_run_start(
                actor=modeller, model=model, name=DEMO_MAP, campaign=campaign, tile_size=512, min_mapping_unit_px=4
            )
        try:
            run = wait_for(
                lambda: MapRun.objects.get(pk=run.pk),
                lambda r: r.status in finished,
                timeout_s=timeout,
                what=f"Map run {run.pk}",
                report=lambda r: self.stdout.write(f"  mapping… {map_run_progress(r)['done']}/{r.tiles_total} tiles"),
            )
        except DemoError as exc:
            self.stdout.write(str(exc))
            return None
        if run.status != JobStatus.SUCCEEDED:
            self.stdout.write(f"Map run {run.pk} failed: {run.message}")
            return None
        from classification.services.demo import map_agreement_with_truth

        truth = RasterLayer.objects.get(name="demo-habitat")
        agreement = map_agreement_with_truth(classes_path=str(Path(settings.MEDIA_ROOT) / run.classes_cog), truth=truth)
        self.stdout.write(
            f"Map {run.name}: {run.tiles_total} tiles, {run.classes_cog}; agreement with the SYNTHETIC true map "
            f"{agreement['agreement']:.0%} of {agreement['pixels']:,} pixels"
        )
        return run

    def _accuracy(self, campaign: Any, run: Any, legend: Any, layers: dict[str, Any], users: dict[str, User]) -> None:
        """A validation sample stratified by the map's classes, visited by the botanists, validated, and the
        map's accuracy and class areas estimated from it (Olofsson et al. 2014)."""
        from django.contrib.gis.geos import Polygon

        from classification.models import AccuracyAssessment, SamplingPlan
        from classification.services.accuracy import (
            AccuracyServiceError,
            accuracy_assessment_run,
            validation_plan_create,
        )
        from classification.services.demo import demo_field_sites, demo_pending_points
        from classification.services.sampling import sample_points_assign_by_zone
        from fieldcollect.client import InProcessTransport
        from fieldcollect.models import Releve
        from fieldcollect.services.quality import releve_run_qc
        from fieldcollect.services.simulation import sites_visit_simulate

        plan = SamplingPlan.objects.filter(campaign=campaign, name=DEMO_VALIDATION_PLAN).first()
        if plan is None:
            try:
                with transaction.atomic():
                    plan = validation_plan_create(
                        actor=users["modeller"], map_run=run, campaign=campaign, name=DEMO_VALIDATION_PLAN,
                        seed=DEMO_YEAR + 2, total_size=250, minimum=5,
                    )  # fmt: skip
                    plan.status = SamplingPlan.Status.ACTIVE
                    plan.save(update_fields=["status"])
                    xmin, ymin, xmax, ymax = layers["demo-habitat"].extent.extent
                    middle = (xmin + xmax) / 2
                    west = Polygon.from_bbox((xmin, ymin, middle, ymax))
                    east = Polygon.from_bbox((middle, ymin, xmax, ymax))
                    west.srid = east.srid = 2154
                    sample_points_assign_by_zone(
                        actor=users["coordinator"], plan=plan,
                        zones=[(users["botanist"], west), (users["botanist2"], east)],
                    )  # fmt: skip
            except AccuracyServiceError as exc:
                self.stdout.write(f"No validation plan: {exc.message}")
                return
            self.stdout.write(f"Validation plan {plan.name}: {plan.points.count()} points stratified by map class")
        visits = Releve.objects.filter(campaign=campaign, notes=DEMO_VALIDATION_NOTES)
        if not visits.exists():
            # Validation visits are made with more care: fewer mistaken classes, fewer mosaics.
            sites = demo_field_sites(
                points=demo_pending_points(plan.pk), truth=layers["demo-habitat"], dem=layers["demo-dem"],
                legend=legend, seed=DEMO_YEAR + 2, mislabel_rate=0.02, mosaic_rate=0.1,
            )  # fmt: skip
            sites_visit_simulate(
                campaign=campaign, transport_factory=InProcessTransport, sites=sites, photos_per_releve=1,
                notes=DEMO_VALIDATION_NOTES, seed=DEMO_YEAR + 3,
            )  # fmt: skip
            ids = list(visits.values_list("id", flat=True))
            releve_run_qc(releve_ids=ids)
            self._validate(ids, users["coordinator"], what="validation relevés")
        assessment = AccuracyAssessment.objects.filter(map_run=run, sampling_plan=plan).order_by("-pk").first()
        if assessment is None:
            try:
                assessment = accuracy_assessment_run(map_run=run, sampling_plan=plan, actor=users["modeller"])
            except AccuracyServiceError as exc:
                self.stdout.write(f"No accuracy assessment: {exc.message}")
                return
        overall = assessment.report["overall_accuracy"]
        self.stdout.write(
            f"Accuracy of {run.name} ({assessment.get_method_display()}, {assessment.n_used} of "
            f"{assessment.n_points} points): overall accuracy {overall['estimate']:.1%} "
            f"(95 % CI {overall['ci_low']:.1%}–{overall['ci_high']:.1%}); see admin, Accuracy assessments"
        )

    @staticmethod
    def _model_summary(model: Any) -> str:
        parts = []
        for metrics, label in ((model.cv_random, "random CV"), (model.cv_spatial, "spatial CV")):
            overall = (metrics or {}).get("overall_accuracy")
            if overall is not None:
                parts.append(f"{label} OA {overall:.2f}")
        cost = f"{model.cpu_seconds or 0:.1f} CPU-s, {(model.energy_kwh or 0) * 1000:.3f} Wh"
        return ", ".join([*parts, cost])

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

    def _reference_data(self, data_dir: str) -> Any:
        # HABREF, flora, EUNIS-ESy characteristic species and the demo legend (habitats module).
        from habitats.services.demo import reference_demo_load

        # The demo legend is the active one: the SYNTHETIC landscape paints its classes and the training pool
        # labels validated relevés with them.
        reports, legend = reference_demo_load(data_dir=data_dir, activate_legend=True)
        for report in reports:
            self.stdout.write(report.summary())
        self.stdout.write(f"Legend {legend} active, with {legend.classes.count()} classes")
        return legend

    def _sampling_plan(
        self, campaign: Any, layers: dict[str, Any], users: dict[str, User], water: tuple[float, ...]
    ) -> Any:
        """A 300-point plan stratified by the SYNTHETIC map, split between the two demo botanists."""
        from django.contrib.gis.geos import Polygon

        from classification.models import SamplingPlan, Stratification
        from classification.services.sampling import (
            Exclusion,
            sample_points_assign_by_zone,
            sampling_plan_create,
            stratification_create_from_raster,
        )

        existing = SamplingPlan.objects.filter(campaign=campaign, name=f"Demo plan {DEMO_YEAR}").first()
        if existing is not None:
            return existing
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
        return plan

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
            f"Quality control: {len(ids)} relevés checked here (the others by the worker after their push); "
            f"{counts.get(ReleveStatus.QC_FLAGGED, 0)} flagged, "
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
            # Near cloud-free scenes, as a modeller would pick (clouds are masked as nodata, and a plot
            # with a nodata feature cannot train the model).
            cloud_cover=0.02,
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
