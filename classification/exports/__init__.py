"""Exports for modellers: relevés (and later training sets) as GeoPackage, CSV, GeoParquet, Darwin Core.

Layout: ``tables`` (a table = a schema and a re-iterable stream of Arrow record batches; no Django),
``writers`` (GeoPackage, zipped CSV, GeoParquet, photo zip; they only ever hold one batch), ``dwca``
(Darwin Core Archive writer; no Django), ``releves`` (relevé selection and its tables, read from the
database in chunks), ``services`` (export jobs, permissions, the entry points of commands and API).
"""
