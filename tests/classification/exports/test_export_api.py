"""The export endpoints: who may export, bad input with stable codes, and a job run by a real worker."""

import time
from pathlib import Path

import pyogrio
import pytest
from django.core.files.storage import default_storage

from classification.models import ExportJob, JobStatus
from fieldcollect.models import Role
from tests.conftest import make_user, token_client
from tests.factories import CampaignFactory, CampaignMemberFactory

from .world import make_export_world

URL = "/api/v1/exports/releves/"


@pytest.fixture
def world(db):
    return make_export_world()


def test_botanists_and_outside_coordinators_are_refused(world, botanist):
    # given a botanist, and a coordinator of another campaign
    CampaignMemberFactory(campaign=world.campaign, user=botanist, role=Role.BOTANIST)
    outsider = make_user("outsider", Role.COORDINATOR)
    CampaignMemberFactory(campaign=CampaignFactory(slug="aude-2027"), user=outsider, role=Role.COORDINATOR)
    # when they ask for an export of the campaign
    answers = [
        token_client(user).post(URL, {"format": "gpkg", "campaign": "occitanie-2027"}, format="json")
        for user in (botanist, outsider)
    ]
    # then both are refused, and no job is stored
    assert [(a.status_code, a.json()["code"]) for a in answers] == [(403, "permission_denied")] * 2
    assert ExportJob.objects.count() == 0


def test_a_coordinator_must_name_their_campaign(world):
    coordinator = make_user("coord", Role.COORDINATOR)
    CampaignMemberFactory(campaign=world.campaign, user=coordinator, role=Role.COORDINATOR)
    answer = token_client(coordinator).post(URL, {"format": "csv"}, format="json")
    assert (answer.status_code, answer.json()["code"]) == (403, "permission_denied")


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"format": "shp"}, "unknown_format", "format"),
        ({"format": "gpkg", "bbox": "3,43,2"}, "bad_bbox", "bbox"),
        ({"format": "gpkg", "bbox": [3, 44, 4, 43]}, "bad_bbox", "bbox"),
        ({"format": "gpkg", "crs": 27572}, "bad_crs", "crs"),
        ({"format": "gpkg", "date_to": "2027-13-01"}, "bad_date", "date_to"),
        ({"format": "gpkg", "status": "approved"}, "unknown_status", "status"),
        ({"format": "gpkg", "date_from": "2030-01-01"}, "empty_selection", None),
    ],
)
def test_bad_requests_have_stable_codes(world, modeller, body, code, field):
    answer = token_client(modeller).post(URL, body, format="json")
    assert (answer.status_code, answer.json()["code"]) == (400, code)
    assert list(answer.json()["errors"]) == ([field] if field else [])
    assert ExportJob.objects.count() == 0


def test_other_users_jobs_are_not_found(world, modeller, coordinator):
    job = ExportJob.objects.create(uuid="6f1b3f0e-1a2b-4c3d-8e9f-0a1b2c3d4e5f", requested_by=modeller, format="csv")
    for path in (f"/api/v1/exports/{job.uuid}/", f"/api/v1/exports/{job.uuid}/download/"):
        answer = token_client(coordinator).get(path)
        assert (answer.status_code, answer.json()["code"]) == (404, "not_found")
    answer = token_client(modeller).get(f"/api/v1/exports/{job.uuid}/download/")
    assert (answer.status_code, answer.json()["code"]) == (409, "not_ready")


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_modeller_export_runs_as_a_job_and_downloads(celery_worker, modeller, tmp_path):
    # given validated relevés and a modeller
    world = make_export_world()
    client = token_client(modeller)
    # when the modeller asks for a GeoPackage in WGS 84
    answer = client.post(URL, {"format": "gpkg", "campaign": "occitanie-2027", "crs": 4326}, format="json")
    assert answer.status_code == 202
    job = answer.json()
    assert (job["state"], job["download_url"], job["parameters"]["crs"]) == ("queued", None, 4326)
    # then the worker produces it
    deadline = time.monotonic() + 60
    while job["state"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.3)
        job = client.get(job["status_url"]).json()
    assert job["state"] == "succeeded", job
    assert job["row_counts"] == {"releves": 2, "plots": 1, "habitats": 2, "species": 4, "layers": 2, "photos": 2}
    # and the download streams the file, which GDAL opens
    download = client.get(job["download_url"])
    assert download.status_code == 200
    assert download["Content-Disposition"] == 'attachment; filename="releves.gpkg"'
    path = Path(tmp_path / "download.gpkg")
    path.write_bytes(b"".join(download.streaming_content))
    assert pyogrio.read_info(path, layer="releves")["crs"] == "EPSG:4326"
    assert pyogrio.read_info(path, layer="releves")["features"] == 2
    assert job["size"] == path.stat().st_size
    stored = ExportJob.objects.get(uuid=job["id"])
    default_storage.delete(stored.file.name)
    for blob in {p.blob for p in world.main.photos.all() if p.blob}:
        default_storage.delete(blob.file.name)


def test_admin_lists_export_jobs_by_job_status(world, modeller, admin_client):
    # given a queued and a failed export
    queued = ExportJob.objects.create(uuid="0b1b3f0e-1a2b-4c3d-8e9f-0a1b2c3d4e5f", requested_by=modeller, format="csv")
    ExportJob.objects.create(
        uuid="1c1b3f0e-1a2b-4c3d-8e9f-0a1b2c3d4e5f", requested_by=modeller, format="gpkg", state=JobStatus.FAILED
    )
    # when an administrator filters the export list on "queued"
    page = admin_client.get("/admin/classification/exportjob/", {"state__exact": "queued"})
    # then only the queued job is listed, and its page is read-only
    assert page.status_code == 200
    assert str(queued.uuid) in page.content.decode() and "1c1b3f0e" not in page.content.decode()
    detail = admin_client.get(f"/admin/classification/exportjob/{queued.pk}/change/")
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()
