"""Why is a page slow? Requests one URL on the benchmark database and prints EXPLAIN ANALYZE for
every query slower than --min-ms.

    .venv/bin/python bench/explain.py /workshop/board/ --user s01-dispatcher [--min-ms 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--user", default="s01-manager")
    parser.add_argument("--min-ms", type=float, default=5.0)
    parser.add_argument("--htmx", action="store_true")
    args = parser.parse_args(argv)
    common.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(get_user_model().objects.get(username=args.user))
    headers = {"HTTP_HX_REQUEST": "true"} if args.htmx else {}
    client.get(args.url, **headers)
    with CaptureQueriesContext(connection) as ctx:
        started = time.perf_counter()
        response = client.get(args.url, **headers)
        elapsed = (time.perf_counter() - started) * 1000
    sql_ms = sum(float(q["time"]) for q in ctx.captured_queries) * 1000
    print(
        f"{args.url}: HTTP {response.status_code}, {elapsed:.1f} ms, "
        f"{len(ctx.captured_queries)} queries, {sql_ms:.1f} ms in SQL"
    )
    for q in ctx.captured_queries:
        if float(q["time"]) * 1000 < args.min_ms:
            continue
        print(f"\n--- {float(q['time']) * 1000:.1f} ms\n{q['sql']}\n")
        with connection.cursor() as cur:
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + q["sql"])
            for (line,) in cur.fetchall():
                print(line)


if __name__ == "__main__":
    main()
