"""The built-in synthetic habitat classes: ecological niches and spectral make-up (plausible, not measured)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

# Endmember reflectances for the ten Sentinel-2 bands B02 B03 B04 B05 B06 B07 B08 B8A B11 B12.
S2_BANDS = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
ENDMEMBERS = {
    "green": (0.03, 0.06, 0.03, 0.10, 0.25, 0.32, 0.38, 0.40, 0.20, 0.10),
    "dry": (0.06, 0.08, 0.10, 0.13, 0.17, 0.20, 0.23, 0.24, 0.30, 0.22),
    "soil": (0.10, 0.13, 0.16, 0.19, 0.21, 0.23, 0.25, 0.26, 0.32, 0.27),
    "water": (0.06, 0.05, 0.03, 0.02, 0.015, 0.01, 0.01, 0.01, 0.005, 0.003),
    "urban": (0.12, 0.13, 0.14, 0.15, 0.16, 0.17, 0.18, 0.18, 0.20, 0.19),
}


@dataclass(frozen=True)
class SyntheticClass:
    """A habitat class of the synthetic landscape.

    Niche: Gaussian preferences on altitude (m), moisture (0–1) and disturbance (0–1).
    Spectrum: shares of the endmembers at the seasonal peak, how much greenness varies over the year
    (0 evergreen … 1 crop harvested bare) and the month of the peak.
    """

    value: int
    name: str
    altitude: tuple[float, float]
    moisture: tuple[float, float]
    disturbance: tuple[float, float]
    mix: tuple[float, float, float, float, float]  # green, dry, soil, water, urban
    seasonality: float = 0.2
    peak_month: float = 5.5


def _c(value, name, alt, moist, dist, mix, season=0.2, peak=5.5) -> SyntheticClass:  # type: ignore[no-untyped-def]
    return SyntheticClass(value, name, alt, moist, dist, mix, season, peak)


DEFAULT_CLASSES: tuple[SyntheticClass, ...] = (
    _c(1, "Urban and built-up areas", (150, 400), (0.4, 0.3), (0.95, 0.06), (0.1, 0.05, 0.1, 0.0, 0.75), 0.05),
    _c(2, "Arable land, annual crops", (150, 250), (0.45, 0.2), (0.75, 0.1), (0.7, 0.1, 0.2, 0.0, 0.0), 0.9, 5.0),
    _c(3, "Vineyards", (100, 200), (0.3, 0.15), (0.7, 0.1), (0.35, 0.1, 0.55, 0.0, 0.0), 0.5, 7.0),
    _c(4, "Olive groves and orchards", (150, 200), (0.3, 0.15), (0.6, 0.1), (0.45, 0.15, 0.4, 0.0, 0.0), 0.2, 6.0),
    _c(5, "Mesic hay meadows", (500, 400), (0.55, 0.15), (0.45, 0.12), (0.85, 0.1, 0.05, 0.0, 0.0), 0.5, 5.5),
    _c(6, "Dry calcareous grasslands", (450, 350), (0.2, 0.12), (0.3, 0.15), (0.45, 0.4, 0.15, 0.0, 0.0), 0.5, 4.5),
    _c(
        7, "Alpine and subalpine grasslands", (2200, 350), (0.5, 0.2), (0.15, 0.12), (0.6, 0.3, 0.1, 0.0, 0.0), 0.6, 7.5
    ),
    _c(8, "Wet meadows", (300, 300), (0.85, 0.1), (0.35, 0.15), (0.9, 0.05, 0.0, 0.05, 0.0), 0.4, 6.0),
    _c(
        9,
        "Garrigues (low Mediterranean scrub)",
        (200, 200),
        (0.15, 0.1),
        (0.25, 0.12),
        (0.4, 0.35, 0.25, 0.0, 0.0),
        0.15,
        4.0,
    ),
    _c(
        10, "Maquis (tall Mediterranean scrub)", (300, 250), (0.3, 0.1), (0.2, 0.1), (0.7, 0.2, 0.1, 0.0, 0.0), 0.1, 4.5
    ),
    _c(11, "Heathlands", (900, 400), (0.45, 0.15), (0.2, 0.12), (0.55, 0.35, 0.1, 0.0, 0.0), 0.25, 7.0),
    _c(
        12,
        "Subalpine scrub (Rhododendron, juniper)",
        (1900, 250),
        (0.5, 0.15),
        (0.1, 0.1),
        (0.7, 0.25, 0.05, 0.0, 0.0),
        0.35,
        7.0,
    ),
    _c(13, "Holm oak forests", (300, 250), (0.3, 0.12), (0.15, 0.1), (0.8, 0.15, 0.05, 0.0, 0.0), 0.05, 5.0),
    _c(14, "Downy oak forests", (600, 300), (0.4, 0.12), (0.15, 0.1), (0.85, 0.1, 0.05, 0.0, 0.0), 0.4, 6.0),
    _c(15, "Beech forests", (1200, 300), (0.6, 0.12), (0.1, 0.08), (0.9, 0.05, 0.05, 0.0, 0.0), 0.5, 6.5),
    _c(16, "Silver fir forests", (1400, 250), (0.65, 0.12), (0.1, 0.08), (0.85, 0.1, 0.05, 0.0, 0.0), 0.05, 6.5),
    _c(17, "Scots pine forests", (1100, 350), (0.35, 0.12), (0.15, 0.1), (0.75, 0.2, 0.05, 0.0, 0.0), 0.05, 6.0),
    _c(18, "Mountain pine forests", (1900, 250), (0.35, 0.15), (0.1, 0.08), (0.7, 0.2, 0.1, 0.0, 0.0), 0.05, 7.0),
    _c(19, "Riparian forests", (200, 250), (0.9, 0.08), (0.3, 0.12), (0.9, 0.05, 0.0, 0.05, 0.0), 0.45, 6.0),
    _c(20, "Sweet chestnut woods", (600, 250), (0.55, 0.12), (0.25, 0.1), (0.88, 0.07, 0.05, 0.0, 0.0), 0.45, 6.5),
    _c(21, "Hedgerows and small woods", (250, 250), (0.5, 0.15), (0.55, 0.1), (0.8, 0.1, 0.1, 0.0, 0.0), 0.35, 6.0),
    _c(22, "Reedbeds", (20, 60), (0.95, 0.05), (0.3, 0.15), (0.65, 0.15, 0.0, 0.2, 0.0), 0.45, 7.0),
    _c(23, "Coastal lagoons", (0, 8), (1.0, 0.04), (0.2, 0.2), (0.05, 0.0, 0.0, 0.95, 0.0), 0.05, 7.0),
    _c(24, "Salt marshes and salt steppes", (3, 15), (0.85, 0.08), (0.2, 0.15), (0.35, 0.35, 0.2, 0.1, 0.0), 0.2, 7.0),
    _c(25, "Coastal dunes and sandy beaches", (5, 15), (0.25, 0.15), (0.3, 0.2), (0.15, 0.15, 0.7, 0.0, 0.0), 0.1, 5.0),
    _c(26, "Rivers and lakes", (300, 600), (1.0, 0.03), (0.3, 0.25), (0.0, 0.0, 0.05, 0.95, 0.0), 0.0, 6.0),
    _c(27, "Screes", (2100, 400), (0.25, 0.15), (0.1, 0.1), (0.05, 0.1, 0.85, 0.0, 0.0), 0.05, 7.0),
    _c(
        28,
        "Inland cliffs and rock outcrops",
        (1300, 700),
        (0.15, 0.12),
        (0.1, 0.1),
        (0.1, 0.1, 0.8, 0.0, 0.0),
        0.05,
        6.0,
    ),
    _c(29, "Conifer plantations", (800, 300), (0.45, 0.15), (0.5, 0.1), (0.85, 0.1, 0.05, 0.0, 0.0), 0.03, 6.0),
    _c(
        30,
        "Fallow land and ruderal vegetation",
        (200, 250),
        (0.35, 0.15),
        (0.8, 0.1),
        (0.5, 0.3, 0.2, 0.0, 0.0),
        0.5,
        5.0,
    ),
)


def classes_for_legend(classes: Sequence[tuple[int, str]]) -> list[SyntheticClass]:
    """Give each (value, name) of a legend the niche and spectrum of a built-in class.

    A built-in class whose name matches is used; otherwise the classes take the built-in niches in order
    (cycling), so any legend gets a plausible, deterministic landscape.
    """
    by_name = {c.name.lower(): c for c in DEFAULT_CLASSES}
    out: list[SyntheticClass] = []
    values = [value for value, _ in classes]
    if len(set(values)) != len(values) or any(not 0 < value <= 65535 for value in values):
        raise ValueError("class values must be unique and within 1…65535")
    for index, (value, name) in enumerate(classes):
        template = by_name.get(name.lower(), DEFAULT_CLASSES[index % len(DEFAULT_CLASSES)])
        out.append(replace(template, value=value, name=name))
    return out
