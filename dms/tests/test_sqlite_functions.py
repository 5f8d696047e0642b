"""The functions the embedded SQLite database gets in Python agree with PostgreSQL's."""

import datetime as dt
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


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        ("2025-01-31", 1, "2025-02-28"),  # clamps to the month's end, as Postgres does
        ("2024-01-31", 1, "2024-02-29"),
        ("2025-03-15", 12, "2026-03-15"),
        ("2025-08-31", 6, "2026-02-28"),
    ],
)
def test_add_months_keeps_the_day_or_ends_on_the_last_day_of_the_month(
    sqlite, day, months, expected
):
    got = sqlite.execute("SELECT dms_add_months(?, ?)", (day, months)).fetchone()[0]
    assert got == expected
    assert dt.date.fromisoformat(got)


def test_nulls_stay_null(sqlite):
    assert sqlite.execute("SELECT dms_add_months(NULL, 3)").fetchone() == (None,)
