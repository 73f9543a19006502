"""Canonical bytes of a training-set table, so a frozen set rebuilds byte for byte and hashes the same.

A table is a mapping column name → 1-D array (numbers, booleans or strings). Its canonical form:
columns sorted by name; rows sorted by the key columns (which must identify a row uniquely); numbers
little-endian in their own dtype; -0.0 written as 0.0 and every NaN as the same quiet NaN; strings as
UTF-8 with a 4-byte length. The layout is

    b"FCTABLE1\\n" | u64 header length | header JSON (sorted keys, compact) | per column: u64 length | bytes

and `table_from_bytes` reads it back. The same content always gives the same bytes, whatever the order
the rows were gathered in or the platform's byte order; the SHA-256 of those bytes is the content hash.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

MAGIC = b"FCTABLE1\n"
_NUMERIC_KINDS = {"b", "i", "u", "f"}
_CANONICAL_NAN = {np.dtype("<f4"): np.float32(np.nan), np.dtype("<f8"): np.float64(np.nan)}


class TableError(ValueError):
    """The table cannot be put in canonical form (ragged columns, duplicate keys, unsupported types)."""


def _normalise(name: str, values: ArrayLike) -> NDArray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise TableError(f"column {name!r} must be one-dimensional")
    if arr.dtype.kind in _NUMERIC_KINDS:
        if arr.dtype.kind == "f" and arr.dtype.itemsize not in (4, 8):
            raise TableError(f"column {name!r}: only float32 and float64 are supported")
        return arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    if arr.dtype.kind in {"U", "O"}:
        if arr.dtype.kind == "O" and not all(isinstance(v, str) for v in arr.tolist()):
            raise TableError(f"column {name!r}: object columns must hold strings only")
        return arr.astype(object)
    raise TableError(f"column {name!r}: unsupported type {arr.dtype}")


def canonical_order(columns: Mapping[str, NDArray], key: Sequence[str]) -> NDArray[np.intp]:
    """Row order sorting by the key columns (first key most significant); the key must be unique."""
    if not key:
        raise TableError("a key (one or more columns identifying a row) is required")
    missing = [k for k in key if k not in columns]
    if missing:
        raise TableError(f"key columns not in the table: {missing}")
    # np.lexsort sorts by the last key first; strings are sorted through their rank among unique values.
    sort_keys = []
    for k in reversed(key):
        col = columns[k]
        sort_keys.append(np.unique(col.astype(str), return_inverse=True)[1] if col.dtype == object else col)
    order = np.lexsort(sort_keys)
    keys_sorted = [columns[k][order] for k in key]
    if order.size > 1:
        same = np.ones(order.size - 1, dtype=bool)
        for col in keys_sorted:
            same &= col[1:] == col[:-1]
        if same.any():
            raise TableError(f"the key {list(key)} does not identify rows uniquely")
    return order


def _column_bytes(arr: NDArray) -> bytes:
    if arr.dtype == object:
        parts = []
        for value in arr.tolist():
            encoded = value.encode("utf-8")
            parts.append(struct.pack("<I", len(encoded)))
            parts.append(encoded)
        return b"".join(parts)
    if arr.dtype.kind == "f":
        arr = arr.copy()
        arr[arr == 0] = 0.0  # -0.0 → +0.0
        arr[np.isnan(arr)] = _CANONICAL_NAN[arr.dtype]
    return np.ascontiguousarray(arr).tobytes()


def table_to_bytes(columns: Mapping[str, ArrayLike], *, key: Sequence[str]) -> bytes:
    """The canonical bytes of the table (see the module docstring)."""
    if not columns:
        raise TableError("the table has no columns")
    norm = {name: _normalise(name, values) for name, values in columns.items()}
    lengths = {arr.shape[0] for arr in norm.values()}
    if len(lengths) != 1:
        raise TableError("all columns must have the same length")
    n_rows = lengths.pop()
    order = canonical_order(norm, key)
    names = sorted(norm)
    header = {
        "format": 1,
        "n_rows": int(n_rows),
        "key": list(key),
        "columns": [{"name": n, "dtype": "str" if norm[n].dtype == object else norm[n].dtype.str} for n in names],
    }
    header_bytes = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    out = [MAGIC, struct.pack("<Q", len(header_bytes)), header_bytes]
    for name in names:
        body = _column_bytes(norm[name][order])
        out.append(struct.pack("<Q", len(body)))
        out.append(body)
    return b"".join(out)


def table_from_bytes(data: bytes) -> tuple[dict[str, NDArray], list[str]]:
    """Columns (in canonical row order) and the key, read back from canonical bytes."""
    if not data.startswith(MAGIC):
        raise TableError("not a canonical training table (bad magic)")
    pos = len(MAGIC)
    (hlen,) = struct.unpack_from("<Q", data, pos)
    pos += 8
    header = json.loads(data[pos : pos + hlen].decode("utf-8"))
    pos += hlen
    n = int(header["n_rows"])
    columns: dict[str, NDArray] = {}
    for spec in header["columns"]:
        (blen,) = struct.unpack_from("<Q", data, pos)
        pos += 8
        body = data[pos : pos + blen]
        pos += blen
        if spec["dtype"] == "str":
            values, p = [], 0
            for _ in range(n):
                (slen,) = struct.unpack_from("<I", body, p)
                p += 4
                values.append(body[p : p + slen].decode("utf-8"))
                p += slen
            columns[spec["name"]] = np.array(values, dtype=object)
        else:
            columns[spec["name"]] = np.frombuffer(body, dtype=np.dtype(spec["dtype"]), count=n).copy()
    if pos != len(data):
        raise TableError("trailing bytes after the last column")
    return columns, list(header["key"])


def content_hash(data: bytes) -> str:
    """SHA-256 (hex) of canonical bytes."""
    return hashlib.sha256(data).hexdigest()


def table_hash(columns: Mapping[str, ArrayLike], *, key: Sequence[str]) -> str:
    """Content hash of a table: the SHA-256 of its canonical bytes."""
    return content_hash(table_to_bytes(columns, key=key))
