import numpy as np
import pytest

from classification.training.hashing import TableError, table_from_bytes, table_hash, table_to_bytes


def _table():
    return {
        "plot": np.array([3, 1, 2, 1], dtype=np.int64),
        "pixel": np.array([0, 1, 0, 0], dtype=np.int32),
        "label": np.array([12, 10, 11, 10], dtype=np.uint16),
        "b1": np.array([0.5, -0.0, np.nan, 2.25], dtype=np.float32),
        "habitat": np.array(["T1-1", "R2", "Prairie fauchée", "R2"], dtype=object),
    }


def test_row_and_column_order_do_not_change_the_bytes():
    # given the same table gathered in another row order and column order
    a = _table()
    perm = np.array([2, 0, 3, 1])
    b = {name: a[name][perm] for name in reversed(list(a))}
    # when serialised canonically by (plot, pixel)
    # then the bytes and hash are identical
    assert table_to_bytes(a, key=["plot", "pixel"]) == table_to_bytes(b, key=["plot", "pixel"])
    assert table_hash(a, key=["plot", "pixel"]) == table_hash(b, key=["plot", "pixel"])


def test_signed_zero_and_nan_payloads_are_canonical():
    a = _table()
    b = _table()
    b["b1"] = np.array([0.5, 0.0, np.float32(np.nan) * -1, 2.25], dtype=np.float32)
    assert table_to_bytes(a, key=["plot", "pixel"]) == table_to_bytes(b, key=["plot", "pixel"])


def test_big_endian_input_gives_the_same_bytes():
    a = _table()
    b = dict(a, plot=a["plot"].astype(">i8"))
    assert table_to_bytes(a, key=["plot", "pixel"]) == table_to_bytes(b, key=["plot", "pixel"])


def test_round_trip_rebuilds_byte_for_byte():
    # given canonical bytes
    data = table_to_bytes(_table(), key=["plot", "pixel"])
    # when read back and serialised again
    columns, key = table_from_bytes(data)
    # then the bytes are identical and the rows are in key order
    assert table_to_bytes(columns, key=key) == data
    assert columns["plot"].tolist() == [1, 1, 2, 3]
    assert columns["pixel"].tolist() == [0, 1, 0, 0]
    assert columns["habitat"].tolist() == ["R2", "R2", "Prairie fauchée", "T1-1"]
    assert np.isnan(columns["b1"][2])


def test_a_changed_value_changes_the_hash():
    a = _table()
    b = _table()
    b["label"] = b["label"].copy()
    b["label"][0] = 13
    assert table_hash(a, key=["plot", "pixel"]) != table_hash(b, key=["plot", "pixel"])


def test_the_hash_of_a_known_table_is_stable():
    # a fixed table must hash the same on every platform and release (frozen training sets depend on it)
    table = {"id": np.array([2, 1], dtype=np.int64), "x": np.array([1.5, -2.0], dtype=np.float64)}
    assert table_hash(table, key=["id"]) == "b783cacebeb280d74679e990d196ac409a53c0ebaa932cece22d6e84e42addc4"


@pytest.mark.parametrize(
    ("columns", "key", "message"),
    [
        ({"a": np.array([1, 1])}, ["a"], "does not identify rows uniquely"),
        ({"a": np.array([1, 2]), "b": np.array([1])}, ["a"], "same length"),
        ({"a": np.array([1, 2])}, ["z"], "key columns not in the table"),
        ({"a": np.array([1, 2])}, [], "a key"),
        ({"a": np.array([[1, 2]])}, ["a"], "one-dimensional"),
        ({"a": np.array([1, 2]), "c": np.array([1 + 2j, 3j])}, ["a"], "unsupported type"),
        ({"a": np.array([1, 2]), "o": np.array([1, "x"], dtype=object)}, ["a"], "strings only"),
        ({}, ["a"], "no columns"),
    ],
)
def test_bad_tables_are_refused(columns, key, message):
    with pytest.raises(TableError, match=message):
        table_to_bytes(columns, key=key)


def test_foreign_bytes_are_refused():
    with pytest.raises(TableError, match="bad magic"):
        table_from_bytes(b"PAR1....")
