"""The demo's whole chain on the SYNTHETIC landscape: field season at the plan's points, review, training
pool, training set, model and map on the Celery worker; re-running the demo adds nothing."""

import io
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from classification.models import (
    AccuracyAssessment,
    JobStatus,
    MapRun,
    RasterLayer,
    SamplingPlan,
    TrainedModel,
    TrainingSample,
    TrainingSet,
)
from classification.services.demo import map_agreement_with_truth
from fieldcollect.management.commands.demo_setup import (
    DEMO_FIELD_NOTES,
    DEMO_MAP,
    DEMO_TRAINING_SET,
    DEMO_VALIDATION_NOTES,
    DEMO_YEAR,
)
from fieldcollect.models import Campaign, Releve, ReleveStatus, User
from habitats.models import MapLegend


@pytest.mark.celery
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_demo_goes_from_the_field_season_to_a_map(shared_data, celery_worker):
    # when the demo is set up with a Celery worker running
    out = io.StringIO()
    call_command("demo_setup", data_dir=str(shared_data), stdout=out, timeout=900)
    text = out.getvalue()
    # then the demo users have their roles and the printed password
    coordinator = User.objects.get(username="coordinator")
    assert coordinator.has_role("coordinator") and coordinator.is_staff
    assert coordinator.check_password("demo-password-2027")
    assert User.objects.get(username="botanist").campaign_memberships.get().role == "botanist"
    # and the demo legend is the active one
    assert MapLegend.objects.get(is_active=True).classes.count() >= 30
    # and every point of the plan was visited by a field-season relevé, linked by its UUID
    plan = SamplingPlan.objects.get(name=f"Demo plan {DEMO_YEAR}")
    field = Releve.objects.filter(notes=DEMO_FIELD_NOTES)
    assert field.count() == plan.points.count() == 300
    assert set(plan.points.values_list("state", flat=True)) == {"visited"}
    assert set(plan.points.values_list("releve_uuid", flat=True)) == set(field.values_list("uuid", flat=True))
    # and the coordinator validated them; most became training samples (a few are mosaics or cloudy)
    assert field.filter(status=ReleveStatus.VALIDATED).count() >= 280
    training_set = TrainingSet.objects.get(name=DEMO_TRAINING_SET)
    assert training_set.n_plots >= 200, text
    assert training_set.provenance["source"] == "live_pool"
    # and a model was trained with both cross-validations
    model = TrainedModel.objects.get(training_set=training_set)
    assert model.status == JobStatus.SUCCEEDED, model.message
    assert 0 < model.cv_spatial["overall_accuracy"] <= 1 and 0 < model.cv_random["overall_accuracy"] <= 1
    # and the landscape was mapped, tile by tile, into a COG that mostly agrees with the synthetic truth
    run = MapRun.objects.get(name=DEMO_MAP)
    assert run.status == JobStatus.SUCCEEDED, run.message
    assert run.tiles.filter(done=True).count() == run.tiles_total > 1
    classes = Path(settings.MEDIA_ROOT) / run.classes_cog
    assert (Path(settings.MEDIA_ROOT) / run.preview_png).is_file()
    agreement = map_agreement_with_truth(classes_path=str(classes), truth=RasterLayer.objects.get(name="demo-habitat"))
    assert agreement["pixels"] > 500_000
    assert agreement["agreement"] > 0.5, agreement
    assert f"agreement with the SYNTHETIC true map {agreement['agreement']:.0%}" in text
    # and a validation sample stratified by the map's classes was visited, kept out of the training pool,
    # and gives a design-based overall accuracy close to the agreement with the true map
    validation = SamplingPlan.objects.get(name=f"Demo validation sample {DEMO_YEAR}")
    assert "validation" in validation.parameters
    assessment = AccuracyAssessment.objects.get(map_run=run, sampling_plan=validation)
    assert assessment.n_used >= 0.9 * assessment.n_points >= 200
    overall = assessment.report["overall_accuracy"]
    assert abs(overall["estimate"] - agreement["agreement"]) < 0.08, (overall, agreement)
    assert overall["ci_low"] < overall["estimate"] < overall["ci_high"]
    visits = TrainingSample.objects.filter(releve__notes=DEMO_VALIDATION_NOTES)
    assert visits.count() > 0 and set(visits.values_list("reason", flat=True)) == {"validation_sample"}
    assert "Accuracy of" in text
    # when the demo is run again, nothing is added
    counts = (Releve.objects.count(), TrainingSet.objects.count(), TrainedModel.objects.count(), MapRun.objects.count(),
              AccuracyAssessment.objects.count())  # fmt: skip
    call_command("demo_setup", data_dir=str(shared_data), stdout=io.StringIO(), timeout=900)
    assert Campaign.objects.filter(slug="occitanie-2026").count() == 1
    assert (Releve.objects.count(), TrainingSet.objects.count(), TrainedModel.objects.count(),
            MapRun.objects.count(), AccuracyAssessment.objects.count()) == counts  # fmt: skip
