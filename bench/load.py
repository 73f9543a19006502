"""Load run: N tablets syncing at once (push batches, photos, pulls) while a coordinator works in admin.

Starts its own gunicorn and Celery worker on a database of its own (``--database``, created and migrated
if missing; the shared PostgreSQL and Redis are used, nothing else is touched), seeds a campaign, the
tablets' botanists and a coordinator, then runs the tablets for ``--duration`` seconds. Each tablet
pushes batches of relevés (30 species, 2 habitats), uploads the photos the server says it misses (when
the server has the photo endpoint), pulls every few batches, and retries a batch after a network error
or a 503 exactly as a tablet does. At the end every relevé and photo the tablets sent is counted in the
database. Prints latency percentiles and the counts.

    .venv/bin/python bench/load.py [--tablets 30] [--duration 600] [--batch 20] [--photos-per-releve 1]
"""

import argparse
import hashlib
import io
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _describe(response) -> str:
    return "no answer" if response is None else f"{response.status_code} {response.text[:200]}"


class Tablet(threading.Thread):
    def __init__(self, index: int, url: str, token: str, template: dict, args: argparse.Namespace, photos: bool):
        super().__init__(daemon=True)
        self.index = index
        self.url = url
        self.headers = {"Authorization": f"Token {token}"}
        self.template = template
        self.args = args
        self.photos_enabled = photos
        self.sent_releves: list[str] = []
        self.sent_photos: dict[str, str] = {}  # photo uuid -> sha256
        self.uploaded_photos: set[str] = set()
        self.push_latency: list[float] = []
        self.pull_latency: list[float] = []
        self.photo_latency: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.errors: list[str] = []
        self.rng = random.Random(index)

    def _photo(self) -> tuple[str, bytes]:
        from PIL import Image

        image = Image.new("RGB", (640, 480), tuple(self.rng.randrange(256) for _ in range(3)))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=85)
        return str(uuid.uuid4()), buffer.getvalue()

    def _batch(self) -> tuple[dict, dict[str, bytes]]:
        releves, blobs = [], {}
        for _ in range(self.args.batch):
            item = json.loads(json.dumps(self.template))
            item["uuid"] = str(uuid.uuid4())
            lon, lat = item["geometry"]["coordinates"]
            item["geometry"]["coordinates"] = [lon + self.rng.uniform(-0.5, 0.5), lat + self.rng.uniform(-0.3, 0.3)]
            item["photos"] = []
            if self.photos_enabled:
                for _ in range(self.args.photos_per_releve):
                    photo_uuid, data = self._photo()
                    digest = hashlib.sha256(data).hexdigest()
                    blobs[photo_uuid] = data
                    self.sent_photos[photo_uuid] = digest
                    item["photos"].append(
                        {"uuid": photo_uuid, "sha256": digest, "size": len(data), "content_type": "image/jpeg"}
                    )
            releves.append(item)
        return {"device_id": f"load-{self.index}", "app_version": "load", "releves": releves}, blobs

    def _send(self, session, method: str, path: str, latencies: list[float], **kwargs):
        """One request, retried after network errors and 503s (as the tablet app does)."""
        for _ in range(100):
            started = time.perf_counter()
            try:
                response = session.request(method, self.url + path, headers=self.headers, timeout=120, **kwargs)
            except Exception as exc:  # network failure: retry the same request
                self.statuses[f"network:{type(exc).__name__}"] += 1
                time.sleep(1)
                continue
            latencies.append(time.perf_counter() - started)
            self.statuses[f"{method} {response.status_code}"] += 1
            if response.status_code in (429, 503):
                time.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            return response
        self.errors.append(f"{method} {path}: gave up")
        return None

    def run(self) -> None:
        import requests

        session = requests.Session()
        deadline = time.monotonic() + self.args.duration
        cursor = ""
        batches = 0
        while time.monotonic() < deadline:
            batch, blobs = self._batch()
            response = self._send(session, "POST", "/api/v1/sync/push/", self.push_latency, json=batch)
            if response is None or response.status_code != 200:
                self.errors.append(
                    f"push: {getattr(response, 'status_code', None)} {getattr(response, 'text', '')[:200]}"
                )
                continue
            self.sent_releves += [item["uuid"] for item in batch["releves"]]
            for result in response.json()["results"]:
                if result["result"] not in ("created", "unchanged"):
                    self.errors.append(f"push result {result['result']}: {json.dumps(result)[:300]}")
                for photo_uuid in result.get("missing_photos", []):
                    put = self._put_photo(session, photo_uuid, blobs[photo_uuid])
                    if put is not None and put.status_code in (200, 201, 204):
                        self.uploaded_photos.add(photo_uuid)
                    else:
                        self.errors.append(
                            f"photo: {getattr(put, 'status_code', None)} {getattr(put, 'text', '')[:200]}"
                        )
            batches += 1
            if batches % 5 == 0:
                while True:
                    pulled = self._send(session, "GET", "/api/v1/sync/pull/", self.pull_latency,
                                        params={"cursor": cursor, "limit": 500})  # fmt: skip
                    if pulled is None or pulled.status_code != 200:
                        self.errors.append(f"pull: {getattr(pulled, 'status_code', None)}")
                        break
                    body = pulled.json()
                    cursor = body["next_cursor"]
                    if not body["has_more"]:
                        break
            time.sleep(self.rng.uniform(0, self.args.think))

    def _put_photo(self, session, photo_uuid: str, data: bytes):
        headers = {
            **self.headers,
            "Content-Type": "image/jpeg",
            "Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}",
        }
        for _ in range(100):
            started = time.perf_counter()
            try:
                response = session.put(
                    f"{self.url}/api/v1/photos/{photo_uuid}/", data=data, headers=headers, timeout=120
                )
            except Exception as exc:
                self.statuses[f"network:{type(exc).__name__}"] += 1
                time.sleep(1)
                continue
            self.photo_latency.append(time.perf_counter() - started)
            self.statuses[f"PUT {response.status_code}"] += 1
            if response.status_code in (429, 503):
                time.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            return response
        return None


class Coordinator(threading.Thread):
    """Logs in to admin and browses the relevé list, filters and relevé pages until stopped."""

    def __init__(self, url: str, username: str, password: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url, self.username, self.password, self.stop = url, username, password, stop
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.statuses: Counter[int] = Counter()

    def run(self) -> None:
        import re

        import requests

        session = requests.Session()
        session.get(f"{self.url}/admin/login/", timeout=60)
        session.post(
            f"{self.url}/admin/login/?next=/admin/",
            data={"username": self.username, "password": self.password,
                  "csrfmiddlewaretoken": session.cookies["csrftoken"]},
            headers={"Referer": f"{self.url}/admin/login/"}, timeout=60,
        )  # fmt: skip
        pages = ["/admin/", "/admin/fieldcollect/releve/", "/admin/fieldcollect/releve/?status__exact=submitted"]
        ids: list[str] = []
        while not self.stop.is_set():
            for page in pages + [f"/admin/fieldcollect/releve/{i}/change/" for i in ids[:3]]:
                started = time.perf_counter()
                response = session.get(self.url + page, timeout=120)
                kind = "change" if "/change/" in page else page
                self.latency[kind].append(time.perf_counter() - started)
                self.statuses[response.status_code] += 1
                if page == "/admin/fieldcollect/releve/":
                    ids = random.sample(found, min(3, len(found))) if (
                        found := re.findall(r"/admin/fieldcollect/releve/(\d+)/change/", response.text)
                    ) else []  # fmt: skip
                time.sleep(1)


def seed(tablets: int, password: str) -> tuple[list[str], dict]:
    """Campaign, reference rows, botanists with device tokens and a coordinator; returns tokens and a relevé."""
    from django.contrib.gis.geos import MultiPolygon, Polygon
    from django.utils import timezone

    from fieldcollect.models import Campaign, CampaignMember, Role, User
    from fieldcollect.services.accounts import device_token_issue, user_set_roles
    from habitats.models import HabitatUnit, Taxon, Typology

    region = MultiPolygon(Polygon.from_bbox((400_000, 6_150_000, 860_000, 6_450_000)), srid=2154)
    campaign, _ = Campaign.objects.get_or_create(
        slug="load-run", defaults={"name": "Load run", "year": 2026, "region": region,
                                   "starts_on": "2026-04-01", "ends_on": "2026-12-31"},
    )  # fmt: skip
    corine, _ = Typology.objects.get_or_create(cd_typo=22, defaults={"name": "CORINE_BIOTOPES"})
    for cd_hab, code in ((51641, "32.4"), (51643, "41.71")):
        HabitatUnit.objects.get_or_create(
            cd_hab=cd_hab, defaults={"typology": corine, "code": code, "code_normalized": code,
                                     "name_fr": f"Habitat {code}", "path": f"/{cd_hab}/"},
        )  # fmt: skip
    taxa = []
    for n in range(30):
        taxon, _ = Taxon.objects.get_or_create(
            cd_nom=81263 + n, defaults={"cd_ref": 81263 + n, "name": f"Planta load{n}",
                                        "full_name": f"Planta load{n} L.", "name_normalized": f"planta load{n}"},
        )  # fmt: skip
        taxa.append(taxon)
    coordinator, _ = User.objects.get_or_create(username="load-coordinator", defaults={"is_staff": True})
    coordinator.set_password(password)
    coordinator.is_staff = coordinator.is_superuser = True
    coordinator.save()
    user_set_roles(user=coordinator, roles=[Role.COORDINATOR])
    CampaignMember.objects.get_or_create(campaign=campaign, user=coordinator, role=Role.COORDINATOR)
    tokens = []
    for index in range(tablets):
        botanist, _ = User.objects.get_or_create(username=f"load-botanist-{index}")
        user_set_roles(user=botanist, roles=[Role.BOTANIST])
        CampaignMember.objects.get_or_create(campaign=campaign, user=botanist, role=Role.BOTANIST)
        tokens.append(device_token_issue(user=botanist, device_id=f"load-{index}")[1])
    template = {
        "uuid": "", "base_version": None, "campaign": campaign.slug,
        "observed_at": (timezone.now() - timedelta(days=1)).replace(microsecond=0).isoformat(),
        "observers": [], "geometry": {"type": "Point", "coordinates": [2.5, 43.6]}, "plot": None,
        "gnss_accuracy_m": 4.5, "plot_area_m2": 100, "altitude_m": 85, "slope_deg": 5, "aspect": "S",
        "layers": {"tree": {"cover_pct": 60, "height_m": 12}, "herb": {"cover_pct": 40, "height_m": 0.4}},
        "habitats": [{"cd_hab": 51641, "cover_pct": 80, "certainty": "sure"},
                     {"typology": 22, "code": "41.71", "cover_pct": 20, "certainty": "probable"}],
        "species": [{"cd_nom": t.cd_nom, "name_cited": t.full_name, "layer": "herb", "braun_blanquet": "2a"}
                    for t in taxa],
        "notes": "load run", "sample_point": None, "photos": [],
    }  # fmt: skip
    return tokens, template


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tablets", type=int, default=30)
    parser.add_argument("--duration", type=float, default=600)
    parser.add_argument("--batch", type=int, default=20, help="relevés per push")
    parser.add_argument("--photos-per-releve", type=int, default=1)
    parser.add_argument("--think", type=float, default=2.0, help="max seconds a tablet waits between pushes")
    parser.add_argument("--database", default="fc_bench_load")
    parser.add_argument("--web-workers", type=int, default=3)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fieldcollect.settings")
    base = os.environ.get("DATABASE_URL", "postgis://postgres@127.0.0.1:5432/fieldcollect")
    os.environ["DATABASE_URL"] = base.rsplit("/", 1)[0] + "/" + args.database
    prefix = f"load-{uuid.uuid4().hex[:6]}-"
    os.environ.update(CELERY_QUEUE_PREFIX=prefix, CACHE_KEY_PREFIX=prefix, DEBUG="0", API_THROTTLE_RATE="100000/min")
    env = dict(os.environ)
    for command in (["scripts/ensure_database.py"], ["manage.py", "migrate", "--noinput", "-v", "0"],
                    ["manage.py", "collectstatic", "--noinput", "-v", "0"]):  # fmt: skip
        subprocess.run([sys.executable, *command], cwd=ROOT, env=env, check=True)
    django.setup()

    from fieldcollect.models import Releve

    password = "load-run-password-2027"
    tokens, template = seed(args.tablets, password)
    before = set(Releve.objects.values_list("uuid", flat=True))

    from tests.processes import CeleryWorker, Gunicorn

    log_dir = ROOT / "var" / "log"
    server = Gunicorn(env, workers=args.web_workers, timeout=120, name="load-gunicorn")
    server.log_path = log_dir / "load-gunicorn.log"
    worker = CeleryWorker(env, queues=[f"{prefix}{q}" for q in ("default", "training", "mapping")], name="load-celery")
    worker.log_path = log_dir / "load-celery.log"
    server.start()
    worker.start()
    try:
        import requests

        schema = requests.get(f"{server.url}/api/schema/?format=json", timeout=120).json()
        photos = "/api/v1/photos/{uuid}/" in schema.get("paths", {})
        print(f"server {server.url}; photo endpoint: {'yes' if photos else 'no (photos not sent)'}", flush=True)
        stop = threading.Event()
        coordinator = Coordinator(server.url, "load-coordinator", password, stop)
        tablets = [Tablet(i, server.url, token, template, args, photos) for i, token in enumerate(tokens)]
        started = time.monotonic()
        coordinator.start()
        for tablet in tablets:
            tablet.start()
        for tablet in tablets:
            tablet.join()
        elapsed = time.monotonic() - started
        stop.set()
        coordinator.join(timeout=120)
    finally:
        server.stop()
        worker.stop()

    from fieldcollect.models import Photo

    sent = [u for t in tablets for u in t.sent_releves]
    stored = set(str(u) for u in Releve.objects.values_list("uuid", flat=True)) - set(str(u) for u in before)
    sent_photos = {u: d for t in tablets for u, d in t.sent_photos.items()}
    complete = dict(
        Photo.objects.filter(uuid__in=list(sent_photos), state=Photo.State.COMPLETE).values_list("uuid", "blob__sha256")
    )
    intact = sum(1 for u, digest in complete.items() if sent_photos[str(u)] == digest)
    push_latency = [x for t in tablets for x in t.push_latency]
    pull_latency = [x for t in tablets for x in t.pull_latency]
    photo_latency = [x for t in tablets for x in t.photo_latency]
    statuses = sum((t.statuses for t in tablets), Counter())
    errors = [e for t in tablets for e in t.errors]

    def line(name: str, values: list[float]) -> str:
        if not values:
            return f"{name}: none"
        return (f"{name}: n={len(values)} p50={_percentile(values, 0.5) * 1000:.0f} ms "
                f"p95={_percentile(values, 0.95) * 1000:.0f} ms max={max(values) * 1000:.0f} ms "
                f"mean={statistics.mean(values) * 1000:.0f} ms")  # fmt: skip

    print(f"tablets={args.tablets} duration={elapsed:.0f} s batch={args.batch} web workers={args.web_workers}")
    print(f"relevés sent={len(sent)} unique={len(set(sent))} stored={len(stored)} "
          f"missing={len(set(sent) - stored)} extra={len(stored - set(sent))} "
          f"rate={len(sent) / elapsed:.1f} relevés/s")  # fmt: skip
    if photos:
        print(f"photos sent={len(sent_photos)} uploaded ok={sum(len(t.uploaded_photos) for t in tablets)} "
              f"complete on the server={len(complete)} with the sent sha256={intact}")  # fmt: skip
    print(line("push", push_latency))
    print(line("pull", pull_latency))
    print(line("photo PUT", photo_latency))
    for kind, values in coordinator.latency.items():
        print(line(f"admin {kind}", values))
    print(f"admin statuses: {dict(coordinator.statuses)}")
    print(f"API statuses: {dict(statuses)}")
    print(f"errors: {len(errors)}")
    for error in errors[:10]:
        print(f"  {error}")


if __name__ == "__main__":
    main()
