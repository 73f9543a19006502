"""Photo uploads: resumable chunks, verification, content-addressed storage, EXIF, thumbnails, bad input."""

import contextlib
import datetime as dt
import io
import json
import random
import socket
import time
from typing import Any
from urllib.parse import urlparse

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from fieldcollect.client import HttpTransport, PhotoFile, TabletClient, jpeg_with_exif
from fieldcollect.models import Photo, PhotoBlob, Role
from fieldcollect.services.accounts import device_token_issue, device_token_revoke
from fieldcollect.services.photos import photo_blob_make_thumbnail
from tests.conftest import token_client
from tests.factories import new_uuid
from tests.sync_helpers import World, make_world, push, releve, snapshot

PARIS = dt.timezone(dt.timedelta(hours=2))
TAKEN_AT = dt.datetime(2026, 5, 14, 10, 40, tzinfo=PARIS)


def photo(seed: int = 0, **options: Any) -> PhotoFile:
    data = jpeg_with_exif(rng=random.Random(seed), lon=3.8767, lat=43.6108, taken_at=TAKEN_AT, bearing_deg=135.0,
                          **options)  # fmt: skip
    return PhotoFile(uuid=new_uuid(), data=data, bearing_deg=135.0)


def png_bytes(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (width, height)).save(out, format="PNG")
    return out.getvalue()


def declare(client: Any, world: World, *photos: PhotoFile, manifest: list[dict] | None = None) -> dict[str, Any]:
    payload = releve(world, photos=manifest if manifest is not None else [p.manifest() for p in photos])
    body = push(client, [payload])
    assert body.status_code == 200, body.content
    result: dict[str, Any] = body.json()["results"][0]
    result["payload"] = payload
    return result


def put(client: Any, photo_uuid: str, data: bytes, content_range: str | None = None, **meta: Any) -> Any:
    if content_range is not None:
        meta["HTTP_CONTENT_RANGE"] = content_range
    return client.put(f"/api/v1/photos/{photo_uuid}/", data=data, content_type="application/octet-stream", **meta)


def stored_state() -> str:
    """Everything stored about relevés and photos, to check that a refused upload changed nothing."""
    photos = list(Photo.objects.order_by("uuid").values_list("uuid", "state", "received_bytes", "blob_id", "sha256"))
    blobs = list(PhotoBlob.objects.order_by("sha256").values_list("sha256", "file", "size"))
    return json.dumps([snapshot(), photos, blobs], default=str)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path, request) -> None:
    if "celery_worker" not in request.fixturenames:  # the worker process reads the default MEDIA_ROOT
        settings.MEDIA_ROOT = tmp_path / "media"
        settings.PHOTO_UPLOAD_DIR = tmp_path / "uploads"


@pytest.fixture
def world(botanist, other_botanist) -> World:
    return make_world((botanist, Role.BOTANIST), (other_botanist, Role.BOTANIST))


@pytest.mark.django_db
def test_whole_upload_completes_reads_exif_and_empties_missing_photos(world, botanist_client):
    # given a relevé declaring a photo the server does not have yet
    picture = photo()
    result = declare(botanist_client, world, picture)
    assert result["missing_photos"] == [picture.uuid]
    # when the tablet sends the whole photo in one request
    answer = put(botanist_client, picture.uuid, picture.data)
    # then it is complete, verified and stored under its content address
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"uuid": picture.uuid, "state": "complete", "size": len(picture.data),
                             "received_bytes": len(picture.data)}  # fmt: skip
    stored = Photo.objects.select_related("blob").get(uuid=picture.uuid)
    assert stored.blob is not None
    assert stored.blob.file.name == f"photos/{picture.sha256[:2]}/{picture.sha256[2:4]}/{picture.sha256}.jpg"
    assert default_storage.open(stored.blob.file.name).read() == picture.data
    assert (stored.blob.width, stored.blob.height) == (640, 480)
    # and its EXIF time, position (Lambert-93) and bearing are on the photo
    assert stored.exif_taken_at == TAKEN_AT
    assert stored.exif_bearing_deg == 135.0
    assert stored.exif_location is not None
    assert stored.exif_location.srid == 2154
    lonlat = stored.exif_location.transform(4326, clone=True)
    assert (round(lonlat.x, 4), round(lonlat.y, 4)) == (3.8767, 43.6108)
    # and pushing the relevé again lists no missing photo
    replay = push(botanist_client, [result["payload"]]).json()
    assert replay["results"][0]["result"] == "unchanged"
    assert replay["results"][0]["missing_photos"] == []


@pytest.mark.django_db
def test_chunked_upload_resumes_and_a_retried_chunk_is_harmless(world, botanist_client):
    # given a declared photo of a few hundred kilobytes
    picture = photo(width=1600, height=1200, quality=95)
    declare(botanist_client, world, picture)
    size = len(picture.data)
    half = size // 2
    # when the first half arrives, then is sent again (the tablet missed the answer)
    first = put(botanist_client, picture.uuid, picture.data[:half], f"bytes 0-{half - 1}/{size}")
    again = put(botanist_client, picture.uuid, picture.data[:half], f"bytes 0-{half - 1}/{size}")
    # then the server has half of it, and says so on HEAD and GET
    assert first.json() == again.json() == {"uuid": picture.uuid, "state": "partial", "size": size,
                                            "received_bytes": half}  # fmt: skip
    head = botanist_client.head(f"/api/v1/photos/{picture.uuid}/")
    assert head.status_code == 200
    assert (head["Upload-Offset"], head["Upload-Length"], head["Range"]) == (
        str(half),
        str(size),
        f"bytes=0-{half - 1}",
    )
    assert botanist_client.get(f"/api/v1/photos/{picture.uuid}/").json()["received_bytes"] == half
    assert Photo.objects.get(uuid=picture.uuid).state == "partial"
    # and the rest completes it
    last = put(botanist_client, picture.uuid, picture.data[half:], f"bytes {half}-{size - 1}/{size}")
    assert last.json()["state"] == "complete"
    # and a late retry of any chunk changes nothing
    late = put(botanist_client, picture.uuid, picture.data[:half], f"bytes 0-{half - 1}/{size}")
    assert late.status_code == 200
    assert late.json()["state"] == "complete"
    assert default_storage.open(Photo.objects.get(uuid=picture.uuid).blob.file.name).read() == picture.data


@pytest.mark.django_db
def test_same_bytes_under_two_uuids_are_stored_once_and_linked_twice(world, botanist_client):
    # given two photos with the same bytes, on two relevés
    picture = photo(seed=3)
    twin = PhotoFile(uuid=new_uuid(), data=picture.data, bearing_deg=90.0)
    declare(botanist_client, world, picture)
    declare(botanist_client, world, twin)
    # when both are uploaded
    assert put(botanist_client, picture.uuid, picture.data).json()["state"] == "complete"
    assert put(botanist_client, twin.uuid, twin.data).json()["state"] == "complete"
    # then one blob (one file) holds the bytes of both photos
    assert PhotoBlob.objects.count() == 1
    blob = PhotoBlob.objects.get()
    assert sorted(str(u) for u in blob.photos.values_list("uuid", flat=True)) == sorted([picture.uuid, twin.uuid])
    _, files = default_storage.listdir(f"photos/{picture.sha256[:2]}/{picture.sha256[2:4]}")
    assert files == [f"{picture.sha256}.jpg"]


@pytest.mark.django_db
def test_hash_mismatch_discards_the_upload(world, botanist_client):
    # given a photo declared with the hash of other bytes
    picture = photo(seed=1)
    wrong = photo(seed=2)
    declare(botanist_client, world, manifest=[{**picture.manifest(), "sha256": wrong.sha256}])
    before = stored_state()
    # when its bytes arrive (in two chunks)
    size = len(picture.data)
    put(botanist_client, picture.uuid, picture.data[:100], f"bytes 0-99/{size}")
    answer = put(botanist_client, picture.uuid, picture.data[100:], f"bytes 100-{size - 1}/{size}")
    # then the upload is refused and discarded: the photo is declared again with nothing received
    assert answer.status_code == 400
    assert answer.json()["code"] == "sha256_mismatch"
    assert answer.json()["errors"] == {"received_bytes": ["0"]}
    assert botanist_client.get(f"/api/v1/photos/{picture.uuid}/").json()["received_bytes"] == 0
    assert stored_state() == before
    assert PhotoBlob.objects.count() == 0


def _manifest_for(data: bytes, content_type: str = "image/jpeg") -> tuple[PhotoFile, list[dict]]:
    item = PhotoFile(uuid=new_uuid(), data=data, content_type=content_type)
    return item, [item.manifest()]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("make", "content_type", "status", "code"),
    [
        (lambda: b"%PDF-1.4 definitely not an image" * 10, "image/jpeg", 415, "not_an_image"),
        (lambda: png_bytes(64, 64), "image/jpeg", 415, "content_type_mismatch"),
        (lambda: photo(seed=4).data[:-2000], "image/jpeg", 415, "corrupt_image"),
        # 5,000 × 5,000 pixels of one grey compress to 25 kB: a decompression bomb under a 1 Mpx limit
        (lambda: png_bytes(5_000, 5_000), "image/png", 413, "too_many_pixels"),
    ],
    ids=["not-an-image", "png-declared-as-jpeg", "truncated-jpeg", "decompression-bomb"],
)
def test_bad_images_are_refused_and_discarded(world, botanist_client, settings, make, content_type, status, code):
    # given a declared photo whose bytes are not an acceptable image
    settings.PHOTO_MAX_PIXELS = 1_000_000
    picture, manifest = _manifest_for(make(), content_type)
    declare(botanist_client, world, manifest=manifest)
    before = stored_state()
    # when they are uploaded
    answer = put(botanist_client, picture.uuid, picture.data)
    # then the upload is refused with a stable code and nothing is kept
    assert (answer.status_code, answer.json()["code"]) == (status, code), answer.content
    assert stored_state() == before
    assert PhotoBlob.objects.count() == 0
    assert list((settings.PHOTO_UPLOAD_DIR).glob("*.part")) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content_range", "body_slice", "status", "code"),
    [
        ("bytes 50-149/{size}", slice(50, 150), 409, "range_overlap"),
        ("bytes 200-299/{size}", slice(200, 300), 409, "range_gap"),
        ("bytes 10-5/{size}", slice(0, 6), 416, "range_invalid"),
        ("bytes 0-99/{bigger}", slice(0, 100), 416, "size_mismatch"),
        ("bytes 100-{size}/{size}", slice(100, 300), 416, "range_invalid"),
        ("items 100-199/{size}", slice(100, 200), 416, "range_invalid"),
        ("bytes 100-199/{size}", slice(100, 150), 400, "content_length_mismatch"),
    ],
    ids=["overlap", "gap", "reversed", "wrong-total", "beyond-end", "not-bytes", "short-body"],
)
def test_bad_ranges_are_refused_and_change_nothing(world, botanist_client, content_range, body_slice, status, code):
    # given a photo of which the server has the first 100 bytes
    picture = photo(seed=5)
    declare(botanist_client, world, picture)
    size = len(picture.data)
    put(botanist_client, picture.uuid, picture.data[:100], f"bytes 0-99/{size}")
    before = stored_state()
    # when a chunk with a bad range arrives
    header = content_range.format(size=size, bigger=size + 1)
    answer = put(botanist_client, picture.uuid, picture.data[body_slice], header)
    # then it is refused with a stable code, and the 100 bytes are still there
    assert (answer.status_code, answer.json()["code"]) == (status, code), answer.content
    assert stored_state() == before
    assert botanist_client.get(f"/api/v1/photos/{picture.uuid}/").json()["received_bytes"] == 100
    # and the upload can still finish
    rest = put(botanist_client, picture.uuid, picture.data[100:], f"bytes 100-{size - 1}/{size}")
    assert rest.json()["state"] == "complete"


@pytest.mark.django_db
def test_uploads_outside_the_callers_declared_photos_are_refused(world, botanist, other_botanist, botanist_client):
    # given a photo declared on the botanist's relevé
    picture = photo(seed=7)
    declare(botanist_client, world, picture)
    before = stored_state()
    other = token_client(other_botanist, device_id="tablet-02")
    # when another botanist uploads it, or anyone uploads an undeclared photo, or with a revoked token
    foreign = put(other, picture.uuid, picture.data)
    foreign_status = other.get(f"/api/v1/photos/{picture.uuid}/")
    undeclared = put(botanist_client, new_uuid(), picture.data)
    token, key = device_token_issue(user=botanist, device_id="tablet-09")
    device_token_revoke(token=token)
    revoked_client = type(botanist_client)()
    revoked_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    revoked = put(revoked_client, picture.uuid, picture.data)
    anonymous = put(type(botanist_client)(), picture.uuid, picture.data)
    # then each is refused with its code, and nothing is stored
    assert (foreign.status_code, foreign.json()["code"]) == (403, "forbidden")
    assert (foreign_status.status_code, foreign_status.json()["code"]) == (403, "forbidden")
    assert (undeclared.status_code, undeclared.json()["code"]) == (404, "photo_not_declared")
    assert (revoked.status_code, revoked.json()["code"]) == (401, "token_invalid")
    assert anonymous.status_code == 401
    assert stored_state() == before


@pytest.mark.django_db
def test_size_limits_are_enforced(world, botanist_client, settings):
    # given a byte limit below the photo's declared size
    picture = photo(seed=8)
    declare(botanist_client, world, picture)
    before = stored_state()
    settings.PHOTO_MAX_BYTES = len(picture.data) - 1
    # when it is uploaded, or a whole-body upload has the wrong length, or no length
    too_large = put(botanist_client, picture.uuid, picture.data)
    settings.PHOTO_MAX_BYTES = 64 * 1024 * 1024
    wrong_length = put(botanist_client, picture.uuid, picture.data[:-1])
    # then each is refused with its code and nothing changed
    assert (too_large.status_code, too_large.json()["code"]) == (413, "photo_too_large")
    assert (wrong_length.status_code, wrong_length.json()["code"]) == (400, "size_mismatch")
    assert stored_state() == before


@pytest.mark.django_db
def test_push_refuses_a_photo_over_the_byte_limit(world, botanist_client, settings):
    # given a byte limit
    settings.PHOTO_MAX_BYTES = 1000
    before = snapshot()
    # when a relevé declares a larger photo
    body = push(botanist_client, [releve(world, photos=[photo(seed=9).manifest()])]).json()
    # then that relevé is invalid with a stable code, and no photo is declared
    assert body["results"][0]["result"] == "invalid"
    assert body["results"][0]["error_codes"] == {"photos.0.size": ["photo_too_large"]}
    assert Photo.objects.count() == 0
    assert json.loads(snapshot())[0] == json.loads(before)[0]


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_thumbnail_is_made_by_the_worker_once(celery_worker, world, botanist_client):
    # given a photo (unique bytes) uploaded to the default storage the worker also uses
    picture = photo(seed=int(time.time()), width=1200, height=900)
    declare(botanist_client, world, picture)
    assert put(botanist_client, picture.uuid, picture.data).json()["state"] == "complete"
    blob = PhotoBlob.objects.get(sha256=picture.sha256)
    try:
        # when the worker runs the task scheduled on commit
        deadline = time.monotonic() + 30
        while not blob.thumbnail and time.monotonic() < deadline:
            time.sleep(0.2)
            blob.refresh_from_db()
        # then the blob has a JPEG thumbnail of at most 512 px, with the photo's aspect ratio
        assert blob.thumbnail.name == f"thumbnails/{picture.sha256[:2]}/{picture.sha256}.jpg"
        with default_storage.open(blob.thumbnail.name) as thumb, Image.open(thumb) as image:
            assert (image.format, image.size) == ("JPEG", (512, 384))
        # and running it again changes nothing
        assert photo_blob_make_thumbnail(blob=blob) == blob.thumbnail.name
    finally:
        for name in (blob.file.name, blob.thumbnail.name):
            if name:
                default_storage.delete(name)


def _raw_truncated_put(url: str, key: str, photo_uuid: str, data: bytes, start: int, announced: int, size: int) -> None:
    """Send a chunk announcing ``announced`` bytes but close the connection after ``len(data)``."""
    parts = urlparse(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        head = (
            f"PUT /api/v1/photos/{photo_uuid}/ HTTP/1.1\r\nHost: {parts.hostname}\r\nAuthorization: Token {key}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {announced}\r\n"
            f"Content-Range: bytes {start}-{start + announced - 1}/{size}\r\n\r\n"
        )
        sock.sendall(head.encode() + data)
        sock.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            sock.recv(4096)


@pytest.mark.django_db(transaction=True)
def test_resumable_upload_against_a_live_server(live_server, world, botanist):
    # given a tablet that pushed a relevé with a 1600 × 1200 photo, through the reference client
    _, key = device_token_issue(user=botanist, device_id="tablet-live")
    tablet = TabletClient(transport=HttpTransport(live_server.url), device_id="tablet-live", token=key)
    picture = photo(seed=11, width=1600, height=1200, quality=95)
    payload = releve(world, photos=[picture.manifest()])
    results = tablet.push([payload], photos=[picture])
    assert results[0]["missing_photos"] == [picture.uuid]
    size = len(picture.data)
    # when the upload is cut after two 64 KiB chunks, then a chunk dies on the wire half-way
    status = tablet.upload_photo(picture, chunk_size=65536, stop_after=2)
    assert status["received_bytes"] == 131072
    _raw_truncated_put(live_server.url, key, picture.uuid, picture.data[131072:141072], 131072, 65536, size)
    deadline = time.monotonic() + 10
    while tablet.photo_status(picture.uuid)["received_bytes"] == 131072 and time.monotonic() < deadline:
        time.sleep(0.1)
    # then the server kept the bytes that arrived
    assert tablet.photo_status(picture.uuid)["received_bytes"] == 141072
    # and the client resumes from there to completion
    final = tablet.upload_photo(picture, chunk_size=65536)
    assert final == {"uuid": picture.uuid, "state": "complete", "size": size, "received_bytes": size}
    assert Photo.objects.get(uuid=picture.uuid).blob.sha256 == picture.sha256
    # and the push of the same relevé now misses nothing
    replay = tablet.push([payload])
    assert (replay[0]["result"], replay[0]["missing_photos"]) == ("unchanged", [])
