"""The functions the embedded SQLite database gets in Python agree with PostgreSQL's."""

import sqlite3
from types import SimpleNamespace

import pytest

from dms.sqlite import register_functions


@pytest.fixture
def sqlite():
    raw = sqlite3.connect(":memory:")
    register_functions(None, SimpleNamespace(vendor="sqlite", connection=raw))
    yield raw
    raw.close()


def test_median_is_percentile_cont_one_half(sqlite):
    sqlite.execute("CREATE TABLE t (v REAL, keep INTEGER)")
    sqlite.executemany(
        "INSERT INTO t VALUES (?, ?)", [(1, 1), (10, 1), (4, 1), (None, 1), (7, 1), (99, 0)]
    )
    # 1, 4, 7, 10 → the mean of the two middle values; NULL ignored; FILTER honoured
    assert sqlite.execute("SELECT dms_median(v) FILTER (WHERE keep = 1) FROM t").fetchone() == (
        5.5,
    )
    assert sqlite.execute("SELECT dms_median(v) FROM t WHERE v < 5").fetchone() == (2.5,)
    assert sqlite.execute("SELECT dms_median(v) FROM t WHERE v > 1000").fetchone() == (None,)
