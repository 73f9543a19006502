"""Simulated field tablets for the demo, the tests and the benchmarks (``manage.py simulate_tablets``).

Each tablet is a botanist of the campaign with its own device token, playing the reference client
(``fieldcollect.client``): realistic relevés built from the imported reference data (HABREF units of the
active map legend, real TAXREF taxa), pushed in batches, photos uploaded from the push's
``missing_photos`` (some cut half-way and resumed), then a pull.
"""

import datetime as dt
import random
import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.gis.geos import Point
from django.db import connections
from django.db.models import F
from django.utils import timezone

from fieldcollect.client import ReferencePool, Site, TabletClient, Transport, batches, build_releve
from fieldcollect.models import Campaign, CampaignMember, Role, User
from fieldcollect.services.accounts import device_token_issue
from habitats.models import CharacteristicSpecies, HabitatUnit, LegendRule, Taxon

HABREF_MAIN_TYPOLOGIES = (107, 22, 8)  # EUNIS 2022, CORINE Biotopes, Annex I


class SimulationError(Exception):
    pass


def simulation_reference_pool(*, campaign: Campaign, n_locations: int = 2000, seed: int = 0) -> ReferencePool:
    """What the campaign's tablets pick from: the active legend's HABREF units (else the main typologies'
    valid units), taxa characteristic of them (else accepted taxa), plot positions inside the region, and
    days of the campaign that are not in the future."""
    units = list(
        LegendRule.objects.filter(map_class__legend__is_active=True, unit__validity=HabitatUnit.Validity.REFERENCE)
        .values_list("unit_id", flat=True)
        .distinct()
        .order_by("unit_id")
    )
    if not units:
        units = list(
            HabitatUnit.objects.filter(typology_id__in=HABREF_MAIN_TYPOLOGIES, validity=HabitatUnit.Validity.REFERENCE)
            .order_by("cd_hab")
            .values_list("cd_hab", flat=True)[:2000]
        )
    taxa = list(
        Taxon.objects.filter(cd_nom__in=CharacteristicSpecies.objects.filter(taxon__isnull=False).values("taxon_id"))
        .order_by("cd_nom")
        .values_list("cd_nom", "full_name")[:5000]
    )
    if len(taxa) < 30:
        accepted = Taxon.objects.filter(cd_nom=F("cd_ref")).order_by("cd_nom")
        taxa = list(accepted.values_list("cd_nom", "full_name")[:5000])
    if len(units) < 2 or len(taxa) < 30:
        raise SimulationError(
            f"Not enough reference data for realistic relevés ({len(units)} habitat units, {len(taxa)} taxa): "
            "import HABREF and TAXREF first."
        )
    today = timezone.localdate()
    last = min(campaign.ends_on, today - dt.timedelta(days=1))
    if last < campaign.starts_on:
        raise SimulationError(
            f"Campaign {campaign.slug} starts on {campaign.starts_on}: no day of it is in the past yet, and "
            "relevés may not be dated in the future."
        )
    region = campaign.region.transform(4326, clone=True)
    prepared = region.prepared
    lon_min, lat_min, lon_max, lat_max = region.extent
    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data
    locations: list[tuple[float, float]] = []
    while len(locations) < n_locations:
        lon, lat = rng.uniform(lon_min, lon_max), rng.uniform(lat_min, lat_max)
        if prepared.contains(Point(lon, lat, srid=4326)):
            locations.append((lon, lat))
    return ReferencePool(
        campaign=campaign.slug,
        habitats=units,
        taxa=[(cd_nom, name) for cd_nom, name in taxa],
        bbox=(lon_min, lat_min, lon_max, lat_max),
        period=(campaign.starts_on, last),
        locations=locations,
    )


@dataclass
class TabletReport:
    device_id: str
    username: str
    pushed: int = 0
    results: dict[str, int] = field(default_factory=dict)
    batch_seconds: list[float] = field(default_factory=list)
    photos_uploaded: int = 0
    uploads_resumed: int = 0
    pulled: int = 0
    error: str = ""


@dataclass
class SimulationReport:
    tablets: list[TabletReport]
    seconds: float

    @property
    def releves(self) -> int:
        return sum(t.pushed for t in self.tablets)

    def summary(self) -> dict[str, Any]:
        latencies = sorted(s for t in self.tablets for s in t.batch_seconds)
        results: dict[str, int] = {}
        for tablet in self.tablets:
            for key, count in tablet.results.items():
                results[key] = results.get(key, 0) + count
        return {
            "tablets": len(self.tablets),
            "releves": self.releves,
            "results": results,
            "photos_uploaded": sum(t.photos_uploaded for t in self.tablets),
            "uploads_resumed": sum(t.uploads_resumed for t in self.tablets),
            "pulled": sum(t.pulled for t in self.tablets),
            "seconds": round(self.seconds, 2),
            "releves_per_s": round(self.releves / self.seconds, 1) if self.seconds else None,
            "batch_p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
            "batch_p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))] * 1000, 1) if latencies else None,
            "errors": [f"{t.device_id}: {t.error}" for t in self.tablets if t.error],
        }


def _play_tablet(
    client: TabletClient,
    report: TabletReport,
    pool: ReferencePool,
    *,
    releves: int,
    batch_size: int,
    photos_per_releve: int,
    interrupt_every: int,
    notes: str,
    seed: int,
    species: int,
    habitats: int,
    sites: Sequence[Site] = (),
) -> None:
    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data
    if sites:
        built = [build_releve(pool, rng=rng, n_species=species, n_photos=photos_per_releve, notes=notes, site=site)
                 for site in sites]  # fmt: skip
    else:
        built = [build_releve(pool, rng=rng, n_species=species, n_habitats=habitats, n_photos=photos_per_releve,
                              notes=notes) for _ in range(releves)]  # fmt: skip
    uploads = 0
    for batch in batches(built, batch_size):
        payloads = [payload for payload, _ in batch]
        photos = [photo for _, batch_photos in batch for photo in batch_photos]
        started = time.perf_counter()
        results = client.push(payloads, photos=photos)
        report.batch_seconds.append(time.perf_counter() - started)
        report.pushed += len(payloads)
        for result in results:
            report.results[result["result"]] = report.results.get(result["result"], 0) + 1
        for result in results:
            for photo_uuid in result.get("missing_photos", []):
                photo = client.photos.get(photo_uuid)
                if photo is None:
                    continue
                uploads += 1
                if interrupt_every and uploads % interrupt_every == 0:
                    # The connection drops after the first chunk: the tablet asks where to resume.
                    client.upload_photo(photo, chunk_size=max(1, len(photo.data) // 3), stop_after=1)
                    report.uploads_resumed += 1
                if client.upload_photo(photo, chunk_size=256 * 1024)["state"] == "complete":
                    report.photos_uploaded += 1
    report.pulled = len(client.pull())


def tablets_simulate(
    *,
    campaign: Campaign,
    transport_factory: Callable[[], Transport],
    tablets: int,
    releves_per_tablet: int,
    batch_size: int = 50,
    photos_per_releve: int = 1,
    interrupt_every: int = 5,
    notes: str = "SYNTHETIC relevé made by the tablet simulator.",
    seed: int = 0,
    species: int = 30,
    habitats: int = 2,
    concurrent: bool = True,
    usernames: list[str] | None = None,
    pool: ReferencePool | None = None,
) -> SimulationReport:
    """Play ``tablets`` tablets of the campaign's botanists (round robin); one thread each when concurrent."""
    members = CampaignMember.objects.filter(campaign=campaign, role=Role.BOTANIST, user__is_active=True)
    if usernames:
        members = members.filter(user__username__in=usernames)
    botanists = list(User.objects.filter(pk__in=members.values("user_id")).order_by("username"))
    if not botanists:
        raise SimulationError(f"Campaign {campaign.slug} has no botanist to play the tablets.")
    pool = pool or simulation_reference_pool(campaign=campaign, seed=seed)
    clients: list[tuple[TabletClient, TabletReport]] = []
    for index in range(tablets):
        user = botanists[index % len(botanists)]
        device_id = f"simulated-tablet-{index + 1:02d}"
        _, key = device_token_issue(user=user, device_id=device_id)
        client = TabletClient(transport=transport_factory(), device_id=device_id, token=key)
        clients.append((client, TabletReport(device_id=device_id, username=user.username)))

    def run(index: int) -> None:
        client, report = clients[index]
        try:
            _play_tablet(client, report, pool, releves=releves_per_tablet, batch_size=batch_size,
                         photos_per_releve=photos_per_releve, interrupt_every=interrupt_every, notes=notes,
                         seed=seed * 1000 + index, species=species, habitats=habitats)  # fmt: skip
        except Exception as exc:  # reported per tablet; the others carry on
            report.error = f"{type(exc).__name__}: {exc}"
        finally:
            if concurrent:
                connections.close_all()

    started = time.perf_counter()
    if concurrent:
        threads = [threading.Thread(target=run, args=(index,)) for index in range(tablets)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:
        for index in range(tablets):
            run(index)
    return SimulationReport([report for _, report in clients], time.perf_counter() - started)


def sites_visit_simulate(
    *,
    campaign: Campaign,
    transport_factory: Callable[[], Transport],
    sites: Mapping[str, Sequence[Site]],
    batch_size: int = 50,
    photos_per_releve: int = 1,
    notes: str = "SYNTHETIC relevé made by the tablet simulator.",
    seed: int = 0,
    species: int = 20,
) -> SimulationReport:
    """Each botanist (by username) visits their sites with their own tablet: one relevé per site, pushed in
    batches with its photos, then a pull. Sites carry the habitats found and the sample point visited."""
    users = {u.username: u for u in User.objects.filter(username__in=list(sites), is_active=True)}
    unknown = sorted(set(sites) - set(users))
    if unknown:
        raise SimulationError(f"Unknown botanists: {', '.join(unknown)}.")
    pool = simulation_reference_pool(campaign=campaign, seed=seed, n_locations=1)
    reports = []
    started = time.perf_counter()
    for index, username in enumerate(sorted(sites)):
        device_id = f"simulated-tablet-{username}"
        _, key = device_token_issue(user=users[username], device_id=device_id)
        client = TabletClient(transport=transport_factory(), device_id=device_id, token=key)
        report = TabletReport(device_id=device_id, username=username)
        try:
            _play_tablet(client, report, pool, releves=len(sites[username]), batch_size=batch_size,
                         photos_per_releve=photos_per_releve, interrupt_every=0, notes=notes,
                         seed=seed * 1000 + index, species=species, habitats=1, sites=sites[username])  # fmt: skip
        except Exception as exc:  # reported per tablet; the others carry on
            report.error = f"{type(exc).__name__}: {exc}"
        reports.append(report)
    return SimulationReport(reports, time.perf_counter() - started)
