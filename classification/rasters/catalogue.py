"""Read a raster's metadata and decide whether the catalogue can use it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import rasterio
from rasterio.errors import RasterioIOError
from rasterio.warp import transform_bounds

LAMBERT93 = 2154
# Source CRSs a raster may be reprojected from, by EPSG code only: a free-form SRS definition (WKT,
# PROJ string, URL) is never accepted because GDAL would resolve it, possibly reading files or URLs.
REPROJECTABLE_EPSG = frozenset({4326, 3857, 3035, 32630, 32631, 32632, 27572, 2154})
RESAMPLING_CHOICES = ("nearest", "bilinear", "cubic", "average", "mode")


class RasterError(ValueError):
    """A raster the catalogue refuses; ``code`` is stable, ``message`` says why and what to do."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class RasterInfo:
    uri: str
    band_count: int
    band_names: list[str]
    dtype: str
    width: int
    height: int
    source_epsg: int
    resampling: str  # "" when the file is already in EPSG:2154
    resolution: tuple[float, float]
    transform: tuple[float, float, float, float, float, float]
    bounds_2154: tuple[float, float, float, float]
    nodata: float | None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def is_synthetic(self) -> bool:
        return self.tags.get("SYNTHETIC", "").lower() in {"yes", "true", "1"}


def raster_inspect(uri: str, *, reproject_from_epsg: int | None = None, resampling: str = "") -> RasterInfo:
    """Open ``uri`` and return its metadata, or raise RasterError if the catalogue cannot use it.

    A file not in EPSG:2154 is accepted only when the caller names its EPSG code (which must match the
    file and be whitelisted) and a resampling method: reprojection is then done on read, explicitly.
    """
    try:
        with rasterio.open(uri) as dataset:
            # Reading one pixel of the first and last bands catches truncated or corrupt files early.
            window = rasterio.windows.Window(0, 0, 1, 1)
            dataset.read(1, window=window)
            dataset.read(dataset.count, window=window)
            crs = dataset.crs
            tags = dict(dataset.tags())
            names = [d or f"band_{i + 1}" for i, d in enumerate(dataset.descriptions)]
            info: dict[str, Any] = {
                "band_count": dataset.count,
                "dtype": dataset.dtypes[0],
                "width": dataset.width,
                "height": dataset.height,
                "resolution": (abs(dataset.res[0]), abs(dataset.res[1])),
                "transform": tuple(dataset.transform)[:6],
                "bounds": tuple(dataset.bounds),
                "nodata": dataset.nodata,
                "rotated": not dataset.transform.is_rectilinear,
            }
    except RasterioIOError as exc:
        raise RasterError("unreadable", f"{uri}: cannot be read as a raster ({exc}).") from exc
    if crs is None:
        raise RasterError("no_crs", f"{uri}: the file has no coordinate reference system; assign EPSG:2154 to it.")
    if info["rotated"]:
        raise RasterError("rotated", f"{uri}: rotated or sheared rasters are not supported.")
    epsg = crs.to_epsg()
    if epsg is None:
        raise RasterError(
            "crs_not_epsg",
            f"{uri}: the file's CRS has no EPSG code; only EPSG codes are accepted (reproject it to EPSG:2154).",
        )
    if epsg != LAMBERT93:
        if reproject_from_epsg is None:
            raise RasterError(
                "wrong_crs",
                f"{uri}: the file is in EPSG:{epsg}, not EPSG:2154. Reproject it, or register it with "
                f"--reproject-from {epsg} and a --resampling method to reproject on read.",
            )
        if reproject_from_epsg != epsg:
            raise RasterError(
                "crs_mismatch", f"{uri}: the file is in EPSG:{epsg}, not EPSG:{reproject_from_epsg} as declared."
            )
        if epsg not in REPROJECTABLE_EPSG:
            allowed = ", ".join(str(code) for code in sorted(REPROJECTABLE_EPSG))
            raise RasterError("crs_not_allowed", f"{uri}: EPSG:{epsg} is not one of the accepted codes ({allowed}).")
        if resampling not in RESAMPLING_CHOICES:
            raise RasterError(
                "resampling_required",
                f"{uri}: reprojecting needs a resampling method, one of {', '.join(RESAMPLING_CHOICES)}.",
            )
        bounds = transform_bounds(f"EPSG:{epsg}", f"EPSG:{LAMBERT93}", *info["bounds"], densify_pts=21)
    else:
        resampling = ""
        bounds = info["bounds"]
    return RasterInfo(
        uri=uri,
        band_count=info["band_count"],
        band_names=names,
        dtype=info["dtype"],
        width=info["width"],
        height=info["height"],
        source_epsg=epsg,
        resampling=resampling,
        resolution=info["resolution"],
        transform=info["transform"],
        bounds_2154=tuple(bounds),  # type: ignore[arg-type]
        nodata=info["nodata"],
        tags=tags,
    )
