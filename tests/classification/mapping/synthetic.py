"""A small synthetic landscape on a Lambert-93 10 m grid: 3 classes in vertical bands, 2 feature bands."""

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from sklearn.ensemble import RandomForestClassifier

from classification.mapping.grid import Grid

NODATA = -9999.0


def landscape(tmp_path: Path, *, width: int = 1100, height: int = 700, seed: int = 0):
    """Writes two feature rasters (one with a nodata hole) and returns (grid, paths, truth, model)."""
    rng = np.random.default_rng(seed)
    grid = Grid(Affine(10.0, 0.0, 600_000.0, 0.0, -10.0, 6_300_000.0), width, height, "EPSG:2154")
    cols = np.arange(width)
    truth_row = np.where(cols < width // 3, 1, np.where(cols < 2 * width // 3, 2, 3)).astype(np.uint16)
    truth = np.broadcast_to(truth_row, (height, width))
    means = {1: (0.0, 5.0), 2: (5.0, 0.0), 3: (5.0, 5.0)}
    paths = []
    for b in range(2):
        band = np.zeros((height, width), dtype=np.float32)
        for k, m in means.items():
            band[truth == k] = m[b]
        band += rng.normal(0.0, 1.0, size=band.shape).astype(np.float32)
        if b == 0:
            band[100:140, 200:260] = NODATA  # missing input → nodata in the map
        path = tmp_path / f"band{b + 1}.tif"
        with rasterio.open(
            path,
            "w",
            driver="GTiff",
            width=width,
            height=height,
            count=1,
            dtype="float32",
            crs=grid.crs,
            transform=grid.transform,
            nodata=NODATA,
            tiled=True,
            blockxsize=256,
            blockysize=256,
        ) as dst:
            dst.write(band, 1)
        paths.append(path)
    X = np.concatenate([rng.normal(means[k], 1.0, size=(300, 2)) for k in (1, 2, 3)]).astype(np.float32)
    y = np.repeat(np.array([1, 2, 3], dtype=np.uint16), 300)
    model = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    return grid, paths, truth, model
