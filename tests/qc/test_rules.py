"""Each QC rule with a passing and a failing example (plain snapshots, no database)."""

from dataclasses import replace
from datetime import date

import pytest
from django.contrib.gis.geos import Polygon

from fieldcollect.services.qc import (
    REGISTRY,
    AltitudeRange,
    HabitatEntry,
    HabitatUnitInfo,
    LayerCover,
    PhotoEntry,
    Severity,
    SpeciesEntry,
    qc_evaluate,
    rules_all,
)

from .builders import ALPINE, FOREST, HERE, NOW, OBSERVED, clean_releve, context, later, species


def run(code, releve, ctx=None, others=()):
    ctx = ctx or context()
    ctx.add_population(o.as_ref() for o in others)
    report = qc_evaluate(snapshots=[releve], context=ctx, rules=[REGISTRY[code]])
    return [(f.severity.value, f.details) for f in report.findings]


def severities(code, releve, ctx=None, others=()):
    return [s for s, _ in run(code, releve, ctx, others)]


def test_clean_releve_passes_every_rule():
    # given a complete, plausible relevé and a context with every hook
    ctx = context(altitude_ranges={"R4": AltitudeRange(1400, 3300)})
    ctx.dem_altitude = {1: 310.0}
    # when all rules run
    report = qc_evaluate(snapshots=[clean_releve()], context=ctx)
    # then nothing is flagged
    assert report.findings == []
    assert len(report.rules) == len(REGISTRY) == 21


def test_registry_entries_are_described_and_versioned():
    for rule in rules_all():
        assert rule.version >= 1
        assert rule.description and "\n" not in rule.description
        assert rule.severity in Severity
    assert {r.code for r in rules_all(rasters=False)} == set(REGISTRY) - {
        "altitude.dem",
        "spectral.outlier",
        "plot.homogeneity",
    }


# --- geometry ------------------------------------------------------------------------------------


def test_geometry_valid_missing_location():
    assert run("geometry.valid", clean_releve(location=None)) == [("error", {"reason": "missing"})]
    assert run("geometry.valid", clean_releve(location=(float("nan"), 1.0))) == [("error", {"reason": "not_finite"})]


def test_geometry_valid_plot_footprint():
    # given a 5 m square footprint around the point: accepted
    square = Polygon.from_bbox((HERE[0] - 2.5, HERE[1] - 2.5, HERE[0] + 2.5, HERE[1] + 2.5))
    square.srid = 2154
    assert run("geometry.valid", clean_releve(plot=square)) == []
    # a bow-tie (self-intersecting) footprint is an error
    bowtie = Polygon(((0, 0), (10, 10), (10, 0), (0, 10), (0, 0)), srid=2154)
    assert severities("geometry.valid", clean_releve(plot=bowtie)) == ["error"]
    # a footprint 100 m away from the point, four times the declared area: two warnings
    far = Polygon.from_bbox((HERE[0] + 100, HERE[1], HERE[0] + 110, HERE[1] + 10))
    far.srid = 2154
    flags = run("geometry.valid", clean_releve(plot=far))
    assert [d["reason"] for _, d in flags] == ["location_outside_plot", "area_mismatch"]
    assert flags[0] == ("warning", {"reason": "location_outside_plot", "distance_m": 100.0})


def test_geometry_in_region():
    assert run("geometry.in_region", clean_releve()) == []
    flags = run("geometry.in_region", clean_releve(location=(810_000.0, 6_250_000.0)))
    assert flags == [("error", {"distance_m": 10_000.0, "x": 810_000.0, "y": 6_250_000.0})]


def test_gnss_accuracy():
    assert run("gnss.accuracy", clean_releve(gnss_accuracy_m=10.0)) == []
    assert severities("gnss.accuracy", clean_releve(gnss_accuracy_m=12.0)) == ["warning"]
    assert severities("gnss.accuracy", clean_releve(gnss_accuracy_m=35.0)) == ["error"]
    assert run("gnss.accuracy", clean_releve(gnss_accuracy_m=None)) == [("warning", {"reason": "missing"})]


def test_date_in_campaign():
    assert run("date.in_campaign", clean_releve()) == []
    # 21:30 UTC on 30 September is already 1 October in Paris: outside the campaign
    late = clean_releve(observed_at=OBSERVED.replace(month=9, day=30, hour=22, minute=30))
    autumn = context(now=NOW.replace(month=11))
    assert [d["reason"] for _, d in run("date.in_campaign", late, autumn)] == ["outside_period"]
    assert run("date.in_campaign", late, context(now=NOW.replace(month=11)))[0][1]["date"] == "2027-10-01"
    future = clean_releve(observed_at=NOW.replace(hour=13))
    assert [d["reason"] for _, d in run("date.in_campaign", future)] == ["future"]
    assert [d["reason"] for _, d in run("date.in_campaign", clean_releve(observed_at=None))] == ["missing"]
    naive = clean_releve(observed_at=OBSERVED.replace(tzinfo=None))
    assert [d["reason"] for _, d in run("date.in_campaign", naive)] == ["naive"]


# --- habitats ------------------------------------------------------------------------------------


def test_habitat_codes_valid():
    assert run("habitat.codes_valid", clean_releve()) == []
    unknown = clean_releve(habitats=(HabitatEntry(code_cited="22:99.99", unit=None),))
    assert run("habitat.codes_valid", unknown) == [("error", {"code": "22:99.99"})]
    deleted = HabitatUnitInfo(cd_hab=5, typology=22, code="31.8", validity="SUPPR")
    assert run("habitat.codes_valid", clean_releve(habitats=(HabitatEntry("cd_hab:5", deleted),))) == [
        ("error", {"cd_hab": 5, "validity": "SUPPR"})
    ]
    synonym = replace(deleted, validity="SYN")
    assert severities("habitat.codes_valid", clean_releve(habitats=(HabitatEntry("cd_hab:5", synonym),))) == ["warning"]
    assert run("habitat.codes_valid", clean_releve(habitats=())) == [("error", {"reason": "missing"})]


def test_habitat_legend_precision():
    assert run("habitat.legend_precision", clean_releve()) == []
    # level 2 unit (R1) of EUNIS 2022: the legend needs level 3
    general = HabitatUnitInfo(cd_hab=900, typology=107, code="R1", level=2)
    flags = run(
        "habitat.legend_precision", clean_releve(habitats=(HabitatEntry("cd_hab:900", general, map_class="R"),))
    )
    assert flags == [("warning", {"cd_hab": 900, "level": 2, "min_level": 3})]
    # a CORINE unit the legend does not map
    corine = HabitatUnitInfo(cd_hab=901, typology=22, code="34.32", level=3)
    flags = run("habitat.legend_precision", clean_releve(habitats=(HabitatEntry("cd_hab:901", corine),)))
    assert flags == [("warning", {"cd_hab": 901, "legend": "Occitanie habitats"})]


def test_habitat_mosaic_cover():
    mosaic = (
        HabitatEntry("cd_hab:1001", clean_releve().habitats[0].unit, cover_pct=70),
        HabitatEntry("cd_hab:2001", FOREST, cover_pct=28),
    )
    assert run("habitat.mosaic_cover", clean_releve(habitats=mosaic)) == []
    bad = (replace(mosaic[0], cover_pct=50), mosaic[1])
    assert run("habitat.mosaic_cover", clean_releve(habitats=bad)) == [("warning", {"total_pct": 78})]
    missing = (mosaic[0], replace(mosaic[1], cover_pct=None))
    assert run("habitat.mosaic_cover", clean_releve(habitats=missing)) == [("warning", {"codes": ["cd_hab:2001"]})]


# --- species -------------------------------------------------------------------------------------


def test_species_known():
    assert run("species.known", clean_releve()) == []
    entries = (
        SpeciesEntry(name_cited="Carex sp.", cd_nom=None, cd_ref=None),
        SpeciesEntry(name_cited="Quercus lanuginosa", cd_nom=9, cd_ref=10, accepted_name="Quercus pubescens"),
        SpeciesEntry(name_cited="Quercus pubescens", cd_nom=10, cd_ref=10, accepted_name="Quercus pubescens"),
        SpeciesEntry(name_cited="Bogus", cd_nom=99999999, known=False),
    )
    flags = run("species.known", clean_releve(species=entries))
    assert flags == [
        ("warning", {"name_cited": "Carex sp."}),
        ("info", {"cd_nom": 9, "cd_ref": 10, "accepted_name": "Quercus pubescens"}),
        ("warning", {"cd_ref": 10, "layer": "herb"}),
        ("error", {"cd_nom": 99999999, "name_cited": "Bogus"}),
    ]


def test_species_min_count():
    assert run("species.min_count", clean_releve()) == []
    assert run("species.min_count", clean_releve(species=species(3))) == [("warning", {"count": 3, "min": 5})]
    assert run("species.min_count", clean_releve(species=())) == [("warning", {"count": 0, "min": 5})]
    # a scree (EUNIS U) with two species is normal
    scree = HabitatEntry("cd_hab:7", HabitatUnitInfo(7, 107, "U2-7", level=3), eunis_codes=("U27",))
    assert run("species.min_count", clean_releve(species=species(2), habitats=(scree,))) == []


def test_layers_consistent():
    assert run("layers.consistent", clean_releve()) == []
    # a species at Braun-Blanquet 4 (at least 50 %) in a herb layer of 20 %
    dominant = (*species(4), replace(species(5)[4], braun_blanquet="4"))
    flags = run("layers.consistent", clean_releve(species=dominant, layers={"herb": LayerCover(cover_pct=20)}))
    assert flags == [
        ("warning", {"layer": "herb", "species": "Thymus serpyllum 4", "species_min_pct": 50.0, "layer_cover_pct": 20})
    ]
    # tree species but no tree cover; a 60 % shrub layer with no species
    trees = (*species(5), SpeciesEntry("Quercus pubescens", 10, cd_ref=10, layer="tree_1", braun_blanquet="3"))
    layers = {"herb": LayerCover(80), "shrub": LayerCover(60)}
    assert run("layers.consistent", clean_releve(species=trees, layers=layers)) == [
        ("warning", {"layer": "tree", "species": 1, "layer_cover_pct": None}),
        ("info", {"layer": "shrub", "layer_cover_pct": 60, "species": 0}),
    ]


# --- altitude ------------------------------------------------------------------------------------


def dem_context(value):
    ctx = context()
    ctx.dem_altitude = {1: value}
    return ctx


def test_altitude_dem():
    assert run("altitude.dem", clean_releve(), dem_context(320.0)) == []
    assert run("altitude.dem", clean_releve(), dem_context(400.0)) == [
        ("warning", {"altitude_m": 300.0, "dem_m": 400.0, "difference_m": -100.0})
    ]
    assert severities("altitude.dem", clean_releve(), dem_context(900.0)) == ["error"]
    assert run("altitude.dem", clean_releve(altitude_m=None), dem_context(412.34)) == [("info", {"dem_m": 412.3})]
    assert run("altitude.dem", clean_releve(), dem_context(None)) == []


def test_habitat_altitude_range():
    ranges = {"R4": AltitudeRange(1400, 3300)}
    alpine = (HabitatEntry("cd_hab:3001", ALPINE, map_class="R4", eunis_codes=("R43",)),)
    ctx = context(altitude_ranges=ranges)
    # given an alpine grassland recorded at 1,800 m: accepted
    assert run("habitat.altitude_range", clean_releve(habitats=alpine, altitude_m=1800.0), ctx) == []
    # the DEM (300 m) wins over the recorded altitude
    ctx = context(altitude_ranges=ranges)
    ctx.dem_altitude = {1: 300.0}
    assert run("habitat.altitude_range", clean_releve(habitats=alpine, altitude_m=1800.0), ctx) == [
        (
            "warning",
            {"code": "R4-3", "eunis_prefix": "R4", "low_m": 1400, "high_m": 3300, "altitude_m": 300.0, "source": "DEM"},
        )
    ]


# --- habitat vs characteristic species -----------------------------------------------------------------


def test_habitat_characteristic_species():
    # the grassland species support the grassland
    assert run("habitat.characteristic_species", clean_releve()) == []
    # the same list under an oak forest code: weakly supported, the grassland (all of its diagnostic and
    # constant species present: score 1) suggested
    forest = (HabitatEntry("cd_hab:2001", FOREST, map_class="T1", eunis_codes=("T19",)),)
    flags = run("habitat.characteristic_species", clean_releve(habitats=forest))
    assert flags == [
        (
            "warning",
            {"eunis_code": "T19", "score": 0.0, "suggestions": [{"eunis_code": "R1A", "score": 1.0}]},
        )
    ]


def test_characteristic_scores_are_weighted_shares():
    from .builders import characteristic_index

    index = characteristic_index()
    # bromus (40 of 90 phi, 80 of 80 constant) + salvia (30) → 0.7 × 70/90 + 0.3 × 1
    assert index.scores([(None, "bromus erectus"), (None, "salvia pratensis")]) == {
        "R1A": pytest.approx(0.7 * 70 / 90 + 0.3)
    }


# --- between plots -------------------------------------------------------------------------------


def test_near_duplicate():
    twin = clean_releve(key=2, location=(HERE[0] + 3, HERE[1] + 4))
    far = clean_releve(key=3, location=(HERE[0] + 300, HERE[1]))
    assert run("plots.near_duplicate", clean_releve(), others=[far]) == []
    assert run("plots.near_duplicate", clean_releve(), others=[twin]) == [
        ("warning", {"other": "2", "distance_m": 5.0, "jaccard": 1.0})
    ]
    # close but with other habitats and species: a neighbouring plot, not a duplicate
    neighbour = replace(twin, species=species(0), habitats=(HabitatEntry("x", FOREST),))
    assert run("plots.near_duplicate", clean_releve(), others=[neighbour]) == []


def test_sample_point_distance():
    assert run("sample_point.distance", clean_releve()) == []
    assert run("sample_point.distance", clean_releve(sample_point=(HERE[0] + 60, HERE[1] + 80))) == [
        ("warning", {"distance_m": 100.0, "limit_m": 30.0})
    ]
    assert severities("sample_point.distance", clean_releve(sample_point=(HERE[0] + 600, HERE[1]))) == ["error"]
    assert run("sample_point.distance", clean_releve(sample_point=None)) == []


def test_travel_speed():
    # 20 km in 30 minutes (40 km/h) is plausible
    before = clean_releve(key=2, location=(HERE[0] - 20_000, HERE[1]), observed_at=later(-30))
    assert run("travel.speed", clean_releve(), others=[before]) == []
    # 60 km in 10 minutes (360 km/h) is not
    teleport = clean_releve(key=3, location=(HERE[0] + 60_000, HERE[1]), observed_at=later(10))
    assert run("travel.speed", clean_releve(), others=[before, teleport]) == [
        ("warning", {"other": "3", "distance_m": 60_000.0, "minutes": 10.0, "speed_kmh": 360.0})
    ]
    # another botanist's plot does not count
    other_observer = replace(teleport, observer_id=8)
    assert run("travel.speed", clean_releve(), others=[other_observer]) == []


# --- photos --------------------------------------------------------------------------------------


def test_photos_present():
    assert run("photos.present", clean_releve()) == []
    assert run("photos.present", clean_releve(photos=())) == [("warning", {"declared": 0})]
    pending = (*clean_releve().photos, PhotoEntry(uuid="p2", sha256="b" * 64, complete=False))
    assert run("photos.present", clean_releve(photos=pending)) == [("info", {"missing": ["p2"]})]


def test_photos_exif_consistent():
    assert run("photos.exif_consistent", clean_releve()) == []
    far_late = PhotoEntry(uuid="p9", sha256="c" * 64, exif_time=later(5 * 60), exif_xy=(HERE[0], HERE[1] + 2_000))
    assert run("photos.exif_consistent", clean_releve(photos=(far_late,))) == [
        ("warning", {"photo": "p9", "distance_m": 2000.0, "limit_m": 100.0}),
        ("warning", {"photo": "p9", "lag_s": 18_000, "limit_s": 10_800.0}),
    ]


def test_photos_reused():
    other = clean_releve(key=2, location=(HERE[0] + 5_000, HERE[1]), photos=(PhotoEntry("p7", "d" * 64),))
    assert run("photos.reused", clean_releve(), others=[other]) == []
    same_bytes = replace(other, photos=(PhotoEntry("p7", "a" * 64),))
    assert run("photos.reused", clean_releve(), others=[same_bytes]) == [
        ("warning", {"photo": "p1", "sha256": "a" * 64, "others": ["2"]})
    ]


# --- raster hooks --------------------------------------------------------------------------------


class Features:
    """A feature source over fixed vectors (stands for the raster catalogue's extraction)."""

    def __init__(self, plots, reference):
        self.plots, self.reference = plots, reference
        self.asked = []

    def features(self, keys):
        self.asked.append(list(keys))
        return {k: self.plots[k] for k in keys if k in self.plots}

    def class_reference(self, map_class):
        return dict(enumerate(self.reference.get(map_class, []), start=100))


def test_spectral_outlier():
    reference = {"R1": [[0.30 + 0.01 * (i % 5), 0.60 - 0.01 * (i % 3)] for i in range(20)]}
    typical = context(spectral=Features({1: [0.32, 0.59]}, reference))
    assert run("spectral.outlier", clean_releve(), typical) == []
    atypical = context(spectral=Features({1: [0.05, 0.95]}, reference))
    [(severity, details)] = run("spectral.outlier", clean_releve(), atypical)
    assert (severity, details["map_class"], details["reference_plots"]) == ("warning", "R1", 20)
    assert details["z"] > 3.5
    # fewer than 10 validated plots of the class: nothing to compare with, and no feature is even read
    few = context(spectral=Features({1: [0.05, 0.95]}, {"R1": reference["R1"][:5]}))
    assert run("spectral.outlier", clean_releve(), few) == []
    assert few.spectral.asked == []
    assert atypical.spectral.asked == [[1]]


class Variability:
    def __init__(self, values):
        self.values = values

    def variability(self, keys):
        return {k: self.values[k] for k in keys if k in self.values}


def test_plot_homogeneity():
    assert run("plot.homogeneity", clean_releve(), context(homogeneity=Variability({1: 0.1}))) == []
    assert run("plot.homogeneity", clean_releve(), context(homogeneity=Variability({1: 0.6}))) == [
        ("warning", {"cv": 0.6, "limit": 0.35})
    ]


# --- partial relevés -----------------------------------------------------------------------------


def test_partial_releve_is_reported_not_crashed():
    # given a relevé with nothing but a key
    from fieldcollect.services.qc import ReleveSnapshot

    bare = ReleveSnapshot(key="bare")
    ctx = context(altitude_ranges={"R4": AltitudeRange(1400, 3300)})
    # when every rule runs
    report = qc_evaluate(snapshots=[bare], context=ctx)
    # then the owning rules report what is missing, and no rule failed
    assert sorted((f.rule, f.severity.value) for f in report.findings) == [
        ("date.in_campaign", "error"),
        ("geometry.valid", "error"),
        ("gnss.accuracy", "warning"),
        ("habitat.codes_valid", "error"),
        ("photos.present", "warning"),
        ("species.min_count", "warning"),
    ]


def test_failing_rule_is_reported_on_the_releve():
    from fieldcollect.services.qc.registry import Rule

    def broken(releve, ctx):
        raise ZeroDivisionError("boom")

    rule = Rule("test.broken", Severity.INFO, 1, "always fails", broken)
    report = qc_evaluate(snapshots=[clean_releve()], context=context(), rules=[rule])
    assert [(f.rule, f.severity.value, f.details["rule"]) for f in report.findings] == [
        ("qc.rule_failed", "warning", "test.broken")
    ]


def test_campaign_period_boundaries_are_inclusive():
    ctx = context()
    first_day = clean_releve(observed_at=OBSERVED.replace(month=4, day=1, hour=6))
    assert run("date.in_campaign", first_day, ctx) == []
    assert ctx.campaign.starts_on == date(2027, 4, 1)
