"""QC runs again when a photo upload completes (a real Celery worker): the photo rules see the bytes."""

import datetime as dt
import random
import time

import pytest
from django.core.files.storage import default_storage

from fieldcollect.client import PhotoFile, jpeg_with_exif
from fieldcollect.models import ChangeLog, PhotoBlob, QCResult, Releve, ReleveStatus, ReviewEvent, Role
from fieldcollect.services.quality import releve_run_qc
from fieldcollect.tasks import releve_run_qc_task
from tests.conftest import token_client
from tests.factories import new_uuid
from tests.sync_helpers import make_world, push, releve

from .test_qc_sync import pull_until

PARIS = dt.timezone(dt.timedelta(hours=2))
OBSERVED = dt.datetime(2026, 6, 10, 10, 0, tzinfo=PARIS)


def wait_for(check, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("the worker did not get there in time")


def rules_of(releve_obj):
    return {r.rule: r for r in QCResult.objects.filter(releve=releve_obj)}


@pytest.mark.celery
@pytest.mark.qc_on_push
@pytest.mark.django_db(transaction=True)
def test_photo_upload_reruns_qc_on_the_releve_and_on_those_sharing_the_photo(celery_worker, botanist):
    # given a campaign running now, and a photo whose EXIF says it was taken 27 days before the relevé
    world = make_world((botanist, Role.BOTANIST))
    world.campaign.starts_on, world.campaign.ends_on = dt.date(2026, 4, 1), dt.date(2026, 10, 31)
    world.campaign.save()
    data = jpeg_with_exif(rng=random.Random(time.time_ns()), lon=3.8767, lat=43.6108,
                          taken_at=dt.datetime(2026, 5, 14, 10, 40, tzinfo=PARIS))  # fmt: skip
    picture = PhotoFile(uuid=new_uuid(), data=data)
    client = token_client(botanist)
    first = releve(world, observed_at=OBSERVED.isoformat(), photos=[picture.manifest()])
    assert push(client, [first]).status_code == 200
    a = Releve.objects.get(uuid=first["uuid"])
    wait_for(lambda: Releve.objects.filter(pk=a.pk, qc_state__isnull=False).exists())
    before = rules_of(a)
    assert before["photos.present"].message == "1 of 1 photos are not uploaded yet."
    assert "photos.reused" not in before and "photos.exif_consistent" not in before
    a.refresh_from_db()
    assert a.status == ReleveStatus.QC_PASSED  # the pending upload is only an info
    # and a second relevé, 1 km east an hour later, declaring the same bytes under another photo UUID
    copy = PhotoFile(uuid=new_uuid(), data=data)
    second = releve(world, observed_at=(OBSERVED + dt.timedelta(hours=1)).isoformat(), photos=[copy.manifest()],
                    geometry={"type": "Point", "coordinates": [3.8891, 43.6108]})  # fmt: skip
    assert push(client, [second]).status_code == 200
    b = Releve.objects.get(uuid=second["uuid"])
    wait_for(lambda: "photos.reused" in rules_of(b))
    assert "photos.reused" not in rules_of(a)  # a was checked before b existed
    cursor = pull_until(botanist, first["uuid"])[0].next_cursor
    try:
        # when the first photo's bytes arrive
        answer = client.put(f"/api/v1/photos/{picture.uuid}/", data=data, content_type="application/octet-stream")
        assert answer.json()["state"] == "complete"
        # then the worker checks the relevé again: upload no longer pending, EXIF time off, photo reused
        wait_for(lambda: "photos.exif_consistent" in rules_of(a))
        after = rules_of(a)
        assert "photos.present" not in after
        assert after["photos.exif_consistent"].details["lag_s"] == -(27 * 86400 - 40 * 60)
        assert after["photos.reused"].details["others"] == [str(b.pk)]
        a.refresh_from_db()
        assert a.status == ReleveStatus.QC_FLAGGED
        assert list(ReviewEvent.objects.filter(releve=a).values_list("action", "from_status", "to_status")) == [
            ("qc", "submitted", "qc_passed"),
            ("qc", "qc_passed", "qc_flagged"),
        ]
        # and the tablet pulls the new findings
        _, changes = pull_until(botanist, first["uuid"], cursor)
        assert {"photos.exif_consistent", "photos.reused"} <= {item["rule"] for item in changes[-1]["releve"]["qc"]}
        assert changes[-1]["releve"]["status"] == "qc_flagged"
        # and checking again (a redelivered task, a retried upload) changes nothing
        logged = ChangeLog.objects.filter(releve=a).count(), ReviewEvent.objects.filter(releve=a).count()
        result = releve_run_qc_task.delay([a.pk, b.pk]).get(timeout=60)
        assert result == {"checked": 2, "findings": result["findings"], "skipped_stale": 0}
        again = client.put(f"/api/v1/photos/{picture.uuid}/", data=data, content_type="application/octet-stream")
        assert again.json()["state"] == "complete"
        releve_run_qc(releve_ids=[a.pk])
        assert (ChangeLog.objects.filter(releve=a).count(), ReviewEvent.objects.filter(releve=a).count()) == logged
        assert rules_of(a).keys() == after.keys()
    finally:
        for blob in PhotoBlob.objects.filter(sha256=picture.sha256):
            for name in (blob.file.name, blob.thumbnail.name):
                if name:
                    default_storage.delete(name)
