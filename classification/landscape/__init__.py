"""SYNTHETIC demo landscape generator: DEM, slope, aspect, a "true" habitat map and a Sentinel-2-like stack.

No public imagery or DEM fits this project's environment, so the demo, the tests and the benchmarks use
this generator. Everything it writes is labelled SYNTHETIC (GeoTIFF tags and band descriptions).
Plain numpy/rasterio code with no Django import.
"""
