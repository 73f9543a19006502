"""The block-grouped DEM sampler on a synthetic GeoTIFF (synthetic: no public DEM fits here)."""

import numpy as np
import rasterio
from rasterio.transform import Affine

from fieldcollect.services.qc import QCContext, qc_evaluate
from fieldcollect.services.qc.dem import BlockPointSampler

from .builders import HERE, clean_releve, context


def write_dem(path, *, origin=(HERE[0] - 2560, HERE[1] + 2560), size=512, block=256):
    # altitude = 100 + row (metres): easy to check; the last column is nodata
    data = (100 + np.arange(size, dtype="float32")[:, None]).repeat(size, axis=1)
    data[:, -1] = -9999
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:2154",
        "transform": Affine(10, 0, origin[0], 0, -10, origin[1]),
        "tiled": True,
        "blockxsize": block,
        "blockysize": block,
        "nodata": -9999,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return origin


def test_sampler_reads_each_block_once(tmp_path):
    # given a 512 × 512 DEM in four 256 × 256 blocks
    x0, y0 = write_dem(tmp_path / "dem.tif")
    sampler = BlockPointSampler(str(tmp_path / "dem.tif"))
    # when 1,000 points of the top-left block, one of the bottom-right, one outside and one on nodata
    # (bottom-right block) are sampled
    points = [(x0 + 5 + (i % 250) * 10, y0 - 5 - (i // 250) * 10) for i in range(1000)]
    points += [(x0 + 5 + 300 * 10, y0 - 5 - 300 * 10), (x0 - 50, y0), (x0 + 5 + 511 * 10, y0 - 5 - 300 * 10)]
    values = sampler.sample(points)
    # then two blocks were read, values follow the rows, outside and nodata give None
    assert sampler.reads == 2
    assert values[0] == 100.0 and values[999] == 103.0
    assert values[1000] == 400.0
    assert values[1001:] == [None, None]


def test_engine_samples_all_releves_in_one_pass(tmp_path):
    # given 200 relevés spread over one block and a DEM around them
    write_dem(tmp_path / "dem.tif")
    sampler = BlockPointSampler(str(tmp_path / "dem.tif"))
    releves = [clean_releve(key=i, location=(HERE[0] + i, HERE[1] + i), altitude_m=356.0) for i in range(200)]
    ctx: QCContext = context(dem=sampler)
    # when QC runs with rasters
    report = qc_evaluate(snapshots=releves, context=ctx)
    # then the DEM was read block by block (the 200 points straddle at most 4 blocks), and the DEM value
    # at the first plot (row 256 → 356 m) matches its recorded altitude: no altitude finding
    assert 1 <= report.raster_reads <= 4
    assert ctx.dem_altitude[0] == 356.0
    assert [f for f in report.findings if f.rule == "altitude.dem" and f.releve == 0] == []
