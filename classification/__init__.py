"""Sampling, raster catalogue, training, map production and accuracy."""
