"""Raster catalogue core: reading metadata, aligning layers on the EPSG:2154 grid, sampling at points.

Plain rasterio/numpy code with no Django import, so it can run in a Celery worker, a script or a test.
"""
