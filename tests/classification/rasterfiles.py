"""Small GeoTIFFs written by tests."""

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine


def write_tif(
    path: Path,
    data: np.ndarray,
    *,
    crs: str | None = "EPSG:2154",
    transform: Affine | None = None,
    nodata: float | None = None,
    tiled: bool = False,
) -> str:
    data = data if data.ndim == 3 else data[None]
    profile = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": data.dtype.name,
        "transform": transform or Affine(10, 0, 700_000, 0, -10, 6_300_000),
        "nodata": nodata,
    }
    if crs is not None:
        profile["crs"] = crs
    if tiled:
        profile.update(tiled=True, blockxsize=16, blockysize=16)
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(data)
    return str(path)
