import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from django.conf import settings
from django.contrib.gis.geos import Polygon

from classification.models import JobStatus, MapRun
from classification.services.mapping import (
    MappingServiceError,
    map_run_finish,
    map_run_progress,
    map_run_start,
    map_tile_predict,
)
from classification.services.training import trained_model_fit, trained_model_train, training_set_freeze
from tests.processes import ROOT, database_url, service_env

from .test_training_services import make_scene


def trained(tmp_path, **kwargs):
    grid, feature_set, legend, table = make_scene(tmp_path, **kwargs)
    ts = training_set_freeze(
        actor=None, name=f"ts-{tmp_path.name[-10:]}", feature_set=feature_set, legend=legend, columns=table
    )
    model = trained_model_train(
        actor=None, training_set=ts, params={"n_estimators": 15}, n_folds=3, block_size_m=1000.0
    )
    return grid, trained_model_fit(model_id=model.pk)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.mark.django_db
def test_an_interrupted_run_resumes_only_the_missing_tiles(tmp_path, media, django_capture_on_commit_callbacks):
    _grid, model = trained(tmp_path)
    # given a run over the whole landscape in 256 px tiles (3 × 2), queued but not dispatched
    with django_capture_on_commit_callbacks(execute=False):
        run = map_run_start(actor=None, model=model, name="demo", tile_size=256, min_mapping_unit_px=10)
    assert run.tiles_total == 6
    # when a worker did half of the tiles and then died
    tiles = list(run.tiles.order_by("row", "col"))
    for tile in tiles[:3]:
        map_tile_predict(tile_id=tile.pk, worker="w1")
    done_file = Path(media) / run.output_dir / "tiles" / "classes" / "r00000_c00000.tif"
    mtime = done_file.stat().st_mtime_ns
    run = map_run_finish(run_id=run.pk)
    # then the run is failed and resumable, with its progress
    assert (run.status, run.error_code) == (JobStatus.FAILED, "tiles_missing")
    assert map_run_progress(run)["done"] == 3
    # when resumed (tasks run here synchronously: the chord is replaced by direct calls)
    for tile in run.tiles.filter(done=False):
        map_tile_predict(tile_id=tile.pk, worker="w2")
    run = map_run_finish(run_id=run.pk)
    # then only the missing tiles were predicted, and the outputs exist
    assert run.status == JobStatus.SUCCEEDED
    assert done_file.stat().st_mtime_ns == mtime
    assert sorted(run.tiles.values_list("worker", flat=True)) == ["w1", "w1", "w1", "w2", "w2", "w2"]
    with rasterio.open(Path(media) / run.classes_cog) as ds:
        assert (ds.width, ds.height) == (600, 400)
        assert ds.overviews(1) == [2]
        classes = ds.read(1)
    assert (Path(media) / run.preview_png).stat().st_size > 100
    assert run.cpu_seconds > 0 and run.energy_kwh > 0 and run.peak_rss_bytes > 0
    assert map_run_progress(run)["fraction"] == 1.0
    # the map agrees with the synthetic truth and keeps the nodata hole
    cols = np.arange(600)
    truth = np.broadcast_to(np.where(cols < 200, 1, np.where(cols < 400, 2, 3)), (400, 600))  # as in synthetic.py
    valid = classes != 0
    assert np.all(classes[100:140, 200:260] == 0)
    assert np.mean(classes[valid] == truth[valid]) > 0.97


@pytest.mark.django_db
def test_map_run_refusals(tmp_path, media):
    _grid, model = trained(tmp_path)
    far = Polygon.from_bbox((0.0, 0.0, 1000.0, 1000.0))
    far.srid = 2154
    with pytest.raises(MappingServiceError) as err:
        map_run_start(actor=None, model=model, name="x", area=far)
    assert err.value.code == "empty_area"
    with pytest.raises(MappingServiceError) as err:
        map_run_start(actor=None, model=model, name="x", tile_size=300)
    assert err.value.code == "invalid_tiling"
    model.status = JobStatus.RUNNING
    with pytest.raises(MappingServiceError) as err:
        map_run_start(actor=None, model=model, name="x")
    assert err.value.code == "model_not_ready"
    assert MapRun.objects.count() == 0


@pytest.mark.django_db
def test_an_area_limits_the_tiles_and_the_map(tmp_path, media, django_capture_on_commit_callbacks):
    grid, model = trained(tmp_path)
    x0, y0 = grid.transform.c, grid.transform.f
    area = Polygon.from_bbox((x0, y0 - 2000.0, x0 + 2000.0, y0))  # the top-left 200 × 200 px
    area.srid = 2154
    with django_capture_on_commit_callbacks(execute=False):
        run = map_run_start(actor=None, model=model, name="corner", area=area, tile_size=256)
    assert run.tiles_total == 1
    map_tile_predict(tile_id=run.tiles.get().pk)
    run = map_run_finish(run_id=run.pk)
    with rasterio.open(Path(media) / run.classes_cog) as ds:
        assert (ds.width, ds.height) == (200, 200)
        assert (ds.read(1) != 0).all()


def _start_extra_worker(name: str) -> subprocess.Popen:
    from django.db import connection

    from fieldcollect.celery import app

    env = service_env(database_url=database_url(connection.settings_dict["NAME"]))
    log = open(ROOT / "var" / "log" / "test-celery-extra.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "fieldcollect", "worker", "--loglevel", "INFO", "--concurrency", "1",
         "-Q", settings.CELERY_QUEUES_USED[2], "--without-heartbeat", "--without-mingle", "--without-gossip",
         "-n", f"{name}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the extra worker exited; see var/log/test-celery-extra.log"
        if app.control.inspect(timeout=0.5, destination=[f"{name}@{os.uname().nodename}"]).ping():
            return proc
    proc.kill()
    pytest.fail("the extra worker did not answer")


@pytest.mark.celery
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_training_and_a_map_run_on_two_worker_processes(tmp_path, celery_worker):
    # given the session worker and a second worker process on the mapping queue, sharing MEDIA_ROOT
    extra = _start_extra_worker(f"extra-{os.getpid()}")
    run_dir = None
    try:
        _grid, feature_set, legend, table = make_scene(tmp_path, width=1024, height=768)
        ts = training_set_freeze(
            actor=None, name="ts-two-workers", feature_set=feature_set, legend=legend, columns=table
        )
        # when a model is trained through the training queue
        model = trained_model_train(
            actor=None, training_set=ts, params={"n_estimators": 40}, n_folds=3, block_size_m=2000.0
        )
        model = _wait(lambda: type(model).objects.get(pk=model.pk), lambda m: m.status in ("succeeded", "failed"))
        assert model.status == JobStatus.SUCCEEDED, model.message
        # and mapped in 256 px tiles (4 × 3 = 12 tile tasks in a chord)
        run = map_run_start(actor=None, model=model, name="two workers", tile_size=256, min_mapping_unit_px=8)
        run_dir = Path(settings.MEDIA_ROOT) / run.output_dir
        run = _wait(lambda: MapRun.objects.get(pk=run.pk), lambda r: r.status in ("succeeded", "failed"))
        # then every tile is done, by both workers, and the outputs are there
        assert run.status == JobStatus.SUCCEEDED, run.message
        workers = set(run.tiles.values_list("worker", flat=True))
        assert len(workers) == 2, workers
        assert run.tiles.filter(done=True).count() == 12
        with rasterio.open(Path(settings.MEDIA_ROOT) / run.classes_cog) as ds:
            assert (ds.width, ds.height) == (1024, 768)
        assert run.cpu_seconds > 0
    finally:
        extra.terminate()
        extra.wait(timeout=30)
        if run_dir is not None:
            shutil.rmtree(run_dir, ignore_errors=True)


def _wait(load, done, timeout=240.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        obj = load()
        if done(obj):
            return obj
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {obj}")


@pytest.mark.django_db
def test_admin_pages_show_metrics_confusion_matrix_and_preview(
    tmp_path, media, admin_client, django_capture_on_commit_callbacks
):
    _grid, model = trained(tmp_path)
    with django_capture_on_commit_callbacks(execute=False):
        run = map_run_start(actor=None, model=model, name="admin", tile_size=256)
    for tile in run.tiles.all():
        map_tile_predict(tile_id=tile.pk)
    map_run_finish(run_id=run.pk)
    # when a modeller opens the model and the run in admin
    page = admin_client.get(f"/admin/classification/trainedmodel/{model.pk}/change/").content.decode()
    # then random and spatial CV are side by side with the cost, and the confusion matrix is an image
    assert "random CV" in page and "spatial CV" in page and "kWh" in page
    rnd, spa = model.cv_random["overall_accuracy"], model.cv_spatial["overall_accuracy"]
    assert f"<td>{rnd:.3f}</td><td>{spa:.3f}</td>" in page
    assert 'alt="confusion matrix"' in page and "data:image/png;base64," in page
    assert "producer&#x27;s" in page or "producer's" in page
    run_page = admin_client.get(f"/admin/classification/maprun/{run.pk}/change/").content.decode()
    assert "6/6 tiles (100 %)" in run_page
    assert 'alt="map preview"' in run_page
    assert admin_client.get("/admin/classification/trainingset/").status_code == 200
