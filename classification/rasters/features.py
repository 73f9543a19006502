"""Feature stacks on the common grid: bands of catalogue layers and features derived from them."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np
from rasterio.windows import Window

from .grid import Grid, GridReader, LayerSource

DERIVATIONS = {"band": 1, "ndvi": 2, "ndwi": 2, "ndmi": 2, "slope": 1, "aspect": 1}


class FeatureError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class FeatureSpec:
    """One named feature: ``inputs`` are (layer, 1-based band) pairs in the order the derivation names.

    ndvi = (nir − red)/(nir + red): inputs (nir, red); ndwi = (green − nir)/(green + nir): (green, nir);
    ndmi = (nir − swir1)/(nir + swir1): (nir, swir1); slope and aspect (degrees) take one DEM band.
    """

    name: str
    derivation: str
    inputs: tuple[tuple[LayerSource, int], ...]
    resampling: str = "bilinear"

    def __post_init__(self) -> None:
        expected = DERIVATIONS.get(self.derivation)
        if expected is None:
            raise FeatureError("unknown_derivation", f"feature {self.name}: unknown derivation {self.derivation!r}")
        if len(self.inputs) != expected:
            raise FeatureError(
                "wrong_inputs",
                f"feature {self.name}: {self.derivation} takes {expected} input band(s), got {len(self.inputs)}",
            )


def normalized_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (a - b) / (a + b)
    out[~np.isfinite(out)] = np.nan
    return out.astype(np.float32)


def slope_aspect(dem: np.ndarray, resolution: float) -> tuple[np.ndarray, np.ndarray]:
    """Slope (degrees) and aspect (degrees clockwise from north, the direction the slope faces).

    ``dem`` has one extra cell of margin on each side; the result is the inner part. Flat cells get
    aspect 0 (north); cells next to nodata get NaN.
    """
    dz_drow, dz_dcol = np.gradient(dem.astype(np.float64), resolution)
    dz_dx = dz_dcol  # east
    dz_dy = -dz_drow  # north: rows grow southwards
    slope = np.degrees(np.arctan(np.hypot(dz_dx, dz_dy)))
    aspect = np.degrees(np.arctan2(-dz_dx, -dz_dy)) % 360.0
    return slope[1:-1, 1:-1].astype(np.float32), aspect[1:-1, 1:-1].astype(np.float32)


class FeatureReader:
    """Read windows of a feature stack (n_features, rows, cols) on a grid; opens each file once."""

    def __init__(self, specs: Sequence[FeatureSpec], grid: Grid) -> None:
        names = [spec.name for spec in specs]
        if len(set(names)) != len(names):
            raise FeatureError("duplicate_name", "feature names must be unique")
        self.specs = list(specs)
        self.grid = grid
        self._stack = ExitStack()
        self._readers: dict[tuple[LayerSource, str], GridReader] = {}

    def __enter__(self) -> FeatureReader:
        for spec in self.specs:
            for source, _band in spec.inputs:
                key = (
                    source,
                    "nearest" if spec.derivation in {"band"} and spec.resampling == "nearest" else spec.resampling,
                )
                if key not in self._readers:
                    self._readers[key] = self._stack.enter_context(GridReader(source, self.grid, key[1]))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    @property
    def reads(self) -> int:
        return sum(reader.reads for reader in self._readers.values())

    @property
    def names(self) -> list[str]:
        return [spec.name for spec in self.specs]

    def read(self, window: Window) -> np.ndarray:
        """All features of a grid window as float32, NaN where any input is nodata or off its layer."""
        out = np.empty((len(self.specs), int(window.height), int(window.width)), dtype=np.float32)
        for index, spec in enumerate(self.specs):
            out[index] = self._feature(spec, window)
        return out

    def _band(self, spec: FeatureSpec, which: int, window: Window) -> np.ndarray:
        source, band = spec.inputs[which]
        reader = self._readers[
            (source, "nearest" if spec.derivation in {"band"} and spec.resampling == "nearest" else spec.resampling)
        ]
        return reader.read([band], window)[0]

    def _feature(self, spec: FeatureSpec, window: Window) -> np.ndarray:
        if spec.derivation == "band":
            return self._band(spec, 0, window)
        if spec.derivation in {"ndvi", "ndwi", "ndmi"}:
            return normalized_difference(self._band(spec, 0, window), self._band(spec, 1, window))
        # slope / aspect: read a one-cell margin so the window's edges get true neighbours.
        padded = Window(window.col_off - 1, window.row_off - 1, window.width + 2, window.height + 2)
        dem = self._band(spec, 0, padded)
        slope, aspect = slope_aspect(dem, self.grid.resolution)
        return slope if spec.derivation == "slope" else aspect
