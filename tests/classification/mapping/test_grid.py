import pytest
from affine import Affine

from classification.mapping.grid import Grid, GridError, tile_for, tiles_for_area

GRID = Grid(Affine(10.0, 0.0, 600_000.0, 0.0, -10.0, 6_300_000.0), 1100, 700, "EPSG:2154")


def test_tiles_cover_the_grid_with_clipped_edges():
    # given a 1100 × 700 px grid
    # when tiled in 512 px tiles
    tiles = list(tiles_for_area(GRID, tile_size=512))
    # then 3 columns × 2 rows, the last ones clipped to the grid
    assert [t.key for t in tiles] == [
        "r00000_c00000", "r00000_c00001", "r00000_c00002",
        "r00001_c00000", "r00001_c00001", "r00001_c00002",
    ]  # fmt: skip
    assert [t.shape for t in tiles] == [(512, 512), (512, 512), (512, 76), (188, 512), (188, 512), (188, 76)]
    assert sum(t.shape[0] * t.shape[1] for t in tiles) == 1100 * 700


def test_halo_is_clipped_at_the_grid_edge():
    tile = tile_for(GRID, 0, 1, tile_size=512, halo=16)
    assert (tile.read_window.col_off, tile.read_window.row_off) == (496, 0)
    assert (tile.read_window.width, tile.read_window.height) == (544, 528)
    rows, cols = tile.core_slices
    assert (rows, cols) == (slice(0, 512), slice(16, 528))


def test_bounds_select_the_tiles_they_touch():
    # given bounds covering pixels 520..530 of columns and 10..20 of rows
    minx, maxy = 600_000.0 + 5200.0, 6_300_000.0 - 100.0
    tiles = list(tiles_for_area(GRID, tile_size=512, bounds=(minx, maxy - 100.0, minx + 100.0, maxy)))
    assert [t.key for t in tiles] == ["r00000_c00001"]


def test_a_geometry_selects_only_the_tiles_it_touches():
    # given an L-shaped polygon over the first column of tiles and the first row
    x0, y0 = 600_000.0, 6_300_000.0
    ring = [
        (x0, y0), (x0 + 11000.0, y0), (x0 + 11000.0, y0 - 1000.0), (x0 + 1000.0, y0 - 1000.0),
        (x0 + 1000.0, y0 - 7000.0), (x0, y0 - 7000.0), (x0, y0),
    ]  # fmt: skip
    tiles = list(tiles_for_area(GRID, tile_size=512, geometry={"type": "Polygon", "coordinates": [ring]}))
    # then the tile away from both arms is skipped
    assert [t.key for t in tiles] == ["r00000_c00000", "r00000_c00001", "r00000_c00002", "r00001_c00000"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tile_size": 500}, "tile_size"),
        ({"tile_size": 512, "halo": -1}, "halo"),
        ({"tile_size": 512, "halo": 512}, "halo"),
        ({"tile_size": 512, "bounds": (0.0, 0.0, 10.0, 10.0)}, "does not overlap"),
        ({"tile_size": 512, "bounds": (10.0, 0.0, 0.0, 10.0)}, "empty"),
    ],
)
def test_bad_tiling_is_refused(kwargs, message):
    with pytest.raises(GridError, match=message):
        list(tiles_for_area(GRID, **kwargs))


def test_rotated_or_south_up_grids_are_refused():
    with pytest.raises(GridError, match="north-up"):
        Grid(Affine(10.0, 0.0, 0.0, 0.0, 10.0, 0.0), 10, 10, "EPSG:2154")
    with pytest.raises(GridError, match="positive size"):
        Grid(Affine(10.0, 0.0, 0.0, 0.0, -10.0, 0.0), 0, 10, "EPSG:2154")


def test_grid_round_trips_through_a_dict():
    assert Grid.from_dict(GRID.as_dict()) == GRID
