"""QC against the database: load relevé snapshots and their context in bulk, run the rules, store results.

The rules themselves (``fieldcollect.services.qc``) never touch the ORM; this module is the only bridge.
Loading is a fixed number of queries per chunk of relevés, whatever the chunk size.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from django.db import connection, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from fieldcollect.models import (
    Campaign,
    HabitatAssignment,
    Photo,
    QCResult,
    QCRun,
    Releve,
    ReleveLayer,
    ReleveQCState,
    ReleveStatus,
    ReviewAction,
    ReviewEvent,
    SpeciesObservation,
)
from fieldcollect.services.qc import (
    OCCITANIE_ALTITUDE_RANGES,
    CampaignInfo,
    CharacteristicIndex,
    Finding,
    HabitatEntry,
    HabitatUnitInfo,
    LayerCover,
    LegendRequirement,
    PhotoEntry,
    PlotRef,
    QCContext,
    ReleveSnapshot,
    Severity,
    SpeciesEntry,
    qc_evaluate,
    rules_all,
)
from fieldcollect.services.releves import releve_record_changes, releve_set_status_many
from habitats.models import CharacteristicSpecies, Correspondence, HabitatUnit, Taxon

logger = logging.getLogger(__name__)

EUNIS_2022 = 107
CROSSWALK_RELATIONS = (1, 2)  # "=" and "<" (the source unit is included in the EUNIS unit)
QC_STATUSES = frozenset({ReleveStatus.SUBMITTED, ReleveStatus.QC_FLAGGED, ReleveStatus.QC_PASSED})
CHUNK = 500


def rules_signature(rules: Iterable[Any] | None = None) -> tuple[dict[str, int], str]:
    """The versions of the rules that run, and a digest of them (what makes a stored result stale)."""
    versions = {rule.code: rule.version for rule in (rules if rules is not None else rules_all())}
    return versions, hashlib.sha256(json.dumps(versions, sort_keys=True).encode()).hexdigest()


def finding_fingerprint(finding: Finding) -> str:
    return hashlib.sha256(json.dumps([finding.rule, finding.details], sort_keys=True, default=str).encode()).hexdigest()


# --- reference data shared by runs (cached per process, keyed by the reference version) ------------

_cache_lock = threading.Lock()
_characteristic_cache: dict[str, Any] = {}


def _characteristic_index() -> CharacteristicIndex | None:
    marker = CharacteristicSpecies.objects.aggregate(v=Max("ref_version"), n=Max("id"))
    if marker["n"] is None:
        return None
    key = f"{marker['v']}:{marker['n']}"
    with _cache_lock:
        if _characteristic_cache.get("key") != key:
            rows = CharacteristicSpecies.objects.values_list(
                "habitat_code", "taxon__cd_ref", "species_name", "kind", "value", "habitat_name"
            )
            names: dict[str, str] = {}
            entries = []
            for code, cd_ref, name, kind, value, habitat_name in rows.iterator(chunk_size=5000):
                entries.append((code, cd_ref, (name or "").strip().lower(), kind, value))
                names.setdefault(code, habitat_name)
            _characteristic_cache.update(key=key, index=CharacteristicIndex(entries, names=names))
        return _characteristic_cache["index"]


def _ancestors(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in path.strip("/").split("/") if part.isdigit())


def _legend_classes(
    units: Iterable[int], campaign_ids: Iterable[int]
) -> tuple[dict[int, str | None], dict[int, dict[int, str]]]:
    """Per campaign: the name of its legend and the class code of each unit under it.

    The legend and the unit → class resolution are the ones the training pool labels with
    (``campaign_legend``, ``habitat_unit_map_class``: subtree and crosswalk rules, the most specific
    wins), so "precise enough for the legend" means what the pool will make of the relevé.
    """
    from fieldcollect.selectors import campaign_legend
    from habitats.selectors import habitat_unit_map_class

    legends = {campaign_id: campaign_legend(campaign=campaign_id) for campaign_id in campaign_ids}
    classes: dict[int, dict[int, str]] = {}
    wanted = set(units)
    for legend in {legend for legend in legends.values() if legend is not None}:
        mapped = habitat_unit_map_class(legend=legend, units=wanted) if wanted else {}
        classes[legend.pk] = {cd_hab: map_class.code for cd_hab, map_class in mapped.items()}
    return (
        {cid: legend.name if legend is not None else None for cid, legend in legends.items()},
        {cid: classes[legend.pk] for cid, legend in legends.items() if legend is not None},
    )


def _eunis_codes(units: dict[int, HabitatUnit]) -> dict[int, tuple[str, ...]]:
    """EUNIS 2022 codes (EEA form) of each unit and its ancestors, through crosswalks for other typologies."""
    targets: dict[int, list[int]] = defaultdict(list)
    others = [cd for cd, unit in units.items() if unit.typology_id != EUNIS_2022]
    if others:
        for source, target in Correspondence.objects.filter(
            source_id__in=others, target__typology_id=EUNIS_2022, relation_id__in=CROSSWALK_RELATIONS, valid=True
        ).values_list("source_id", "target_id"):
            targets[source].append(target)
    eunis_ids = {cd for cd, unit in units.items() if unit.typology_id == EUNIS_2022}
    eunis_ids |= {t for ts in targets.values() for t in ts}
    eunis = {
        u.cd_hab: u for u in HabitatUnit.objects.filter(cd_hab__in=eunis_ids).only("cd_hab", "path", "code_normalized")
    }
    ancestor_ids = {a for u in eunis.values() for a in _ancestors(u.path)} - set(eunis)
    codes = dict(
        HabitatUnit.objects.filter(cd_hab__in=ancestor_ids, typology_id=EUNIS_2022).values_list(
            "cd_hab", "code_normalized"
        )
    )
    codes.update({cd: u.code_normalized for cd, u in eunis.items()})

    def lineage(cd: int) -> list[str]:
        unit = eunis.get(cd)
        if unit is None:
            return []
        return [codes[a] for a in (*_ancestors(unit.path), cd) if a in codes]

    result: dict[int, tuple[str, ...]] = {}
    for cd, unit in units.items():
        found = lineage(cd) if unit.typology_id == EUNIS_2022 else [c for t in targets.get(cd, ()) for c in lineage(t)]
        result[cd] = tuple(dict.fromkeys(found))
    return result


# --- snapshots -------------------------------------------------------------------------------------


@dataclass
class LoadedBatch:
    snapshots: list[ReleveSnapshot]
    versions: dict[int, int]
    statuses: dict[int, str]
    campaigns: dict[int, int]
    legend_names: dict[int, str | None]  # per campaign


def qc_snapshots_load(*, releve_ids: Sequence[int]) -> LoadedBatch:
    """Snapshots of the (not deleted) relevés, with habitats, species, photos resolved in bulk."""
    rows = list(
        Releve.objects.filter(pk__in=releve_ids, deleted_at__isnull=True).values(
            "id",
            "campaign_id",
            "observer_id",
            "observed_at",
            "location",
            "plot",
            "gnss_accuracy_m",
            "plot_area_m2",
            "altitude_m",
            "version",
            "status",
            "uuid",
            "sample_point_ref",
        )
    )
    ids = [row["id"] for row in rows]
    layers: dict[int, dict[str, LayerCover]] = defaultdict(dict)
    for releve_id, layer, cover, height in ReleveLayer.objects.filter(releve_id__in=ids).values_list(
        "releve_id", "layer", "cover_pct", "height_m"
    ):
        layers[releve_id][layer] = LayerCover(cover, height)

    assignments = list(
        HabitatAssignment.objects.filter(releve_id__in=ids).select_related("habitat").order_by("releve_id", "rank")
    )
    units = {a.habitat_id: a.habitat for a in assignments}
    campaigns = {row["id"]: row["campaign_id"] for row in rows}
    legend_names, classes = _legend_classes(units, set(campaigns.values()))
    eunis = _eunis_codes(units)
    habitats: dict[int, list[HabitatEntry]] = defaultdict(list)
    for a in assignments:
        u = a.habitat
        info = HabitatUnitInfo(
            cd_hab=u.cd_hab,
            typology=u.typology_id,
            code=u.code,
            name=u.name_fr or u.name_en,
            level=u.level,
            validity=u.validity,
            ancestors=_ancestors(u.path),
        )
        habitats[a.releve_id].append(
            HabitatEntry(
                code_cited=f"{u.typology_id}:{u.code}",
                unit=info,
                cover_pct=a.cover_pct,
                rank=a.rank,
                certainty=a.certainty,
                map_class=classes.get(campaigns[a.releve_id], {}).get(u.cd_hab),
                eunis_codes=eunis.get(u.cd_hab, ()),
            )
        )

    observations = list(
        SpeciesObservation.objects.filter(releve_id__in=ids)
        .order_by("releve_id", "rank")
        .values_list("releve_id", "name_cited", "taxon_id", "taxon__cd_ref", "layer", "braun_blanquet")
    )
    accepted = {
        t.cd_nom: t
        for t in Taxon.objects.filter(cd_nom__in={o[3] for o in observations if o[3]}).only(
            "cd_nom", "name", "name_normalized"
        )
    }
    species: dict[int, list[SpeciesEntry]] = defaultdict(list)
    for releve_id, cited, cd_nom, cd_ref, layer, bb in observations:
        taxon = accepted.get(cd_ref) if cd_ref else None
        species[releve_id].append(
            SpeciesEntry(
                name_cited=cited or (taxon.name if taxon else ""),
                cd_nom=cd_nom,
                known=True,
                cd_ref=cd_ref,
                accepted_name=taxon.name if taxon else "",
                name_normalized=taxon.name_normalized if taxon else "",
                layer=layer,
                braun_blanquet=bb,
            )
        )

    photos: dict[int, list[PhotoEntry]] = defaultdict(list)
    for releve_id, uuid, sha, state, taken, where in (
        Photo.objects.filter(releve_id__in=ids)
        .order_by("id")
        .values_list("releve_id", "uuid", "sha256", "state", "exif_taken_at", "exif_location")
    ):
        photos[releve_id].append(
            PhotoEntry(
                uuid=str(uuid),
                sha256=sha,
                complete=state == Photo.State.COMPLETE,
                exif_time=taken,
                exif_xy=(where.x, where.y) if where is not None else None,
            )
        )

    points = _sample_points(rows)
    snapshots = [
        ReleveSnapshot(
            key=row["id"],
            observer_id=row["observer_id"],
            observed_at=row["observed_at"],
            location=(row["location"].x, row["location"].y) if row["location"] is not None else None,
            plot=row["plot"],
            gnss_accuracy_m=row["gnss_accuracy_m"],
            plot_area_m2=row["plot_area_m2"],
            altitude_m=row["altitude_m"],
            layers=layers.get(row["id"], {}),
            habitats=tuple(habitats.get(row["id"], ())),
            species=tuple(species.get(row["id"], ())),
            photos=tuple(photos.get(row["id"], ())),
            sample_point=points.get(row["id"], (None, None))[0],
            stratum=points.get(row["id"], (None, None))[1],
        )
        for row in rows
    ]
    return LoadedBatch(
        snapshots=snapshots,
        versions={row["id"]: row["version"] for row in rows},
        statuses={row["id"]: row["status"] for row in rows},
        campaigns={row["id"]: row["campaign_id"] for row in rows},
        legend_names=legend_names,
    )


def _sample_points(rows: Sequence[Any]) -> dict[int, tuple[tuple[float, float] | None, str | None]]:
    """The assigned sample point (location, stratum) of each relevé, among its campaign's plans: the point
    whose visit recorded the relevé's UUID (the newest if several), else the point whose id the tablet sent
    as ``sample_point`` (the precedence of ``fieldcollect.selectors.releve_filter_stratum``)."""
    from classification.models import SamplePoint

    by_uuid = {row["uuid"]: row for row in rows}
    by_ref: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        ref = str(row["sample_point_ref"])
        if ref.isdigit() and len(ref) <= 9:
            by_ref[int(ref)].append(row)
    if not by_uuid and not by_ref:
        return {}
    recorded: dict[int, tuple[tuple[float, float] | None, str | None]] = {}
    named: dict[int, tuple[tuple[float, float] | None, str | None]] = {}
    for pk, releve_uuid, location, label, campaign_id in (
        SamplePoint.objects.filter(Q(releve_uuid__in=list(by_uuid)) | Q(pk__in=list(by_ref)))
        .filter(plan__campaign_id__in={row["campaign_id"] for row in rows})
        .order_by("pk")
        .values_list("pk", "releve_uuid", "location", "stratum__label", "plan__campaign_id")
    ):
        point = ((location.x, location.y), label)
        row = by_uuid.get(releve_uuid)
        if row is not None and row["campaign_id"] == campaign_id:
            recorded[row["id"]] = point
        for row in by_ref.get(pk, ()):
            if row["campaign_id"] == campaign_id:
                named[row["id"]] = point
    return {**named, **recorded}


def _population(campaign_id: int, snapshots: Sequence[ReleveSnapshot], radius: float) -> list[PlotRef]:
    """The campaign's other plots that between-plot rules may compare these with (near, same observer
    around the same time, sharing a photo), in three queries plus the content of the near ones."""
    located = [s for s in snapshots if s.location is not None and s.has_valid_location]
    near: set[int] = set()
    if located:
        with connection.cursor() as db:
            db.execute(
                """SELECT DISTINCT r.id FROM fieldcollect_releve r
                   JOIN unnest(%s::float8[], %s::float8[]) AS p(x, y)
                     ON ST_DWithin(r.location, ST_SetSRID(ST_MakePoint(p.x, p.y), 2154), %s)
                   WHERE r.campaign_id = %s AND r.deleted_at IS NULL""",
                [[s.location[0] for s in located], [s.location[1] for s in located], radius, campaign_id],  # type: ignore[index]
            )
            near = {row[0] for row in db.fetchall()}
    hashes = {p.sha256 for s in snapshots for p in s.photos if p.sha256}
    photo_rows = Photo.objects.filter(
        sha256__in=hashes, releve__campaign_id=campaign_id, releve__deleted_at__isnull=True
    ).values_list("releve_id", "sha256")
    shared: dict[int, set[str]] = defaultdict(set)
    for releve_id, sha in photo_rows:
        shared[releve_id].add(sha)
    own: set[int] = {cast(int, s.key) for s in snapshots}
    refs: dict[int, PlotRef] = {}
    full_ids = (near | set(shared)) - own
    if full_ids:
        taxa: dict[int, set[int]] = defaultdict(set)
        for releve_id, cd_ref in SpeciesObservation.objects.filter(
            releve_id__in=full_ids, taxon__isnull=False
        ).values_list("releve_id", "taxon__cd_ref"):
            taxa[releve_id].add(cd_ref)
        habitats: dict[int, set[int]] = defaultdict(set)
        for releve_id, cd_hab in HabitatAssignment.objects.filter(releve_id__in=full_ids).values_list(
            "releve_id", "habitat_id"
        ):
            habitats[releve_id].add(cd_hab)
        for rid, observer, when, location in Releve.objects.filter(pk__in=full_ids).values_list(
            "id", "observer_id", "observed_at", "location"
        ):
            refs[rid] = PlotRef(
                key=rid,
                observer_id=observer,
                observed_at=when,
                location=(location.x, location.y),
                habitats=frozenset(habitats[rid]),
                taxa=frozenset(taxa[rid]),
                photo_hashes=frozenset(shared[rid]),
            )
    dated = [s for s in snapshots if s.observer_id is not None and s.observed_at is not None]
    times = [s.observed_at for s in dated if s.observed_at is not None]
    if dated:
        low, high = min(times) - timedelta(days=2), max(times) + timedelta(days=2)
        for rid, observer, when, location in (
            Releve.objects.filter(
                campaign_id=campaign_id,
                deleted_at__isnull=True,
                observer_id__in={s.observer_id for s in dated},
                observed_at__range=(low, high),
            )
            .exclude(pk__in=own | set(refs))
            .values_list("id", "observer_id", "observed_at", "location")
        ):
            refs[rid] = PlotRef(key=rid, observer_id=observer, observed_at=when, location=(location.x, location.y))
    return list(refs.values())


class CatalogueDemSampler:
    """The QC ``PointSampler`` over a DEM of the raster catalogue (classification's block-grouped sampler)."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.reads = 0

    def sample(self, points: Sequence[tuple[float, float]]) -> list[float | None]:
        import numpy as np

        from classification.rasters.points import OK, raster_sample_points

        result = raster_sample_points(
            self.source, np.array([p[0] for p in points]), np.array([p[1] for p in points]), bands=[1]
        )
        self.reads += result.reads
        return [float(v) if s == OK else None for v, s in zip(result.values[:, 0], result.status, strict=True)]


def _plot_mean(pixels: Any) -> list[float] | None:
    """Mean feature vector of a pool sample's pixels (``None`` without pixels)."""
    import numpy as np

    values = np.asarray((pixels or {}).get("values") or [], dtype=float)
    if values.ndim != 2 or not values.size:
        return None
    return [float(v) for v in values.mean(axis=0)]


class PoolSpectralSource:
    """The QC ``SpectralFeatureSource`` over the live training pool of a (legend, feature set).

    A class's reference is the validated relevés the pool includes under it, each as the mean of its
    stored pixels' features. A checked plot's own features are its current pool sample when it has one,
    else the mean of the pixels under it read from the feature set's rasters — selected as the pool selects
    them (footprint, else a buffer of its area), all the run's plots in one block-grouped read.
    """

    def __init__(self, *, legend: Any, feature_set: Any) -> None:
        from habitats.models import MapClass

        self.legend = legend
        self.feature_set = feature_set
        self.reads = 0
        self.class_values = dict(MapClass.objects.filter(legend=legend).values_list("code", "value"))

    def _samples(self) -> Any:
        from classification.models import TrainingSample

        return TrainingSample.objects.filter(
            legend=self.legend, feature_set=self.feature_set, status=TrainingSample.Status.INCLUDED
        )

    def features(self, keys: Sequence[Any]) -> dict[Any, list[float]]:
        ids = [int(key) for key in keys]
        found: dict[Any, list[float]] = {}
        pooled = self._samples().filter(releve_id__in=ids, releve_version=F("releve__version"))
        for releve_id, pixels in pooled.values_list("releve_id", "pixels"):
            mean = _plot_mean(pixels)
            if mean is not None:
                found[releve_id] = mean
        rest = [i for i in ids if i not in found]
        if rest:
            found.update(self._read(rest))
        return found

    def _read(self, ids: list[int]) -> dict[Any, list[float]]:
        import numpy as np

        from classification.rasters.features import FeatureReader
        from classification.rasters.points import OK, features_sample_points
        from classification.services.pool import _plot_cells, default_buffer_m, feature_set_grid
        from classification.services.rasters import feature_set_specs

        grid = feature_set_grid(self.feature_set)
        if grid is None:
            return {}
        plots = []
        for releve in Releve.objects.filter(pk__in=ids).only("id", "location", "plot", "plot_area_m2"):
            _, rows, cols = _plot_cells(releve, grid, default_buffer_m())
            plots.append((releve.pk, rows, cols))
        if not plots:
            return {}
        xs, ys = grid.cell_centres(np.concatenate([p[1] for p in plots]), np.concatenate([p[2] for p in plots]))
        try:
            with FeatureReader(feature_set_specs(self.feature_set), grid) as reader:
                sample = features_sample_points(reader, xs, ys)
        except Exception:
            # An unreadable raster must not stop QC of the other rules: the spectral rule stays silent on
            # these plots, and the failure is in the log.
            logger.exception("QC could not read the features of %d plots (%s)", len(plots), self.feature_set)
            return {}
        self.reads += sample.reads
        found: dict[Any, list[float]] = {}
        start = 0
        for releve_id, rows, _ in plots:
            stop = start + rows.size
            ok = sample.status[start:stop] == OK
            if ok.any():
                found[releve_id] = [float(v) for v in sample.values[start:stop][ok].mean(axis=0)]
            start = stop
        return found

    def class_reference(self, map_class: str) -> dict[Any, list[float]]:
        value = self.class_values.get(map_class)
        if value is None:
            return {}
        found: dict[Any, list[float]] = {}
        for releve_id, pixels in self._samples().filter(label=value).values_list("releve_id", "pixels"):
            mean = _plot_mean(pixels)
            if mean is not None:
                found[releve_id] = mean
        return found


def qc_spectral_source(*, campaign: Campaign) -> PoolSpectralSource | None:
    """The spectral reference of the campaign's legend in the live training pool, when the pool has one."""
    from classification.services.pool import training_pool_targets
    from fieldcollect.selectors import campaign_legend

    legend = campaign_legend(campaign=campaign)
    for target_legend, feature_set in training_pool_targets() if legend is not None else []:
        if target_legend.pk == legend.pk:
            return PoolSpectralSource(legend=legend, feature_set=feature_set)
    return None


def qc_dem_sampler() -> CatalogueDemSampler | None:
    """The most recent real DEM of the catalogue, else the most recent synthetic one (demo), else none."""
    from classification.models import RasterKind, RasterLayer
    from classification.services.rasters import raster_layer_source

    layer = RasterLayer.objects.filter(kind=RasterKind.DEM).order_by("is_synthetic", "-registered_at").first()
    return CatalogueDemSampler(raster_layer_source(layer)) if layer is not None else None


def qc_context_build(*, campaign: Campaign, legend_name: str | None = None) -> QCContext:
    """The shared context of a QC run for one campaign (region, period, legend, EUNIS-ESy lists, belts)."""
    return QCContext(
        campaign=CampaignInfo(
            key=campaign.pk, region=campaign.region, starts_on=campaign.starts_on, ends_on=campaign.ends_on
        ),
        now=timezone.now(),
        legend=LegendRequirement(name=legend_name, min_level={EUNIS_2022: 3}) if legend_name else None,
        characteristic=_characteristic_index(),
        altitude_ranges=OCCITANIE_ALTITUDE_RANGES,
        dem=qc_dem_sampler(),
        spectral=qc_spectral_source(campaign=campaign),
    )


# --- running and storing ---------------------------------------------------------------------------


@dataclass
class QCOutcome:
    checked: int = 0
    findings: int = 0
    skipped_stale: int = 0


def releve_run_qc(*, releve_ids: Sequence[int]) -> QCOutcome:
    """Check these relevés with every rule and store the results; idempotent and safe to re-run.

    Results replace the previous ones (waivers survive when the same finding reappears); a relevé still
    in the QC part of the workflow moves to ``qc_flagged`` (an unwaived error or warning) or ``qc_passed``.
    """
    outcome = QCOutcome()
    for start in range(0, len(releve_ids), CHUNK):
        chunk = releve_ids[start : start + CHUNK]
        batch = qc_snapshots_load(releve_ids=chunk)
        by_campaign: dict[int, list[ReleveSnapshot]] = defaultdict(list)
        for snapshot in batch.snapshots:
            by_campaign[batch.campaigns[snapshot.key]].append(snapshot)  # type: ignore[index]
        for campaign in Campaign.objects.filter(pk__in=by_campaign):
            snapshots = by_campaign[campaign.pk]
            context = qc_context_build(campaign=campaign, legend_name=batch.legend_names.get(campaign.pk))
            context.add_population(_population(campaign.pk, snapshots, context.settings.duplicate_distance_m))
            report = qc_evaluate(snapshots=snapshots, context=context)
            stored = _store(batch, snapshots, report.findings, report.rules)
            outcome.checked += stored.checked
            outcome.findings += stored.findings
            outcome.skipped_stale += stored.skipped_stale
    return outcome


@transaction.atomic
def _store(
    batch: LoadedBatch, snapshots: Sequence[ReleveSnapshot], findings: list[Finding], rules: list[Any]
) -> QCOutcome:
    outcome = QCOutcome()
    versions, signature = rules_signature(rules)
    ids: list[int] = [cast(int, s.key) for s in snapshots]
    # Lock the relevés: a push landing meanwhile would make these results describe an older version;
    # such relevés are skipped (the push schedules its own QC run).
    # Id order: two runs over overlapping relevés (a push and a photo upload) wait instead of deadlocking.
    current = dict(Releve.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("id", "version"))
    fresh = [rid for rid in ids if current.get(rid) == batch.versions[rid]]
    outcome.skipped_stale = len(ids) - len(fresh)
    per_releve: dict[int, dict[str, Finding]] = {rid: {} for rid in fresh}
    for finding in findings:
        key = cast(int, finding.releve)
        if key in per_releve:
            per_releve[key][finding_fingerprint(finding)] = finding
    existing: dict[int, dict[str, QCResult]] = defaultdict(dict)
    # Without the details: the fingerprint already stands for them, and parsing them is most of a re-run's reading.
    for result in QCResult.objects.filter(releve_id__in=fresh).only(
        "releve_id", "fingerprint", "rule_version", "severity", "message", "releve_version", "waived_by_id"
    ):
        existing[result.releve_id][result.fingerprint] = result
    now = timezone.now()
    to_create: list[tuple[Any, ...]] = []  # new findings, as _copy_results writes them
    to_update: list[QCResult] = []
    to_delete: list[int] = []
    worst: dict[int, str] = {}
    open_counts: dict[int, tuple[int, int]] = {}
    targets: dict[int, str] = {}
    content_changed: list[int] = []
    for rid, found in per_releve.items():
        old = existing.get(rid, {})
        gone = [r.pk for fp, r in old.items() if fp not in found]
        to_delete.extend(gone)
        changed = bool(gone)
        unwaived_rank = 0
        unwaived: Counter[str] = Counter()
        for fp, f in found.items():
            row = old.get(fp)
            if row is None:
                to_create.append(
                    (rid, f.rule, f.rule_version, f.severity.value, f.message, f.details, fp, batch.versions[rid])
                )
                changed = True
                unwaived_rank = max(unwaived_rank, f.severity.rank)  # a new finding has no waiver
                unwaived[f.severity.value] += 1
                continue
            if (row.rule_version, row.severity, row.message, row.releve_version) != (
                f.rule_version,
                f.severity.value,
                f.message,
                batch.versions[rid],
            ):
                row.rule_version, row.severity, row.message = f.rule_version, f.severity.value, f.message
                row.releve_version = batch.versions[rid]
                to_update.append(row)
                changed = True
            if not row.is_waived:
                unwaived_rank = max(unwaived_rank, f.severity.rank)
                unwaived[f.severity.value] += 1
        open_counts[rid] = (unwaived[Severity.ERROR.value], unwaived[Severity.WARNING.value])
        worst[rid] = {3: "error", 2: "warning", 1: "info", 0: ""}[
            max((f.severity.rank for f in found.values()), default=0)
        ]
        outcome.findings += len(found)
        new_status = ReleveStatus.QC_FLAGGED if unwaived_rank >= Severity.WARNING.rank else ReleveStatus.QC_PASSED
        if batch.statuses[rid] in QC_STATUSES and batch.statuses[rid] != new_status:
            targets[rid] = new_status
        if changed:
            content_changed.append(rid)
    # One bulk status change for the chunk: the status is read again under the row lock, so a relevé a
    # coordinator decided on since the snapshot keeps that decision (only_from).
    moved = releve_set_status_many(targets=targets, actor=None, only_from=QC_STATUSES)
    ReviewEvent.objects.bulk_create(
        [
            ReviewEvent(
                releve_id=change.releve_id,
                actor=None,
                action=ReviewAction.QC,
                from_status=change.from_status,
                to_status=change.to_status,
                comment=f"{len(per_releve[change.releve_id])} QC finding(s)",
                releve_version=change.version,
                created_at=now,
            )
            for change in moved
        ]
    )
    # A status change is already a change-log row; other relevés whose findings changed get one.
    status_changed = {change.releve_id for change in moved}
    releve_record_changes(releve_ids=[rid for rid in content_changed if rid not in status_changed])
    QCResult.objects.filter(pk__in=to_delete).delete()
    _copy_results(to_create, created_at=now)
    QCResult.objects.bulk_update(to_update, ["rule_version", "severity", "message", "releve_version"])
    ReleveQCState.objects.bulk_create(
        [
            ReleveQCState(
                releve_id=rid, checked_at=now, releve_version=batch.versions[rid], rule_versions=versions,
                rules_signature=signature, worst_severity=worst[rid], open_errors=open_counts[rid][0],
                open_warnings=open_counts[rid][1],
            )
            for rid in per_releve
        ],
        update_conflicts=True,
        unique_fields=["releve"],
        update_fields=["checked_at", "releve_version", "rule_versions", "rules_signature", "worst_severity",
                       "open_errors", "open_warnings"],
    )  # fmt: skip
    outcome.checked = len(per_releve)
    return outcome


def _copy_results(rows: Sequence[tuple[Any, ...]], *, created_at: Any) -> None:
    """Insert new findings — (relevé id, rule, rule version, severity, message, details, fingerprint, relevé
    version) — with COPY: a first pass writes tens of thousands of them, and building a model instance and
    binding ten parameters for each costs more than evaluating the rules. New findings carry no waiver."""
    if not rows:
        return
    from psycopg.types.json import Jsonb

    columns = ("releve_id", "rule", "rule_version", "severity", "message", "details", "fingerprint",
               "releve_version", "created_at", "waive_reason")  # fmt: skip
    with connection.cursor() as cursor:
        sql = f"COPY {QCResult._meta.db_table} ({', '.join(columns)}) FROM STDIN"
        with cursor.cursor.copy(sql) as copy:
            for rid, rule, version, severity, message, details, fingerprint, releve_version in rows:
                copy.write_row((rid, rule, version, severity, message, Jsonb(details), fingerprint, releve_version,
                                created_at, ""))  # fmt: skip


def qc_schedule(*, releve_ids: Sequence[int]) -> None:
    """Run QC on these relevés after the current transaction commits (Celery): after an accepted push and
    after a photo upload completes (``QC_RUN_ON_PUSH`` switches both off)."""
    from django.conf import settings

    from fieldcollect.tasks import releve_run_qc_task

    ids = list(releve_ids)
    if ids and settings.QC_RUN_ON_PUSH:
        # robust: the relevés are committed; a broker outage must not fail their push (manage.py qc_catch_up
        # queues the relevés whose QC never ran once the broker is back).
        transaction.on_commit(lambda: releve_run_qc_task.delay(ids), robust=True)


def qc_run_campaign_start(
    *, campaign: Campaign, requested_by: Any, reason: str = "", only_stale: bool = False
) -> QCRun:
    """Create a campaign-wide QC run and schedule it; progress is on the ``QCRun`` row."""
    from fieldcollect.tasks import qc_run_campaign_task

    run = QCRun.objects.create(campaign=campaign, requested_by=requested_by, reason=reason, only_stale=only_stale)
    transaction.on_commit(lambda: qc_run_campaign_task.delay(run.pk))
    return run


def qc_run_campaign(*, run: QCRun, chunk: int = CHUNK) -> QCRun:
    """Process a campaign QC run chunk by chunk, committing progress after each chunk (re-entrant)."""
    _, signature = rules_signature()
    releves = Releve.objects.filter(campaign_id=run.campaign_id, deleted_at__isnull=True)
    if run.only_stale:
        releves = releves.exclude(qc_state__rules_signature=signature)
    ids = list(releves.order_by("observer_id", "observed_at", "id").values_list("id", flat=True))
    QCRun.objects.filter(pk=run.pk).update(
        state=QCRun.State.RUNNING, total=len(ids), done=0, findings=0, started_at=timezone.now()
    )
    done = findings = 0
    try:
        for start in range(0, len(ids), chunk):
            result = releve_run_qc(releve_ids=ids[start : start + chunk])
            done += len(ids[start : start + chunk])
            findings += result.findings
            QCRun.objects.filter(pk=run.pk).update(done=done, findings=findings)
    except Exception as exc:
        QCRun.objects.filter(pk=run.pk).update(
            state=QCRun.State.FAILED, error=repr(exc)[:2000], finished_at=timezone.now()
        )
        raise
    QCRun.objects.filter(pk=run.pk).update(state=QCRun.State.DONE, finished_at=timezone.now())
    run.refresh_from_db()
    return run
