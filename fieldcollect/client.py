"""The reference tablet client: what a field tablet does against the sync API (SYNC_PROTOCOL.md).

It logs a device in, pushes relevés in batches, uploads the photos the server says it misses in
resumable chunks (asking the server where to resume after a broken chunk), and pulls changes with the
opaque cursor. It speaks HTTP through a small transport, so the same code runs against a live server
(``HttpTransport``, with requests) or in-process (``InProcessTransport``, Django's test client — used by
``demo_setup`` when no server runs). ``manage.py simulate_tablets``, the demo, the tests and the
benchmarks use it. ``build_releve`` makes realistic relevés from a pool of real reference rows.
"""

import datetime as dt
import hashlib
import io
import json
import random
import uuid as uuid_module
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from PIL import ExifTags, Image, ImageDraw

BRAUN_BLANQUET = ["r", "+", "1", "2m", "2a", "2b", "3", "4", "5"]
BB_WEIGHTS = [8, 14, 22, 8, 16, 12, 10, 6, 4]
ASPECTS = ["N", "NE", "E", "SE", "S", "SW", "W", "NW", "flat"]
DEFAULT_CHUNK = 1024 * 1024


@dataclass
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class Transport(Protocol):
    def request(self, method: str, path: str, *, headers: dict[str, str], body: bytes | None = None) -> HttpAnswer: ...


class HttpTransport:
    """A live server at ``base_url`` (``http://127.0.0.1:8000``)."""

    def __init__(self, base_url: str, timeout: float = 60) -> None:
        import requests

        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def request(self, method: str, path: str, *, headers: dict[str, str], body: bytes | None = None) -> HttpAnswer:
        answer = self.session.request(method, self.base_url + path, headers=headers, data=body, timeout=self.timeout)
        return HttpAnswer(answer.status_code, dict(answer.headers), answer.content)


class InProcessTransport:
    """The Django application in this process, without a server (Django's test client)."""

    def __init__(self) -> None:
        from django.test import Client

        self.client = Client(SERVER_NAME="localhost")

    def request(self, method: str, path: str, *, headers: dict[str, str], body: bytes | None = None) -> HttpAnswer:
        meta = {f"HTTP_{key.upper().replace('-', '_')}": value for key, value in headers.items()}
        content_type = meta.pop("HTTP_CONTENT_TYPE", "application/octet-stream")
        handler = getattr(self.client, method.lower())
        if method in ("GET", "HEAD"):
            answer = handler(path, **meta)
        else:
            answer = handler(path, data=body or b"", content_type=content_type, **meta)
        return HttpAnswer(answer.status_code, dict(answer.headers), answer.content)


class SyncError(Exception):
    def __init__(self, answer: HttpAnswer) -> None:
        body = answer.json() if answer.body[:1] == b"{" else {}
        self.status = answer.status
        self.code = body.get("code", "") if isinstance(body, dict) else ""
        self.body = body
        super().__init__(
            f"HTTP {answer.status} {self.code}: {body.get('message', '') if body else answer.body[:200]!r}"
        )


@dataclass
class PhotoFile:
    uuid: str
    data: bytes
    content_type: str = "image/jpeg"
    bearing_deg: float | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def manifest(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "sha256": self.sha256,
            "size": len(self.data),
            "content_type": self.content_type,
            "bearing_deg": self.bearing_deg,
        }


@dataclass
class TabletClient:
    """One tablet: a device token, its outbox of photos, and its pull cursor."""

    transport: Transport
    device_id: str
    token: str = ""
    app_version: str = "reference-client-1"
    cursor: str | None = None
    photos: dict[str, PhotoFile] = field(default_factory=dict)

    def _call(self, method: str, path: str, *, body: bytes | None = None, headers: dict[str, str] | None = None,
              ok: Sequence[int] = (200,)) -> HttpAnswer:  # fmt: skip
        sent = {"Authorization": f"Token {self.token}"} if self.token else {}
        sent.update(headers or {})
        answer = self.transport.request(method, path, headers=sent, body=body)
        if answer.status not in ok:
            raise SyncError(answer)
        return answer

    def login(self, username: str, password: str) -> None:
        body = json.dumps({"username": username, "password": password, "device_id": self.device_id}).encode()
        answer = self._call("POST", "/api/v1/auth/token/", body=body, headers={"Content-Type": "application/json"},
                            ok=(200, 201))  # fmt: skip
        self.token = answer.json()["token"]

    def push(self, releves: list[dict[str, Any]], photos: Sequence[PhotoFile] = ()) -> list[dict[str, Any]]:
        """Push one batch; keep its photos in the outbox until uploaded. The results, in order."""
        for photo in photos:
            self.photos[photo.uuid] = photo
        envelope = {"device_id": self.device_id, "app_version": self.app_version, "releves": releves}
        body = json.dumps(envelope, separators=(",", ":")).encode()
        answer = self._call("POST", "/api/v1/sync/push/", body=body, headers={"Content-Type": "application/json"})
        results: list[dict[str, Any]] = answer.json()["results"]
        return results

    def photo_status(self, photo_uuid: str) -> dict[str, Any]:
        status: dict[str, Any] = self._call("GET", f"/api/v1/photos/{photo_uuid}/").json()
        return status

    def upload_photo(self, photo: PhotoFile, *, chunk_size: int = DEFAULT_CHUNK, stop_after: int | None = None) -> dict:
        """Upload ``photo`` from where the server is (resuming), chunk by chunk; ``stop_after`` chunks simulates
        a connection lost half-way (for tests and the simulation). The last status answered."""
        status = self.photo_status(photo.uuid)
        sent = 0
        total = len(photo.data)
        while status["state"] != "complete":
            start = status["received_bytes"]
            if stop_after is not None and sent >= stop_after:
                return status
            end = min(start + chunk_size, total) - 1
            headers = {"Content-Range": f"bytes {start}-{end}/{total}", "Content-Type": "application/octet-stream"}
            answer = self._call("PUT", f"/api/v1/photos/{photo.uuid}/", body=photo.data[start : end + 1],
                                headers=headers, ok=(200, 409, 400))  # fmt: skip
            body = answer.json()
            if answer.status == 200:
                status = body
            elif body.get("code") in ("range_gap", "range_overlap", "truncated_chunk", "upload_in_progress"):
                status = self.photo_status(photo.uuid)  # resume where the server is
            else:
                raise SyncError(answer)
            sent += 1
        self.photos.pop(photo.uuid, None)
        return status

    def upload_missing(self, results: list[dict[str, Any]], **options: Any) -> int:
        """Upload every photo the push results list as missing (from the outbox); how many completed."""
        done = 0
        for result in results:
            for photo_uuid in result.get("missing_photos", []):
                photo = self.photos.get(photo_uuid)
                if photo is not None and self.upload_photo(photo, **options)["state"] == "complete":
                    done += 1
        return done

    def pull(self, limit: int = 500) -> list[dict[str, Any]]:
        """Every change since the last pull (following ``has_more``); the cursor moves on."""
        changes: list[dict[str, Any]] = []
        while True:
            query = f"?limit={limit}" + (f"&cursor={self.cursor}" if self.cursor else "")
            body = self._call("GET", "/api/v1/sync/pull/" + query).json()
            changes.extend(body["changes"])
            self.cursor = body["next_cursor"]
            if not body["has_more"]:
                return changes


# --- realistic content ---------------------------------------------------------------------------------


def jpeg_with_exif(
    *,
    rng: random.Random,
    lon: float,
    lat: float,
    taken_at: dt.datetime,
    bearing_deg: float | None = None,
    width: int = 640,
    height: int = 480,
    quality: int = 85,
    grain: float = 0.25,
) -> bytes:
    """A JPEG of a made-up landscape (with film grain: ``grain`` 0–1) with EXIF time (with offset), GPS
    position and bearing."""
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    sky = (rng.randint(120, 190), rng.randint(160, 210), rng.randint(200, 250))
    ground = (rng.randint(40, 110), rng.randint(90, 160), rng.randint(30, 80))
    horizon = rng.randint(height // 4, height // 2)
    draw.rectangle((0, 0, width, horizon), fill=sky)
    draw.rectangle((0, horizon, width, height), fill=ground)
    for _ in range(60):
        x, y = rng.randrange(width), rng.randrange(horizon, height)
        r = rng.randint(3, max(4, width // 20))
        shade = tuple(max(0, min(255, c + rng.randint(-40, 40))) for c in ground)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=shade)
    if grain > 0:
        noise = Image.effect_noise((width, height), 64).convert("RGB")
        image = Image.blend(image, noise, grain)
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Reference client"
    exif[ExifTags.Base.DateTime] = taken_at.strftime("%Y:%m:%d %H:%M:%S")
    details = exif.get_ifd(ExifTags.IFD.Exif)
    details[ExifTags.Base.DateTimeOriginal] = taken_at.strftime("%Y:%m:%d %H:%M:%S")
    offset = taken_at.utcoffset()
    if offset is not None:
        minutes = int(offset.total_seconds() // 60)
        details[ExifTags.Base.OffsetTimeOriginal] = f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:" \
                                                    f"{abs(minutes) % 60:02d}"  # fmt: skip
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)

    def dms(value: float) -> tuple[float, float, float]:
        value = abs(value)
        degrees = int(value)
        minutes = int((value - degrees) * 60)
        return (float(degrees), float(minutes), round((value - degrees - minutes / 60) * 3600, 4))

    gps[ExifTags.GPS.GPSLatitudeRef] = "N" if lat >= 0 else "S"
    gps[ExifTags.GPS.GPSLatitude] = dms(lat)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E" if lon >= 0 else "W"
    gps[ExifTags.GPS.GPSLongitude] = dms(lon)
    if bearing_deg is not None:
        gps[ExifTags.GPS.GPSImgDirectionRef] = "T"
        gps[ExifTags.GPS.GPSImgDirection] = float(bearing_deg)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality, exif=exif)
    return out.getvalue()


@dataclass
class ReferencePool:
    """Real reference rows a tablet picks from: HABREF units (``cd_hab``) and TAXREF taxa (cd_nom, name)."""

    campaign: str
    habitats: list[int]
    taxa: list[tuple[int, str]]
    # Where the plots fall: (lon_min, lat_min, lon_max, lat_max) in WGS 84.
    bbox: tuple[float, float, float, float]
    period: tuple[dt.date, dt.date]
    co_observers: list[str] = field(default_factory=list)
    # Candidate plot positions (lon, lat), e.g. drawn inside the campaign region; else uniform in bbox.
    locations: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class Site:
    """A plot the botanist goes to: a sample point of the plan, with what is actually found there."""

    lon: float
    lat: float
    habitats: list[tuple[int, int]]  # (cd_hab, cover %) as the botanist records them
    sample_point: str | None = None
    altitude_m: int | None = None
    taxa: list[tuple[int, str]] = field(default_factory=list)  # species seen there, before the common ones


def build_releve(
    pool: ReferencePool,
    *,
    rng: random.Random,
    n_species: int = 30,
    n_habitats: int = 2,
    n_photos: int = 0,
    notes: str = "",
    photo_size: tuple[int, int] = (640, 480),
    site: Site | None = None,
) -> tuple[dict[str, Any], list[PhotoFile]]:
    """A realistic relevé payload (mosaic of habitats, species in layers with Braun-Blanquet codes) and its
    photos (JPEGs whose EXIF matches the plot's time and position); at ``site`` when given."""
    if site is not None:
        lon, lat = site.lon, site.lat
    elif pool.locations:
        lon, lat = rng.choice(pool.locations)
    else:
        lon, lat = rng.uniform(pool.bbox[0], pool.bbox[2]), rng.uniform(pool.bbox[1], pool.bbox[3])
    first, last = pool.period
    day = first + dt.timedelta(days=rng.randint(0, max(0, (last - first).days)))
    paris = dt.timezone(dt.timedelta(hours=2))
    observed_at = dt.datetime.combine(day, dt.time(rng.randint(8, 17), rng.randint(0, 59)), tzinfo=paris)
    if site is not None:
        habitats, shares = [h for h, _ in site.habitats], [share for _, share in site.habitats]
    else:
        habitats = rng.sample(pool.habitats, k=min(n_habitats, len(pool.habitats)))
        shares = [60, 40] if len(habitats) == 2 else [round(100 / len(habitats))] * len(habitats)
    layers_used = ["herb"] + (["shrub"] if rng.random() < 0.6 else []) + (["tree"] if rng.random() < 0.4 else [])
    species = []
    seen = list(site.taxa[:n_species]) if site is not None else []
    names = {cd_nom for cd_nom, _ in seen}
    others = [taxon for taxon in pool.taxa if taxon[0] not in names]
    for cd_nom, name in seen + rng.sample(others, k=min(n_species - len(seen), len(others))):
        species.append(
            {
                "cd_nom": cd_nom,
                "name_cited": name,
                "layer": rng.choice(layers_used),
                "braun_blanquet": rng.choices(BRAUN_BLANQUET, weights=BB_WEIGHTS)[0],
            }
        )
    photos = []
    for _ in range(n_photos):
        bearing = float(rng.choice([0, 90, 180, 270]))
        taken_at = observed_at + dt.timedelta(minutes=rng.randint(0, 20))
        data = jpeg_with_exif(rng=rng, lon=lon, lat=lat, taken_at=taken_at, bearing_deg=bearing,
                              width=photo_size[0], height=photo_size[1])  # fmt: skip
        photos.append(PhotoFile(uuid=str(uuid_module.UUID(int=rng.getrandbits(128), version=4)), data=data,
                                bearing_deg=bearing))  # fmt: skip
    payload = {
        "uuid": str(uuid_module.UUID(int=rng.getrandbits(128), version=4)),
        "base_version": None,
        "campaign": pool.campaign,
        "observed_at": observed_at.isoformat(),
        "observers": rng.sample(pool.co_observers, k=1) if pool.co_observers and rng.random() < 0.2 else [],
        "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
        "plot": None,
        "gnss_accuracy_m": round(rng.uniform(2, 8), 1),
        "plot_area_m2": rng.choice([16, 25, 50, 100, 200]),
        "altitude_m": site.altitude_m if site and site.altitude_m is not None else rng.randint(0, 1800),
        "slope_deg": rng.randint(0, 30),
        "aspect": rng.choice(ASPECTS),
        "layers": {name: {"cover_pct": rng.randint(5, 90)} for name in layers_used},
        "habitats": [
            {"cd_hab": cd_hab, "cover_pct": share, "certainty": rng.choice(["sure", "sure", "probable"])}
            for cd_hab, share in zip(habitats, shares, strict=False)
        ],
        "species": species,
        "notes": notes,
        "sample_point": site.sample_point if site else None,
        "photos": [photo.manifest() for photo in photos],
    }
    return payload, photos


def batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
