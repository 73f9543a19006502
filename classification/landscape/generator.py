"""Generate a SYNTHETIC landscape over part of the real Occitanie boundary, block by block, as COGs.

Everything is a deterministic function of the seed and of the cell's coordinates (noise lattices are
drawn from the seed, per-pixel noise from the seed and the block's position), so the same seed gives
the same files whatever the block order, and memory stays constant whatever the size.

The relief follows the real geography coarsely: the Pyrenees rise along the Spanish border, the Massif
Central in the north-east, plains in between and lowlands, lagoons and dunes along the Mediterranean
(cells outside the region south of 6,280 km N and east of 695 km E are taken as sea). Cells outside the
region boundary are nodata in every product.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.features import rasterize
from rasterio.warp import transform_geom
from rasterio.windows import Window
from scipy import ndimage

from classification.rasters.features import slope_aspect

from .classes import DEFAULT_CLASSES, ENDMEMBERS, S2_BANDS, SyntheticClass

LAMBERT93 = 2154
GENERATOR = "classification.landscape 1"
DEM_NODATA = -9999.0
PRODUCTS = ("dem", "slope", "aspect", "habitat", "s2")
SYNTHETIC_NOTE = "SYNTHETIC demo landscape — generated, not real data"


@dataclass(frozen=True)
class LandscapeSpec:
    """What to generate: a window of ``width`` × ``height`` cells whose top-left corner is (xmin, ymax)."""

    xmin: float
    ymax: float
    width: int
    height: int
    resolution: float = 10.0
    seed: int = 0
    dates: tuple[str, ...] = ("2027-04-15", "2027-06-15", "2027-08-15")
    cloud_cover: float = 0.1
    products: tuple[str, ...] = PRODUCTS
    classes: tuple[SyntheticClass, ...] = DEFAULT_CLASSES
    block: int = 512
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def transform(self) -> Affine:
        return Affine(self.resolution, 0.0, self.xmin, 0.0, -self.resolution, self.ymax)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        r = self.resolution
        return (self.xmin, self.ymax - self.height * r, self.xmin + self.width * r, self.ymax)


def region_from_geojson(path: str | Path) -> dict[str, Any]:
    """The region's geometry from a GeoJSON file in EPSG:4326, as a Lambert-93 GeoJSON-like mapping.

    Only the geometry members are read; any CRS member of the file is ignored.
    """
    document = json.loads(Path(path).read_text(encoding="utf-8"))
    features = document["features"] if document.get("type") == "FeatureCollection" else [document]
    polygons: list[Any] = []
    for feature in features:
        geometry = feature.get("geometry", feature)
        if geometry["type"] == "Polygon":
            polygons.append(geometry["coordinates"])
        elif geometry["type"] == "MultiPolygon":
            polygons.extend(geometry["coordinates"])
    return transform_geom("EPSG:4326", f"EPSG:{LAMBERT93}", {"type": "MultiPolygon", "coordinates": polygons})


class _Noise:
    """Smooth value noise in metres: lattices of random values drawn from the seed, Hermite-interpolated."""

    def __init__(self, seed: int, field_id: int, bounds: tuple[float, float, float, float], scales: Sequence[float]):
        self.x0, self.y1 = bounds[0], bounds[3]
        self.layers = []
        for octave, scale in enumerate(scales):
            nx = math.ceil((bounds[2] - bounds[0]) / scale) + 3
            ny = math.ceil((bounds[3] - bounds[1]) / scale) + 3
            lattice = np.random.default_rng([seed, field_id, octave]).random((ny, nx), dtype=np.float32)
            self.layers.append((scale, lattice))
        weights = np.array([scale for scale, _ in self.layers], dtype=np.float64)
        self.weights = weights / weights.sum()  # larger features weigh more (a 1/f spectrum)

    def __call__(self, x: np.ndarray, y: np.ndarray, *, clip: bool = True) -> np.ndarray:
        out = np.zeros(x.shape, dtype=np.float32)
        for weight, (scale, lattice) in zip(self.weights, self.layers, strict=True):
            fx = (x - self.x0) / scale
            fy = (self.y1 - y) / scale
            # Clipped so that points just outside the lattice (offset fields) reuse its edge.
            ix = np.clip(np.floor(fx).astype(np.int64), 0, lattice.shape[1] - 2)
            iy = np.clip(np.floor(fy).astype(np.int64), 0, lattice.shape[0] - 2)
            tx = (fx - ix).astype(np.float32)
            ty = (fy - iy).astype(np.float32)
            tx = tx * tx * (3 - 2 * tx)
            ty = ty * ty * (3 - 2 * ty)
            top = lattice[iy, ix] * (1 - tx) + lattice[iy, ix + 1] * tx
            bottom = lattice[iy + 1, ix] * (1 - tx) + lattice[iy + 1, ix + 1] * tx
            out += np.float32(weight) * (top * (1 - ty) + bottom * ty)
        # Sums of uniform lattices concentrate around 0.5: stretch back to a usable 0–1 spread.
        stretched = (out - 0.5) * 2.2 + 0.5
        return np.clip(stretched, 0, 1) if clip else stretched


def _smoothstep(a: float, b: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - a) / (b - a), 0, 1)
    return t * t * (3 - 2 * t)


class _Context:
    """Coarse geography around the window: region mask, distance to the sea, mountain influence."""

    CELL = 500.0
    MARGIN = 60_000.0

    def __init__(self, spec: LandscapeSpec, region: dict[str, Any]) -> None:
        b = spec.bounds
        self.xmin, self.ymax = b[0] - self.MARGIN, b[3] + self.MARGIN
        width = math.ceil((b[2] - b[0] + 2 * self.MARGIN) / self.CELL)
        height = math.ceil((b[3] - b[1] + 2 * self.MARGIN) / self.CELL)
        transform = Affine(self.CELL, 0, self.xmin, 0, -self.CELL, self.ymax)
        inside = rasterize([(region, 1)], out_shape=(height, width), transform=transform, fill=0, dtype="uint8") == 1
        cols, rows = np.meshgrid(np.arange(width), np.arange(height))
        x = self.xmin + (cols + 0.5) * self.CELL
        y = self.ymax - (rows + 0.5) * self.CELL
        sea = ~inside & (y < 6_280_000) & (x > 695_000)
        spain = ~inside & ~sea & (y < 6_250_000)
        self.sea_distance = ndimage.distance_transform_edt(~sea) * self.CELL if sea.any() else np.full(sea.shape, 1e6)
        spain_distance = ndimage.distance_transform_edt(~spain) * self.CELL if spain.any() else np.full(sea.shape, 1e6)
        pyrenees = np.exp(-spain_distance / 30_000.0)
        massif = 0.55 * _smoothstep(6_290_000, 6_380_000, y) * _smoothstep(600_000, 680_000, x)
        self.mountain = np.clip(np.maximum(pyrenees, massif), 0, 1)

    def sample(self, grid: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        coords = np.array([(self.ymax - y) / self.CELL - 0.5, (x - self.xmin) / self.CELL - 0.5])
        return ndimage.map_coordinates(grid, coords, order=1, mode="nearest").astype(np.float32)


class _Landscape:
    def __init__(self, spec: LandscapeSpec, region: dict[str, Any]) -> None:
        self.spec = spec
        self.region = region
        self.context = _Context(spec, region)
        margin = 5 * spec.resolution
        b = spec.bounds
        ext = (b[0] - margin, b[1] - margin, b[2] + margin, b[3] + margin)
        s = spec.seed
        self.hills = _Noise(s, 1, ext, (16_000, 6_000, 2_000, 600))
        self.ridges = _Noise(s, 2, ext, (12_000, 5_000, 1_500, 400))
        self.moisture_noise = _Noise(s, 3, ext, (8_000, 2_500, 700))
        self.rivers = _Noise(s, 4, ext, (9_000, 3_000))
        self.disturbance_noise = _Noise(s, 5, ext, (10_000, 3_000, 900, 300))
        self.patches = _Noise(s, 6, ext, (1_500, 500, 150))
        self.patches2 = _Noise(s, 7, ext, (4_000, 900, 250))
        self.lagoons = _Noise(s, 8, ext, (3_000, 1_000))
        self.clouds = [_Noise(s, 100 + i, ext, (6_000, 2_000, 600)) for i in range(len(spec.dates))]
        self.cloud_thresholds = [self._cloud_threshold(noise) for noise in self.clouds]
        classes = spec.classes
        self.values = np.array([c.value for c in classes], dtype=np.uint16)
        self.niche = np.array([[*c.altitude, *c.moisture, *c.disturbance] for c in classes], dtype=np.float32)
        weights_rng = np.random.default_rng([s, 50])
        self.patch_weights = weights_rng.normal(0, 1.2, size=(len(classes), 2)).astype(np.float32)
        self.spectra = self._spectra(weights_rng)

    def _cloud_threshold(self, noise: _Noise) -> float:
        """The noise level above which a pixel is cloudy, so that ``cloud_cover`` of the window is: the
        quantile of the noise over a regular grid of the window (the noise is smooth, a coarse grid is enough)."""
        if self.spec.cloud_cover <= 0:
            return 2.0
        b = self.spec.bounds
        n = 256
        xs = np.linspace(b[0], b[2], n, dtype=np.float64)
        ys = np.linspace(b[1], b[3], n, dtype=np.float64)
        gx, gy = np.meshgrid(xs, ys)
        return float(np.quantile(noise(gx, gy, clip=False), 1 - self.spec.cloud_cover))

    def _spectra(self, rng: np.random.Generator) -> np.ndarray:
        """Reflectance per date, class and band, from endmember shares, phenology and a class signature."""
        ends = np.array([ENDMEMBERS[k] for k in ("green", "dry", "soil", "water", "urban")])
        signature = rng.normal(0, 0.008, size=(len(self.spec.classes), len(S2_BANDS)))
        out = np.empty((len(self.spec.dates), len(self.spec.classes), len(S2_BANDS)), dtype=np.float32)
        for t, date in enumerate(self.spec.dates):
            day = dt.date.fromisoformat(date)
            month = day.month - 1 + (day.day - 1) / 30.0
            for k, c in enumerate(self.spec.classes):
                green, dry, soil, water, urban = c.mix
                greenness = 1 - c.seasonality * (0.5 - 0.5 * math.cos(2 * math.pi * (month - c.peak_month) / 12))
                lost = green * (1 - greenness)
                shares = np.array([green - lost, dry + 0.6 * lost, soil + 0.4 * lost, water, urban])
                out[t, k] = shares @ ends + signature[k]
        return np.clip(out, 0.001, 0.9)

    def fields(self, window: Window) -> dict[str, np.ndarray]:
        spec = self.spec
        r = spec.resolution
        # One cell of margin all round so slope and aspect have true neighbours at block edges.
        rows = np.arange(int(window.row_off) - 1, int(window.row_off + window.height) + 1)
        cols = np.arange(int(window.col_off) - 1, int(window.col_off + window.width) + 1)
        x, y = np.meshgrid(spec.xmin + (cols + 0.5) * r, spec.ymax - (rows + 0.5) * r)
        sea_d = self.context.sample(self.context.sea_distance, x, y)
        mountain = self.context.sample(self.context.mountain, x, y)
        inland = _smoothstep(0, 25_000, sea_d)
        ridge = 1 - np.abs(2 * self.ridges(x, y) - 1)
        elevation = (
            2.0
            + 180 * inland
            + 450 * self.hills(x, y) * _smoothstep(2_000, 40_000, sea_d)
            + mountain * 2600 * (0.35 + 0.65 * ridge)
        )
        lagoon = (sea_d < 4_000) & (self.lagoons(x, y) > 0.62)
        elevation = np.where(lagoon, 0.0, elevation).astype(np.float32)
        slope, aspect = slope_aspect(elevation, r)
        inner = (slice(1, -1), slice(1, -1))
        x, y, sea_d, mountain, elevation = x[inner], y[inner], sea_d[inner], mountain[inner], elevation[inner]
        river = np.abs(self.rivers(x, y) - 0.5) < 0.012 * (1 + 2 * _smoothstep(5, 0, slope))
        north = np.cos(np.radians(aspect)) * _smoothstep(2, 20, slope)
        moisture = (
            0.2
            + 0.45 * self.moisture_noise(x, y)
            + 0.1 * (1 - _smoothstep(0, 12, slope))
            + 0.35 * np.exp(-sea_d / 2_500)
            + 0.1 * north
            + 0.15 * np.clip(elevation / 2000, 0, 1)
        )
        moisture = np.where(river | lagoon[inner], 1.0, np.clip(moisture, 0, 0.97))
        disturbance = np.clip(
            1.2 * self.disturbance_noise(x, y) - 0.3 - 0.6 * mountain - 0.4 * _smoothstep(8, 30, slope), 0, 1
        )
        return {
            "x": x,
            "y": y,
            "elevation": elevation,
            "slope": slope,
            "aspect": aspect,
            "moisture": moisture.astype(np.float32),
            "disturbance": disturbance.astype(np.float32),
        }

    def habitat(self, f: dict[str, np.ndarray]) -> np.ndarray:
        n = self.niche
        env = [f["elevation"], f["moisture"], f["disturbance"]]
        p1, p2 = self.patches(f["x"], f["y"]) - 0.5, self.patches2(f["x"], f["y"]) - 0.5
        best = np.full(env[0].shape, -np.inf, dtype=np.float32)
        out = np.zeros(env[0].shape, dtype=np.uint16)
        for k in range(len(self.values)):
            score = -(((env[0] - n[k, 0]) / n[k, 1]) ** 2)
            score -= ((env[1] - n[k, 2]) / n[k, 3]) ** 2
            score -= ((env[2] - n[k, 4]) / n[k, 5]) ** 2
            score += 4 * (self.patch_weights[k, 0] * p1 + self.patch_weights[k, 1] * p2)
            better = score > best
            best = np.where(better, score, best)
            out[better] = self.values[k]
        return out

    def s2(self, t: int, habitat: np.ndarray, f: dict[str, np.ndarray], window: Window) -> np.ndarray:
        index = np.searchsorted(self.values, habitat) if np.all(np.diff(self.values) > 0) else None
        if index is None:
            lookup = {int(v): k for k, v in enumerate(self.values)}
            index = np.vectorize(lookup.get)(habitat)
        rng = np.random.default_rng([self.spec.seed, 200 + t, int(window.row_off), int(window.col_off)])
        within = 1 + 0.12 * (self.patches2(f["x"] + 777.0, f["y"]) - 0.5)
        illumination = 1 + 0.25 * np.cos(np.radians(f["aspect"] - 135)) * np.sin(np.radians(f["slope"]))
        base = self.spectra[t][index]  # (rows, cols, bands)
        noise = rng.normal(0, 0.008, size=base.shape).astype(np.float32)
        refl = base * (within * illumination)[..., None] + noise
        dn = np.clip(np.rint(refl * 10_000), 1, 65_535).astype(np.uint16)
        cloudy = self.clouds[t](f["x"], f["y"], clip=False) > self.cloud_thresholds[t]
        dn[cloudy] = 0
        return np.moveaxis(dn, -1, 0)


def _profile(spec: LandscapeSpec, count: int, dtype: str, nodata: float) -> dict[str, Any]:
    return {
        "driver": "GTiff",
        "width": spec.width,
        "height": spec.height,
        "count": count,
        "dtype": dtype,
        "crs": f"EPSG:{LAMBERT93}",
        "transform": spec.transform,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
    }


def landscape_generate(
    spec: LandscapeSpec,
    *,
    region: dict[str, Any],
    out_dir: str | Path,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Write the products of ``spec`` as tiled, compressed COGs in ``out_dir``; return the manifest.

    The manifest (also written as ``landscape.json``) lists every file with its kind, band names and date.
    """
    unknown = set(spec.products) - set(PRODUCTS)
    if unknown:
        raise ValueError(f"unknown products: {', '.join(sorted(unknown))}")
    if spec.width <= 0 or spec.height <= 0 or spec.resolution <= 0:
        raise ValueError("width, height and resolution must be positive")
    if not spec.classes:
        raise ValueError("at least one habitat class is needed")
    out = Path(out_dir)
    tmp = out / ".partial"
    tmp.mkdir(parents=True, exist_ok=True)
    land = _Landscape(spec, region)
    note = f"{SYNTHETIC_NOTE} (seed {spec.seed})"
    files: dict[str, dict[str, Any]] = {}

    def add(key: str, filename: str, kind: str, bands: list[str], dtype: str, nodata: float, **extra: Any) -> None:
        files[key] = {"file": filename, "kind": kind, "bands": bands, "dtype": dtype, "nodata": nodata, **extra}

    if "dem" in spec.products:
        add("dem", "dem.tif", "dem", ["elevation_m"], "float32", DEM_NODATA)
    if "slope" in spec.products:
        add("slope", "slope.tif", "slope", ["slope_deg"], "float32", DEM_NODATA)
    if "aspect" in spec.products:
        add("aspect", "aspect.tif", "aspect", ["aspect_deg"], "float32", DEM_NODATA)
    if "habitat" in spec.products:
        add("habitat", "habitat_true.tif", "habitat_map", ["habitat_class"], "uint16", 0, categorical=True)
    if "s2" in spec.products:
        for date in spec.dates:
            add(f"s2_{date}", f"s2_{date.replace('-', '')}.tif", "s2_band", list(S2_BANDS), "uint16", 0, date=date)

    datasets = {}
    try:
        for key, info in files.items():
            dataset = rasterio.open(
                tmp / info["file"], "w", **_profile(spec, len(info["bands"]), info["dtype"], info["nodata"])
            )
            dataset.update_tags(SYNTHETIC="yes", DESCRIPTION=note, GENERATOR=GENERATOR, SEED=str(spec.seed))
            for i, band in enumerate(info["bands"], start=1):
                dataset.set_band_description(i, f"{band} (SYNTHETIC)")
            datasets[key] = dataset
        windows = [
            Window(col, row, min(spec.block, spec.width - col), min(spec.block, spec.height - row))
            for row in range(0, spec.height, spec.block)
            for col in range(0, spec.width, spec.block)
        ]
        for done, window in enumerate(windows, start=1):
            window_transform = rasterio.windows.transform(window, spec.transform)
            outside = (
                rasterize(
                    [(region, 1)],
                    out_shape=(int(window.height), int(window.width)),
                    transform=window_transform,
                    fill=0,
                    dtype="uint8",
                )
                == 0
            )
            f = land.fields(window)
            habitat = land.habitat(f) if ("habitat" in datasets or any(k.startswith("s2_") for k in datasets)) else None
            for key, dataset in datasets.items():
                if key in ("dem", "slope", "aspect"):
                    data = f["elevation" if key == "dem" else key].astype(np.float32)
                    data[outside] = DEM_NODATA
                    dataset.write(data, 1, window=window)
                elif key == "habitat":
                    assert habitat is not None
                    dataset.write(np.where(outside, 0, habitat).astype(np.uint16), 1, window=window)
                else:
                    assert habitat is not None
                    t = spec.dates.index(files[key]["date"])
                    stack = land.s2(t, habitat, f, window)
                    stack[:, outside] = 0
                    dataset.write(stack, window=window)
            if progress is not None:
                progress(done, len(windows))
    finally:
        for dataset in datasets.values():
            dataset.close()
    for info in files.values():
        resampling = "MODE" if info.get("categorical") else "AVERAGE"
        rasterio.shutil.copy(
            tmp / info["file"],
            out / info["file"],
            driver="COG",
            COMPRESS="DEFLATE",
            PREDICTOR="YES",
            BLOCKSIZE=512,
            OVERVIEW_RESAMPLING=resampling,
            NUM_THREADS=2,
        )
    shutil.rmtree(tmp)
    manifest = {
        "synthetic": True,
        "description": note,
        "generator": GENERATOR,
        "spec": {k: v for k, v in asdict(spec).items() if k not in ("classes", "extra")},
        "crs": f"EPSG:{LAMBERT93}",
        "bounds": list(spec.bounds),
        "classes": [{"value": c.value, "name": c.name} for c in spec.classes],
        "files": files,
    }
    (out / "landscape.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest
