"""Sync benchmarks against a real gunicorn server: push, replay, raw-insert ratio, pull, large photo upload.

    DATABASE_URL=postgis://postgres@127.0.0.1:5432/fc_bench .venv/bin/python bench/sync.py [--tablets 30]

The database is migrated and filled with what the run needs (a campaign, botanists, 2 habitat units and
30 taxa from the real HABREF/flora files); pushed rows are deleted at the end. Prints its figures.
"""

import argparse
import csv
import datetime as dt
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fieldcollect.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from fieldcollect.client import HttpTransport, PhotoFile, ReferencePool, TabletClient, batches, build_releve  # noqa: E402
from fieldcollect.models import Campaign, ChangeLog, Photo, PhotoBlob, Releve, ReleveRevision, Role, User  # noqa: E402
from fieldcollect.services.accounts import device_token_issue, user_set_roles  # noqa: E402
from fieldcollect.services.campaigns import campaign_add_member  # noqa: E402
from habitats.models import HabitatUnit, Taxon, Typology  # noqa: E402

SLUG = "bench-sync"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def reference_rows() -> tuple[list[int], list[tuple[int, str]]]:
    """Two real EUNIS 2022 units (HABREF) and 30 real taxa (flora file with TAXREF cd_nom)."""
    data = Path(settings.SHARED_DATA_DIR)
    with open(data / "habref" / "HABREF_70_SUBSET.csv", encoding="utf-8-sig", newline="") as f:
        units = [row for row in csv.DictReader(f, delimiter=";") if row["CD_TYPO"] == "107"][:2]
    typology, _ = Typology.objects.get_or_create(cd_typo=107, defaults={"name": "EUNIS_2022"})
    for row in units:
        code = row["LB_CODE"]
        HabitatUnit.objects.get_or_create(
            cd_hab=int(row["CD_HAB"]),
            defaults={"typology": typology, "code": code, "code_normalized": code.replace("-", "").upper(),
                      "name_fr": row["LB_HAB_FR"][:200], "path": f"/{row['CD_HAB']}/"},
        )  # fmt: skip
    with open(data / "taxa" / "flora_fr_taxref_cd_nom_wetland_indicator.csv", encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter=";" if ";" in f.readline() else ",")
        taxa = []
        for row in reader:
            cd_nom = next((int(cell) for cell in row if cell.isdigit()), None)
            if cd_nom and cd_nom not in {t[0] for t in taxa}:
                taxa.append((cd_nom, row[0]))
            if len(taxa) == 30:
                break
    for cd_nom, name in taxa:
        Taxon.objects.get_or_create(
            cd_nom=cd_nom,
            defaults={"cd_ref": cd_nom, "name": name[:200], "full_name": name[:300],
                      "name_normalized": name.lower()[:200]},
        )  # fmt: skip
    return [int(row["CD_HAB"]) for row in units], taxa


def setup(tablets: int) -> tuple[Campaign, list[User], ReferencePool]:
    from django.contrib.gis.geos import MultiPolygon, Polygon

    call_command("migrate", verbosity=0)
    region = MultiPolygon(Polygon.from_bbox((400_000, 6_150_000, 860_000, 6_450_000)), srid=2154)
    campaign, _ = Campaign.objects.update_or_create(
        slug=SLUG, defaults={"name": "Bench", "year": 2026, "region": region,
                             "starts_on": dt.date(2026, 4, 1), "ends_on": dt.date(2026, 9, 30)},
    )  # fmt: skip
    users = []
    for index in range(tablets + 1):
        user, created = User.objects.get_or_create(username=f"bench-botanist-{index:02d}")
        if created:
            user_set_roles(user=user, roles=[Role.BOTANIST])
        campaign_add_member(campaign=campaign, user=user, role=Role.BOTANIST)
        users.append(user)
    habitats, taxa = reference_rows()
    pool = ReferencePool(campaign=SLUG, habitats=habitats, taxa=taxa, bbox=(1.0, 43.0, 4.0, 44.5),
                         period=(dt.date(2026, 4, 1), dt.date(2026, 9, 30)))  # fmt: skip
    return campaign, users, pool


def cleanup(campaign: Campaign) -> None:
    releves = Releve.objects.filter(campaign=campaign)
    ReleveRevision.objects.filter(releve__in=releves).delete()
    ReleveRevision.objects.filter(submitted_by__username__startswith="bench-botanist-", releve=None).delete()
    ChangeLog.objects.filter(releve__in=releves).delete()
    blobs = list(PhotoBlob.objects.filter(photos__releve__in=releves).distinct())
    Photo.objects.filter(releve__in=releves).delete()
    for blob in blobs:
        blob.file.delete(save=False)
        blob.delete()
    releves.delete()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_gunicorn(workers: int, media: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, API_THROTTLE_RATE="1000000/min", PHOTO_MAX_BYTES=str(300 * 1024 * 1024),
               MEDIA_ROOT=str(media / "media"), PHOTO_UPLOAD_DIR=str(media / "uploads"),
               CELERY_QUEUE_PREFIX="bench-nobody-", LOG_LEVEL="WARNING", DEBUG="0")  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "fieldcollect.wsgi", "--workers", str(workers), "--bind",
         f"127.0.0.1:{port}", "--timeout", "300", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("gunicorn did not start")


def worker_pids(master: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True, check=False).stdout
    return [int(pid) for pid in out.split()]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_tablets(url: str, keys: list[str], work: list[list[list[dict]]]) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    errors: list[str] = []

    def tablet(index: int) -> None:
        client = TabletClient(transport=HttpTransport(url, timeout=300), device_id=f"bench-{index}", token=keys[index])
        for batch in work[index]:
            started = time.perf_counter()
            try:
                results = client.push(batch)
            except Exception as exc:
                errors.append(str(exc))
                return
            elapsed = time.perf_counter() - started
            bad = [r for r in results if r["result"] not in ("created", "unchanged")]
            if bad:
                errors.append(json.dumps(bad[0])[:300])
            with lock:
                latencies.append(elapsed)

    threads = [threading.Thread(target=tablet, args=(i,)) for i in range(len(keys))]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"push errors: {errors[:3]}")
    return time.perf_counter() - started, latencies


def raw_insert(batches_of_payloads: list[list[dict]], campaign: Campaign, user: User) -> float:
    """The same rows (relevé, layers, habitats, species, revision, change) with psycopg COPY, no checks."""
    from pyproj import Transformer

    from fieldcollect.models.releve import BRAUN_BLANQUET_COVER_PCT

    payloads = [p for batch in batches_of_payloads for p in batch]
    to_lambert = Transformer.from_crs(4326, 2154, always_xy=True)
    started = time.perf_counter()
    with connection.cursor() as db:
        raw = db.cursor  # the psycopg cursor under Django's wrapper
        raw.execute("SELECT nextval('fieldcollect_releve_id_seq') FROM generate_series(1, %s)", [len(payloads)])
        ids = [row[0] for row in raw.fetchall()]
        now = dt.datetime.now(dt.UTC)
        with raw.copy(
            "COPY fieldcollect_releve (id, uuid, campaign_id, observer_id, observed_at, location, gnss_accuracy_m, "
            "plot_area_m2, altitude_m, slope_deg, aspect, notes, sample_point_ref, device_id, app_version, status, "
            "version, content_hash, has_open_conflict, created_at, updated_at) FROM STDIN"
        ) as copy:
            for rid, p in zip(ids, payloads, strict=True):
                x, y = to_lambert.transform(*p["geometry"]["coordinates"])
                copy.write_row((rid, p["uuid"], campaign.pk, user.pk, p["observed_at"],
                                f"SRID=2154;POINT({x} {y})", p["gnss_accuracy_m"], p["plot_area_m2"],
                                p["altitude_m"], p["slope_deg"], p["aspect"], p["notes"], "", "raw", "raw",
                                "submitted", 1, "x" * 64, False, now, now))  # fmt: skip
        with raw.copy("COPY fieldcollect_relevelayer (releve_id, layer, cover_pct, height_m) FROM STDIN") as copy:
            for rid, p in zip(ids, payloads, strict=True):
                for name, layer in p["layers"].items():
                    copy.write_row((rid, name, layer.get("cover_pct"), layer.get("height_m")))
        with raw.copy(
            "COPY fieldcollect_habitatassignment (releve_id, habitat_id, cover_pct, rank, certainty) FROM STDIN"
        ) as copy:
            for rid, p in zip(ids, payloads, strict=True):
                for rank, h in enumerate(p["habitats"]):
                    copy.write_row((rid, h["cd_hab"], h["cover_pct"], rank, h["certainty"]))
        with raw.copy(
            "COPY fieldcollect_speciesobservation (releve_id, taxon_id, name_cited, layer, braun_blanquet, cover_pct,"
            " rank) FROM STDIN"
        ) as copy:
            for rid, p in zip(ids, payloads, strict=True):
                for rank, s in enumerate(p["species"]):
                    copy.write_row((rid, s["cd_nom"], s["name_cited"], s["layer"], s["braun_blanquet"],
                                    BRAUN_BLANQUET_COVER_PCT[s["braun_blanquet"]], rank))  # fmt: skip
        with raw.copy(
            "COPY fieldcollect_releverevision (uuid, releve_id, submitted_by_id, device_id, app_version, received_at,"
            " outcome, payload_json, payload_hash, errors) FROM STDIN"
        ) as copy:
            for rid, p in zip(ids, payloads, strict=True):
                copy.write_row((p["uuid"], rid, user.pk, "raw", "raw", now, "created", json.dumps(p), "x" * 64, "{}"))
        with raw.copy("COPY fieldcollect_changelog (releve_id, kind, created_at) FROM STDIN") as copy:
            for rid in ids:
                copy.write_row((rid, "releve", now))
    return time.perf_counter() - started


def big_jpeg(path: Path, side: int) -> bytes:
    if not path.exists():
        from PIL import Image

        bands = [Image.effect_noise((side, side), 90) for _ in range(3)]
        Image.merge("RGB", bands).save(path, "JPEG", quality=100)
    return path.read_bytes()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tablets", type=int, default=30)
    parser.add_argument("--batches", type=int, default=4, help="batches per tablet")
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--photo-side", type=int, default=10_000, help="pixels of the square photo (10,000: ~200 MB)")
    parser.add_argument("--skip-photo", action="store_true")
    args = parser.parse_args()

    campaign, users, pool = setup(args.tablets)
    cleanup(campaign)
    rng = random.Random(2026)
    work = [
        [list(b) for b in batches([build_releve(pool, rng=rng)[0] for _ in range(args.batch * args.batches)],
                                   args.batch)]
        for _ in range(args.tablets)
    ]  # fmt: skip
    keys = [device_token_issue(user=users[i], device_id=f"bench-{i}")[1] for i in range(args.tablets)]
    tmp = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    proc, url = start_gunicorn(args.workers, tmp)
    try:
        total = args.tablets * args.batches * args.batch
        first_s, first_lat = run_tablets(url, keys, work)
        replay_s, replay_lat = run_tablets(url, keys, work)
        print(f"push: {args.tablets} tablets x {args.batches} batches of {args.batch} relevés (30 species, 2 habitats),"
              f" gunicorn {args.workers} sync workers")  # fmt: skip
        print(
            f"  first push: {total} relevés in {first_s:.1f} s = {total / first_s:.0f} relevés/s; "
            f"batch p50 {statistics.median(first_lat) * 1000:.0f} ms, p95 {pct(first_lat, 0.95) * 1000:.0f} ms"
        )
        print(
            f"  replay:     {total} relevés in {replay_s:.1f} s = {total / replay_s:.0f} relevés/s; "
            f"batch p50 {statistics.median(replay_lat) * 1000:.0f} ms, p95 {pct(replay_lat, 0.95) * 1000:.0f} ms"
        )
        print(f"  replay cost ratio (first / replay): {first_s / replay_s:.1f}x")
        # the same rows with a raw psycopg COPY (fresh UUIDs, one connection)
        raw_payloads = [[dict(p, uuid=str(uuid.uuid4())) for p in batch] for tablet in work for batch in tablet]
        raw_s = raw_insert(raw_payloads, campaign, users[0])
        print(
            f"  raw psycopg COPY of the same rows: {total / raw_s:.0f} relevés/s; "
            f"push is {raw_s / first_s * 100:.0f} % of it ({first_s / raw_s:.1f}x slower)"
        )

        # pull of 500 changes: one botanist with 500 relevés
        puller = users[args.tablets]
        key = device_token_issue(user=puller, device_id="bench-pull")[1]
        client = TabletClient(transport=HttpTransport(url, timeout=300), device_id="bench-pull", token=key)
        for batch in batches([build_releve(pool, rng=rng)[0] for _ in range(500)], 100):
            client.push(list(batch))
        pulls = []
        for _ in range(30):
            client.cursor = None
            started = time.perf_counter()
            changes = client.pull(limit=500)
            pulls.append(time.perf_counter() - started)
        print(
            f"pull of {len(changes)} changes (one page of 500): p50 {statistics.median(pulls) * 1000:.0f} ms, "
            f"p95 {pct(pulls, 0.95) * 1000:.0f} ms (30 pulls)"
        )

        if not args.skip_photo:
            data = big_jpeg(ROOT / "var" / f"bench-photo-{args.photo_side}.jpg", args.photo_side)
            payload, _ = build_releve(pool, rng=rng)
            photo = PhotoFile(uuid=build_releve(pool, rng=rng)[0]["uuid"], data=data)
            payload["photos"] = [photo.manifest()]
            client.push([payload], photos=[photo])
            before = {pid: peak_rss_mb(pid) for pid in worker_pids(proc.pid)}
            started = time.perf_counter()
            status = client.upload_photo(photo, chunk_size=8 * 1024 * 1024)
            elapsed = time.perf_counter() - started
            after = {pid: peak_rss_mb(pid) for pid in worker_pids(proc.pid)}
            assert status["state"] == "complete", status
            print(
                f"photo upload: {len(data) / 1e6:.0f} MB JPEG ({args.photo_side}² px) in 8 MiB chunks: "
                f"{elapsed:.1f} s = {len(data) / 1e6 / elapsed:.0f} MB/s on loopback (incl. sha256, image check)"
            )
            print(f"  server workers' peak RSS before/after: {max(before.values()):.0f} / {max(after.values()):.0f} MB")
            del data
    finally:
        proc.terminate()
        proc.wait(30)
        cleanup(campaign)


if __name__ == "__main__":
    main()
