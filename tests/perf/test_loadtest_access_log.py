"""The load test's summary of the server's time per kind of request (bench/loadtest.py), read
from gunicorn's access log in the short format the script sets. What it prints is what
docs/benchmarks.md quotes as where the time goes, so its arithmetic is held here."""

import time

import pytest

from bench import loadtest


def test_request_kinds_leave_out_ids_tokens_and_site_codes():
    assert loadtest.request_kind("/p/s/Zx9_token-value/live/") == "/p/s/<token>/live/"
    assert loadtest.request_kind("/p/f/Zx9_token-value/") == "/p/f/<token>/"
    assert loadtest.request_kind("/p/book/S01/times/") == "/p/book/<site>/times/"
    assert loadtest.request_kind("/api/v1/repair-orders/55/lines/7/") == (
        "/api/v1/repair-orders/<id>/lines/<id>/"
    )
    assert loadtest.request_kind("/ro/123/") == "/ro/<id>/"
    # digits inside a word are not an id
    assert loadtest.request_kind("/api/v1/kpis/") == "/api/v1/kpis/"
    assert loadtest.request_kind("/workshop/board2x/") == "/workshop/board2x/"


def test_server_times_per_kind_and_status_with_their_share_dearest_first():
    lines = [
        "101 304 2 /p/s/aaa/live/",
        "101 304 4 /p/s/bbb/live/",
        "102 304 6 /p/s/ccc/live/",
        "102 200 40 /p/s/ccc/live/",
        "103 200 100 /ro/1/",
        "103 200 48 /ro/2/",
        "104 200 30 /ro/5/",
        '127.0.0.1 - - [07/Dec/2026:01:23:51 +0800] "GET /ro/3/ HTTP/1.1" 200 5',  # other format
        "103 200 x /ro/4/",  # no time: skipped
        "",
    ]
    rows = loadtest.server_times(lines)
    assert [(r["kind"], r["status"]) for r in rows] == [
        ("/ro/<id>/", "200"),
        ("/p/s/<token>/live/", "200"),
        ("/p/s/<token>/live/", "304"),
    ]
    ro, status_full, status_304 = rows
    assert [ro["requests"], status_full["requests"], status_304["requests"]] == [3, 1, 3]
    assert [status_304["p50_ms"], status_304["p95_ms"]] == [4, 6]
    assert [ro["p50_ms"], ro["p95_ms"]] == [48, 100]
    total = 2 + 4 + 6 + 40 + 100 + 48 + 30
    assert ro["share"] == pytest.approx(178 / total, abs=1e-4)
    assert status_304["share"] == pytest.approx(12 / total, abs=1e-4)
    assert sum(r["share"] for r in rows) == pytest.approx(1, abs=1e-3)
    assert loadtest.server_times(lines, top=1) == [ro]
    assert loadtest.server_times(["not an access log line"]) == []


def test_a_log_mark_reads_only_the_lines_written_after_it(tmp_path):
    log = tmp_path / "access.log"
    log.write_text("101 200 5 /before/\n")
    mark = loadtest.LogMark(log, delay=0)
    deadline = time.monotonic() + 5
    while mark.offset is None and time.monotonic() < deadline:
        time.sleep(0.01)
    with log.open("a") as fh:
        fh.write("101 200 7 /after/\n102 304 1 /after/\n")
    assert mark.lines_since() == ["101 200 7 /after/", "102 304 1 /after/"]


def test_a_log_mark_not_reached_reads_nothing(tmp_path):
    log = tmp_path / "access.log"
    log.write_text("101 200 5 /x/\n")
    mark = loadtest.LogMark(log, delay=60)
    assert mark.lines_since() == []


def test_generator_lag_percentiles_from_the_probe_file(tmp_path):
    path = tmp_path / "lag.json"
    # 200 wake-ups: 180 on time, 16 a few ms late, 4 very late (unsorted, as the probe writes)
    samples = ["3.0"] * 16 + ["0.1"] * 90 + ["20.0"] * 3 + ["0.1"] * 90 + ["55.25"]
    path.write_text("[" + ",".join(samples) + "]")
    lag = loadtest.generator_lag(path)
    assert lag == {
        "samples": 200,
        "p50_ms": 0.1,
        "p95_ms": 3.0,
        "p99_ms": 20.0,
        "max_ms": 55.2,
    }


def test_generator_lag_is_none_without_the_probe_or_its_samples(tmp_path):
    assert loadtest.generator_lag(tmp_path / "missing.json") is None
    (tmp_path / "empty.json").write_text("[]")
    assert loadtest.generator_lag(tmp_path / "empty.json") is None
    (tmp_path / "cut.json").write_text("[0.1, 0.")  # a run killed while writing
    assert loadtest.generator_lag(tmp_path / "cut.json") is None
