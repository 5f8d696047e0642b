"""A WSGI app for tests/test_exports.py, served by a real gunicorn: a CSV export whose rows fail
after `?rows=N` rows."""

import django

django.setup()

from urllib.parse import parse_qs  # noqa: E402

from dms.exports import csv_response  # noqa: E402


def _rows(count: int):
    yield ["name", "note"]
    for i in range(count):
        yield [f"customer {i}", "x" * 200]
    raise RuntimeError("the database went away")


def app(environ, start_response):
    count = int(parse_qs(environ.get("QUERY_STRING", "")).get("rows", ["100"])[0])
    response = csv_response("customers.csv", _rows(count))
    start_response("200 OK", list(response.items()))
    return response
