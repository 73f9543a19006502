"""Fault: the disk fills up during a photo upload → a clear 507, no partial file taken for a complete one,
and the upload completes once there is room again.

Real small filesystems: a tmpfs of 512 KiB mounted for the test (needs root), holding either the partial
uploads (PHOTO_UPLOAD_DIR) or the stored photos (MEDIA_ROOT).
"""

import hashlib
import io
import os
import random
import subprocess
from pathlib import Path

import pytest
import requests
from PIL import Image

from fieldcollect.models import Photo, PhotoBlob, Role
from fieldcollect.services.accounts import device_token_issue
from tests.e2e.conftest import server_env
from tests.processes import Gunicorn
from tests.sync_helpers import make_world, releve

pytestmark = [pytest.mark.e2e, pytest.mark.faults, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 512 KiB tmpfs, grown by calling the returned function."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,mode=0777", "tmpfs", str(mount)], check=True)

    def grow() -> None:
        subprocess.run(["mount", "-o", "remount,size=16m", str(mount)], check=True)

    yield mount, grow
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _noise_jpeg() -> bytes:
    rng = random.Random(7)
    image = Image.frombytes("RGB", (1000, 800), bytes(rng.randrange(256) for _ in range(1000 * 800 * 3)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return out.getvalue()


@pytest.mark.parametrize("full", ["upload dir", "media"])
def test_disk_full_on_photo_upload_is_a_507_then_resumes(botanist, tmp_path, small_disk, full):
    # given a pushed relevé declaring a ~1 MB photo, and the upload directory or the media on a 512 KiB disk
    mount, grow = small_disk
    data = _noise_jpeg()
    assert len(data) > 600 * 1024
    digest = hashlib.sha256(data).hexdigest()
    world = make_world((botanist, Role.BOTANIST))
    photo_uuid = "7d0c9f0e-5b1a-4f7e-9a43-0d4c5b6a7e81"
    item = releve(
        world, photos=[{"uuid": photo_uuid, "sha256": digest, "size": len(data), "content_type": "image/jpeg"}]
    )
    _, key = device_token_issue(user=botanist, device_id="tablet-disk")
    headers = {"Authorization": f"Token {key}"}
    uploads, media = (mount, tmp_path / "media") if full == "upload dir" else (tmp_path / "uploads", mount)
    server = Gunicorn(server_env(PHOTO_UPLOAD_DIR=str(uploads), MEDIA_ROOT=str(media)), workers=1,
                      name="gunicorn-disk").start()  # fmt: skip
    url = f"{server.url}/api/v1/photos/{photo_uuid}/"
    put_headers = {**headers, "Content-Type": "image/jpeg", "Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"}
    try:
        body = {"device_id": "tablet-disk", "app_version": "2.3.1", "releves": [item]}
        pushed = requests.post(f"{server.url}/api/v1/sync/push/", headers=headers, json=body, timeout=60)
        assert pushed.json()["results"][0]["missing_photos"] == [photo_uuid]

        # when the tablet uploads the photo and the disk fills up
        refused = requests.put(url, data=data, headers=put_headers, timeout=60)
        status = requests.get(url, headers=headers, timeout=60).json()

        # then a clear 507 with a stable code; the photo is not complete and no stored file stands for it
        assert refused.status_code == 507, refused.text
        assert refused.json()["code"] == "storage_full"
        assert Photo.objects.get(uuid=photo_uuid).state != Photo.State.COMPLETE
        assert status["state"] != "complete"
        assert not PhotoBlob.objects.filter(sha256=digest).exists()
        assert [p for p in media.rglob("*") if p.is_file()] == []

        # when there is room again and the tablet resumes from what the server says it has
        grow()
        start = status["received_bytes"]
        resumed = requests.put(url, data=data[start:], timeout=60, headers={
            **headers, "Content-Type": "image/jpeg", "Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"
        }) if start < len(data) else requests.put(url, data=data, headers=put_headers, timeout=60)  # fmt: skip
    finally:
        server.stop()

    # then the upload completes with the declared bytes
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["state"] == "complete"
    blob = PhotoBlob.objects.get(sha256=digest)
    assert hashlib.sha256((media / blob.file.name).read_bytes()).hexdigest() == digest
