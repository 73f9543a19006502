"""Pure rasterio/numpy map production core: tile grid, per-tile prediction, mosaic to COG, sieve, preview.

No Django import here: `classification.services` and the Celery tasks drive these functions.
"""
