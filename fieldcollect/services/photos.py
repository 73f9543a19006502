"""Photo uploads: resumable chunks streamed to disk, verified, stored once per content, thumbnailed later.

A photo is declared in a relevé's manifest (uuid, sha256, size, content type) by a push, then its bytes
arrive with ``PUT /api/v1/photos/{uuid}/`` in one or more ``Content-Range`` chunks. Partial bytes live in
``PHOTO_UPLOAD_DIR/<uuid>-<sha256>.part`` (a re-declared photo with another hash starts afresh); the size
of that file is the number of bytes received. No database transaction is held while bytes stream in: a
long transaction would hold back the pull horizon of every tablet. Concurrent chunks of one photo are
serialised by a session-level advisory lock instead.
"""

import datetime as dt
import errno
import hashlib
import io
import os
import re
import warnings
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from uuid import UUID

from django.conf import settings
from django.contrib.gis.geos import Point
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from fieldcollect.models import Photo, PhotoBlob, User
from fieldcollect.models.campaign import LAMBERT93
from fieldcollect.selectors import releve_editable_by
from fieldcollect.services.releves import releve_record_change

READ_CHUNK = 1024 * 1024
THUMBNAIL_SIZE = (512, 512)
PILLOW_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


class PhotoError(Exception):
    """A refused upload: ``code`` is stable, ``status`` the HTTP status the API answers with."""

    def __init__(self, code: str, message: str, status: int = 400, received: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.received = received


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive, as in Content-Range
    total: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


@dataclass(frozen=True)
class UploadStatus:
    uuid: str
    state: str
    size: int
    received_bytes: int

    def as_dict(self) -> dict[str, Any]:
        return {"uuid": self.uuid, "state": self.state, "size": self.size, "received_bytes": self.received_bytes}


def content_range_parse(header: str | None, *, content_length: int | None) -> ByteRange | None:
    """``bytes start-end/total`` → ByteRange; None when absent (the body is then the whole photo)."""
    if header is None:
        return None
    match = CONTENT_RANGE.match(header.strip())
    if match is None:
        raise PhotoError("range_invalid", "Content-Range must be 'bytes start-end/total'.", status=416)
    start, end, total = (int(group) for group in match.groups())
    if start > end or end >= total:
        raise PhotoError("range_invalid", f"Content-Range {header!r} is not inside the photo.", status=416)
    byte_range = ByteRange(start, end, total)
    if content_length is not None and content_length != byte_range.length:
        raise PhotoError(
            "content_length_mismatch",
            f"Content-Length {content_length} differs from the range length {byte_range.length}.",
        )
    return byte_range


# A full disk (or quota): the upload is refused with 507 and can be resumed once there is room again.
NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _storage_full(received: int) -> "PhotoError":
    return PhotoError(
        "storage_full",
        f"The server has no room for this photo right now; it keeps the first {received} bytes. Retry later.",
        507,
        received=received,
    )


def photo_part_path(photo: Photo) -> Path:
    return Path(settings.PHOTO_UPLOAD_DIR) / f"{photo.uuid}-{photo.sha256}.part"


def photo_get_for_upload(*, user: User, uuid: UUID) -> Photo:
    """The declared photo ``uuid``, if ``user`` may upload it (own or co-observed relevé)."""
    photo = Photo.objects.select_related("releve").filter(uuid=uuid).first()
    if photo is None:
        raise PhotoError("photo_not_declared", "No photo with this UUID was declared in a pushed relevé.", 404)
    if not releve_editable_by(user).filter(pk=photo.releve_id).exists():
        raise PhotoError("forbidden", "This photo belongs to another observer's relevé.", 403)
    return photo


def photo_upload_status(*, photo: Photo) -> UploadStatus:
    """How many bytes of ``photo`` the server has (the client resumes from there)."""
    if photo.state == Photo.State.COMPLETE:
        received = photo.size
    else:
        part = photo_part_path(photo)
        received = part.stat().st_size if part.exists() else 0
    return UploadStatus(str(photo.uuid), photo.state, photo.size, received)


def _lock_key(uuid: UUID) -> int:
    return int.from_bytes(hashlib.sha256(b"photo-upload:" + uuid.bytes).digest()[:8], "big", signed=True)


@contextmanager
def _session_lock(key: int) -> Iterator[bool]:
    """A session-level advisory lock (no transaction stays open while bytes stream in)."""
    with connection.cursor() as db:
        db.execute("SELECT pg_try_advisory_lock(%s)", [key])
        acquired = bool(db.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as db:
                db.execute("SELECT pg_advisory_unlock(%s)", [key])


def _copy(stream: IO[bytes] | Any, out: IO[bytes], length: int) -> int:
    """Copy up to ``length`` bytes in constant memory; the count copied (short when the client hung up)."""
    copied = 0
    while copied < length:
        try:
            block = stream.read(min(READ_CHUNK, length - copied))
        except OSError:  # the connection broke mid-chunk: keep what arrived
            break
        if not block:
            break
        out.write(block)
        copied += len(block)
    return copied


def _drain(stream: IO[bytes] | Any, length: int) -> None:
    """Read and drop a retried chunk's body, so that the connection can be reused."""
    remaining = length
    while remaining > 0:
        block = stream.read(min(READ_CHUNK, remaining))
        if not block:
            return
        remaining -= len(block)


def photo_receive_chunk(
    *, user: User, uuid: UUID, stream: IO[bytes] | Any, content_range: str | None, content_length: int | None
) -> UploadStatus:
    """Append one chunk of a declared photo; complete it (verify, store, link) when the last byte arrives.

    A chunk entirely received before is drained and ignored (retries are harmless); a chunk that starts
    beyond the received bytes (``range_gap``) or overlaps them partially (``range_overlap``) is refused.
    """
    photo = photo_get_for_upload(user=user, uuid=uuid)
    if photo.size > settings.PHOTO_MAX_BYTES:
        raise PhotoError(
            "photo_too_large", f"The photo is {photo.size} bytes; the limit is {settings.PHOTO_MAX_BYTES}.", 413
        )
    byte_range = content_range_parse(content_range, content_length=content_length)
    if byte_range is None:
        if content_length is None:
            raise PhotoError("length_required", "Send Content-Length (or Content-Range).", 411)
        if content_length != photo.size:
            raise PhotoError("size_mismatch", f"The photo was declared with {photo.size} bytes, not {content_length}.")
        byte_range = ByteRange(0, photo.size - 1, photo.size)
    if byte_range.total != photo.size:
        raise PhotoError(
            "size_mismatch", f"The photo was declared with {photo.size} bytes, not {byte_range.total}.", 416
        )
    with _session_lock(_lock_key(photo.uuid)) as acquired:
        if not acquired:
            raise PhotoError("upload_in_progress", "Another request is uploading this photo; retry later.", 409)
        photo.refresh_from_db()
        status = photo_upload_status(photo=photo)
        if photo.state == Photo.State.COMPLETE or byte_range.end < status.received_bytes:
            _drain(stream, byte_range.length)
            if photo.state != Photo.State.COMPLETE and status.received_bytes == photo.size:
                # Every byte arrived but completing failed (storage full, lost connection): retry it.
                return _complete(photo, photo_part_path(photo))
            return status
        if byte_range.start > status.received_bytes:
            raise PhotoError(
                "range_gap",
                f"The server has {status.received_bytes} bytes; send the range starting there.",
                409,
                received=status.received_bytes,
            )
        if byte_range.start < status.received_bytes:
            raise PhotoError(
                "range_overlap",
                f"The server has {status.received_bytes} bytes; this range overlaps them.",
                409,
                received=status.received_bytes,
            )
        part = photo_part_path(photo)
        part.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(part, "ab") as out:
                copied = _copy(stream, out, byte_range.length)
        except OSError as exc:
            if exc.errno not in NO_SPACE:
                raise
            # Drop the torn end of this chunk: the part file holds exactly the bytes received before it.
            os.truncate(part, byte_range.start)
            Photo.objects.filter(pk=photo.pk).update(
                received_bytes=byte_range.start,
                state=Photo.State.PARTIAL if byte_range.start else Photo.State.DECLARED,
            )
            raise _storage_full(byte_range.start) from exc
        received = byte_range.start + copied
        Photo.objects.filter(pk=photo.pk).update(
            received_bytes=received, state=Photo.State.PARTIAL if received else Photo.State.DECLARED
        )
        if copied < byte_range.length:
            raise PhotoError(
                "truncated_chunk",
                f"The chunk ended after {copied} of {byte_range.length} bytes; resume from byte {received}.",
                received=received,
            )
        if received < photo.size:
            return UploadStatus(str(photo.uuid), Photo.State.PARTIAL, photo.size, received)
        return _complete(photo, part)


def _discard(photo: Photo, part: Path, error: PhotoError) -> PhotoError:
    part.unlink(missing_ok=True)
    Photo.objects.filter(pk=photo.pk).exclude(state=Photo.State.COMPLETE).update(
        received_bytes=0, state=Photo.State.DECLARED
    )
    error.received = 0
    return error


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while block := source.read(READ_CHUNK):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ImageFacts:
    width: int
    height: int
    taken_at: dt.datetime | None
    location: Point | None
    bearing_deg: float | None


def _open_image(path: Path | IO[bytes], max_pixels: int) -> Image.Image:
    """Open an image refusing more than ``max_pixels`` pixels (decompression bombs) before decoding any."""
    Image.MAX_IMAGE_PIXELS = max_pixels
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(path)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise PhotoError("too_many_pixels", f"The image has more than {max_pixels} pixels.", 413) from exc
    if image.width * image.height > max_pixels:
        image.close()
        raise PhotoError("too_many_pixels", f"The image has more than {max_pixels} pixels.", 413)
    return image


def _rational(value: Any) -> float:
    return float(value[0]) / float(value[1]) if isinstance(value, tuple) else float(value)


def _degrees(dms: Any, ref: Any) -> float:
    degrees = _rational(dms[0]) + _rational(dms[1]) / 60 + _rational(dms[2]) / 3600
    return -degrees if str(ref).upper() in ("S", "W") else degrees


def exif_facts(image: Image.Image) -> tuple[dt.datetime | None, Point | None, float | None]:
    """EXIF time taken (with its offset, else the server's time zone), GPS position (EPSG:2154) and bearing."""
    exif = image.getexif()
    taken_at = location = bearing = None
    details = exif.get_ifd(ExifTags.IFD.Exif)
    raw_time = details.get(ExifTags.Base.DateTimeOriginal) or exif.get(ExifTags.Base.DateTime)
    if raw_time:
        try:
            naive = dt.datetime.strptime(str(raw_time).strip("\x00 "), "%Y:%m:%d %H:%M:%S")  # noqa: DTZ007 - zone below
            offset = details.get(ExifTags.Base.OffsetTimeOriginal)
            if offset:
                sign = -1 if str(offset).startswith("-") else 1
                hours, minutes = str(offset).lstrip("+-").split(":")
                tz: dt.tzinfo = dt.timezone(sign * dt.timedelta(hours=int(hours), minutes=int(minutes)))
            else:
                tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
            taken_at = naive.replace(tzinfo=tz)
        except (ValueError, TypeError):
            taken_at = None
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    try:
        if ExifTags.GPS.GPSLatitude in gps and ExifTags.GPS.GPSLongitude in gps:
            lat = _degrees(gps[ExifTags.GPS.GPSLatitude], gps.get(ExifTags.GPS.GPSLatitudeRef, "N"))
            lon = _degrees(gps[ExifTags.GPS.GPSLongitude], gps.get(ExifTags.GPS.GPSLongitudeRef, "E"))
            if -90 <= lat <= 90 and -180 <= lon <= 180:
                location = Point(lon, lat, srid=4326)
                location.transform(LAMBERT93)
        if ExifTags.GPS.GPSImgDirection in gps:
            bearing = _rational(gps[ExifTags.GPS.GPSImgDirection]) % 360
    except (ValueError, TypeError, ZeroDivisionError, IndexError):
        location = location if isinstance(location, Point) else None
    return taken_at, location, bearing


def image_inspect(path: Path, *, content_type: str) -> ImageFacts:
    """Check that ``path`` is an intact image of ``content_type`` within the pixel limit; read its EXIF."""
    try:
        image = _open_image(path, settings.PHOTO_MAX_PIXELS)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise PhotoError("not_an_image", "The bytes are not an image this server reads.", 415) from exc
    with image:
        if image.format != PILLOW_FORMATS[content_type]:
            raise PhotoError(
                "content_type_mismatch", f"Declared {content_type}, but the bytes are {image.format or 'unknown'}.", 415
            )
        facts = exif_facts(image)
        width, height = image.size
    # verify() needs a freshly opened image and consumes it (it checks the structure, e.g. PNG CRCs).
    try:
        with _open_image(path, settings.PHOTO_MAX_PIXELS) as again:
            again.verify()
        if content_type == "image/jpeg":
            # verify() does not read JPEG data: decode it at 1/8 scale (all of the data, 1/64 of the memory).
            # PNG's verify() already checks every chunk's CRC up to IEND.
            with _open_image(path, settings.PHOTO_MAX_PIXELS) as decoded:
                decoded.draft(decoded.mode, (max(1, width // 8), max(1, height // 8)))
                decoded.load()
    except PhotoError:
        raise
    except Exception as exc:  # Pillow raises many types for corrupt data
        raise PhotoError("corrupt_image", f"The image is damaged: {exc}", 415) from exc
    return ImageFacts(width, height, *facts)


def blob_storage_name(sha256: str, content_type: str) -> str:
    return f"photos/{sha256[:2]}/{sha256[2:4]}/{sha256}.{EXTENSIONS[content_type]}"


def _complete(photo: Photo, part: Path) -> UploadStatus:
    """Verify the received bytes; store them once per content; link the photo; schedule the thumbnail."""
    if _file_sha256(part) != photo.sha256:
        raise _discard(photo, part, PhotoError("sha256_mismatch", "The bytes do not match the declared sha256; "
                                               "the upload was discarded, send it again."))  # fmt: skip
    try:
        facts = image_inspect(part, content_type=photo.content_type)
    except PhotoError as exc:
        raise _discard(photo, part, exc) from exc
    blob = _blob_store(photo, part, facts)
    with transaction.atomic():
        # Row lock: a push re-declaring this photo must not interleave with its completion.
        locked = Photo.objects.select_for_update().get(pk=photo.pk)
        if locked.state != Photo.State.COMPLETE:
            locked.state = Photo.State.COMPLETE
            locked.blob = blob
            locked.received_bytes = locked.size
            locked.completed_at = timezone.now()
            locked.exif_taken_at = facts.taken_at
            locked.exif_location = facts.location
            locked.exif_bearing_deg = facts.bearing_deg
            locked.save()
            releve_record_change(releve=locked.releve)  # tablets pull the photo's new state
            _qc_after_upload(locked)
        if not blob.thumbnail:
            from fieldcollect.tasks import photo_blob_thumbnail_task

            blob_id = blob.pk
            # robust: a broker outage must not fail an upload that is already stored (thumbnails can wait).
            transaction.on_commit(lambda: photo_blob_thumbnail_task.delay(blob_id), robust=True)
    part.unlink(missing_ok=True)
    return UploadStatus(str(photo.uuid), Photo.State.COMPLETE, photo.size, photo.size)


def _qc_after_upload(photo: Photo) -> None:
    """Check the relevé again once the bytes (and their EXIF) are here, after the commit (Celery).

    The photo rules change their verdict now: the upload is no longer pending, and the EXIF position and
    time can be compared with the plot. A reused photo is a finding on both relevés, so the campaign's
    other relevés holding the same bytes are checked again too. QC is idempotent: a redelivered task, or
    a photo whose completion is retried, changes nothing more.
    """
    from fieldcollect.services.quality import qc_schedule

    sharing = Photo.objects.filter(
        sha256=photo.sha256, releve__campaign_id=photo.releve.campaign_id, releve__deleted_at__isnull=True
    ).values_list("releve_id", flat=True)
    qc_schedule(releve_ids=sorted({photo.releve_id, *sharing}))


def _blob_store(photo: Photo, part: Path, facts: ImageFacts) -> PhotoBlob:
    """The blob of these bytes: the existing one (same sha256), or a new file written through the storage API."""
    key = int.from_bytes(bytes.fromhex(photo.sha256)[:8], "big", signed=True)
    with connection.cursor() as db:
        # Two photos with the same bytes completing at once must not both write the file.
        db.execute("SELECT pg_advisory_lock(%s)", [key])
    try:
        blob = PhotoBlob.objects.filter(sha256=photo.sha256).first()
        if blob is not None:
            return blob
        name = blob_storage_name(photo.sha256, photo.content_type)
        if default_storage.exists(name):  # left by an attempt that failed before its row was written
            default_storage.delete(name)
        try:
            with open(part, "rb") as source:
                stored = default_storage.save(name, File(source, name=name))
        except OSError as exc:
            if exc.errno not in NO_SPACE:
                raise
            if default_storage.exists(name):  # the torn copy: never taken for the photo
                default_storage.delete(name)
            raise _storage_full(photo.size) from exc
        return PhotoBlob.objects.create(
            sha256=photo.sha256,
            size=photo.size,
            content_type=photo.content_type,
            file=stored,
            width=facts.width,
            height=facts.height,
        )
    finally:
        with connection.cursor() as db:
            db.execute("SELECT pg_advisory_unlock(%s)", [key])


def photo_blob_make_thumbnail(*, blob: PhotoBlob) -> str:
    """Write the blob's thumbnail (JPEG, at most 512 px, EXIF orientation applied) once; its storage name."""
    if blob.thumbnail:
        return str(blob.thumbnail.name)
    name = f"thumbnails/{blob.sha256[:2]}/{blob.sha256}.jpg"
    with (
        default_storage.open(str(blob.file.name), "rb") as source,
        _open_image(source, settings.PHOTO_MAX_PIXELS) as image,
    ):
        image.draft("RGB", THUMBNAIL_SIZE)  # JPEG: decode at reduced scale, in a fraction of the memory
        thumb = ImageOps.exif_transpose(image).convert("RGB")
        thumb.thumbnail(THUMBNAIL_SIZE)
        buffer = io.BytesIO()
        thumb.save(buffer, format="JPEG", quality=80)
    content = ContentFile(buffer.getvalue())
    if default_storage.exists(name):  # an earlier run wrote it but did not record it
        default_storage.delete(name)
    stored = default_storage.save(name, content)
    updated = PhotoBlob.objects.filter(pk=blob.pk, thumbnail="").update(thumbnail=stored)
    if not updated:  # another run recorded one first: keep theirs
        if stored != PhotoBlob.objects.get(pk=blob.pk).thumbnail.name:
            default_storage.delete(stored)
        return str(PhotoBlob.objects.get(pk=blob.pk).thumbnail.name)
    return stored
