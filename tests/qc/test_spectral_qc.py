"""The spectral outlier rule fed by the live training pool: peers are the validated plots of the class.

The synthetic landscape (tests/classification/mapping/synthetic.py) has three classes in vertical bands
of columns (class 1 left, 2 middle, 3 right) with distinct mean features; a plot recorded as class 2 but
standing in the class-1 band is what a wrong habitat code or a wrong position looks like from space.
"""

import pytest

from classification.models import TrainingSample
from classification.services.pool import training_pool_update
from fieldcollect.models import HabitatAssignment, QCResult, ReleveStatus
from fieldcollect.services.quality import PoolSpectralSource, qc_spectral_source, releve_run_qc
from tests.classification.test_pool import centre, make_pool
from tests.qc.db_builders import make_releve

pytestmark = pytest.mark.django_db


@pytest.fixture
def pool(tmp_path, settings, coordinator):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.TRAINING_POOL_LIVE = False  # the pool is brought up to date by hand below
    scene = make_pool(tmp_path, coordinator)
    settings.TRAINING_POOL_FEATURE_SET = scene["feature_set"].name
    settings.TRAINING_POOL_LEGEND = scene["legend"].name
    return scene


def plot(pool, botanist, *, at, value=2, status=ReleveStatus.SUBMITTED):
    releve = make_releve(observer=botanist, campaign=pool["campaign"], location=centre(*at), status=status)
    HabitatAssignment.objects.create(releve=releve, habitat=pool["units"][value], rank=0)
    return releve


def validated_peers(pool, botanist, n, first_row=0):
    """``n`` validated class-2 plots in the class-2 band, in the pool with their pixels' features."""
    peers = [plot(pool, botanist, at=(first_row + 3 * i, 300 + 7 * i), status=ReleveStatus.VALIDATED) for i in range(n)]
    training_pool_update(releve_ids=[p.pk for p in peers])
    assert TrainingSample.objects.filter(releve__in=peers, status="included", label=2).count() == n
    return peers


def spectral(releve):
    return list(QCResult.objects.filter(releve=releve, rule="spectral.outlier").values_list("severity", "details"))


def test_a_plot_unlike_the_validated_plots_of_its_class_is_flagged(pool, botanist):
    # given 12 validated class-2 plots in the pool
    validated_peers(pool, botanist, 12)
    # and two new plots recorded as class 2: one in the class-2 band, one in the class-1 band
    typical = plot(pool, botanist, at=(200, 320))
    misplaced = plot(pool, botanist, at=(200, 60))
    # when QC checks them
    releve_run_qc(releve_ids=[typical.pk, misplaced.pk])
    # then only the misplaced one is flagged, against the 12 peers, with its robust z-score
    assert spectral(typical) == []
    [(severity, details)] = spectral(misplaced)
    assert (severity, details["map_class"], details["reference_plots"]) == ("warning", "C2", 12)
    assert details["z"] > 3.5
    # and its features were read from the feature rasters (the pool only holds validated plots)
    source = qc_spectral_source(campaign=pool["campaign"])
    assert isinstance(source, PoolSpectralSource)
    b1, b2 = pool["bands"]
    assert source.features([misplaced.pk]) == {misplaced.pk: [float(b1[200, 60]), float(b2[200, 60])]}
    assert source.reads == 1


def test_too_few_peers_say_nothing_and_a_plot_is_not_its_own_peer(pool, botanist):
    # given a validated class-2 plot in the class-1 band, in the pool with 9 other validated class-2 plots
    misplaced = plot(pool, botanist, at=(200, 60), status=ReleveStatus.VALIDATED)
    training_pool_update(releve_ids=[misplaced.pk])
    validated_peers(pool, botanist, 9)
    # when QC checks it: 10 plots of the class in the pool, but only 9 besides itself
    releve_run_qc(releve_ids=[misplaced.pk])
    # then it is not judged
    assert spectral(misplaced) == []
    # and with one more validated peer it is
    validated_peers(pool, botanist, 1, first_row=100)
    releve_run_qc(releve_ids=[misplaced.pk])
    [(severity, details)] = spectral(misplaced)
    assert (severity, details["reference_plots"]) == ("warning", 10)


def test_no_pool_for_the_campaign_legend_means_no_spectral_check(pool, botanist, settings):
    # given a pool kept for another legend than the campaign's
    settings.TRAINING_POOL_LEGEND = "another legend"
    # then QC has no spectral source, and the rule stays silent
    assert qc_spectral_source(campaign=pool["campaign"]) is None
    misplaced = plot(pool, botanist, at=(200, 60))
    releve_run_qc(releve_ids=[misplaced.pk])
    assert spectral(misplaced) == []


def test_an_unreadable_feature_raster_leaves_the_other_rules_running(pool, botanist, tmp_path, caplog):
    # given enough peers in the pool, then the feature rasters gone from the disk
    validated_peers(pool, botanist, 12)
    misplaced = plot(pool, botanist, at=(200, 60))
    for band in (1, 2):
        (tmp_path / f"band{band}.tif").unlink()
    # when QC checks a new plot
    outcome = releve_run_qc(releve_ids=[misplaced.pk])
    # then the relevé is checked by the other rules, the spectral rule is silent, and the log says why
    assert outcome.checked == 1
    assert spectral(misplaced) == []
    assert QCResult.objects.filter(releve=misplaced, rule="photos.present").exists()
    assert "QC could not read the features of 1 plots" in caplog.text
