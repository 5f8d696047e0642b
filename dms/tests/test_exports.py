"""Exports: formula-looking cells neutralised; a stream that fails part-way is seen to fail."""

import csv
import http.client
import io
import logging
import os
import socket
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.utils import translation

from dms.exports import ExportFailed, csv_response, safe_cell


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("\ufeff=1", "\ufeff'=1"),
        ("王小明", "王小明"),
        ("a=b", "a=b"),
        (-5, -5),
        (3.5, 3.5),
        (None, None),
    ],
)
def test_cells_that_a_spreadsheet_would_run_are_neutralised(value, shown):
    assert safe_cell(value) == shown


def _rows(count):
    yield ["name"]
    for i in range(count):
        yield [f"c{i}"]
    raise RuntimeError("boom")


def test_a_failure_in_the_first_rows_is_raised_before_anything_is_sent():
    with pytest.raises(RuntimeError, match="boom"):
        csv_response("x.csv", _rows(0))


def test_a_failure_part_way_is_logged_marked_and_raised_into_the_server(caplog):
    response = csv_response("x.csv", _rows(3))
    received = []
    with (
        translation.override("en"),
        caplog.at_level(logging.ERROR, logger="dms.exports"),
        pytest.raises(ExportFailed),
    ):
        received.extend(response.streaming_content)
    text = b"".join(received).decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert [r[0] for r in rows[:4]] == ["\ufeffname", "c0", "c1", "c2"]
    assert "EXPORT FAILED" in rows[-1][0]
    assert "x.csv failed part-way" in caplog.text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def gunicorn_export():
    port = _free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "dms.settings.test"}
    process = subprocess.Popen(
        [
            os.path.join(os.path.dirname(sys.executable), "gunicorn"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "dms.tests.export_app:app",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _attempt in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.slow
def test_a_client_sees_a_broken_download_not_a_short_200(gunicorn_export):
    connection = http.client.HTTPConnection("127.0.0.1", gunicorn_export, timeout=10)
    connection.request("GET", "/?rows=500")
    response = connection.getresponse()
    assert response.status == 200
    # then reading the body fails: the transfer ended without its last chunk
    with pytest.raises(http.client.IncompleteRead) as caught:
        response.read()
    assert b"customer 499" in caught.value.partial
