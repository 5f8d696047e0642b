"""One-box lookup at dealer-group scale: server time of `customers.selectors.lookup` per kind of
key, the SQL queries it runs, and the plan Postgres picks for each.

Runs in-process on the benchmark database (see bench/common.py; generate it first with the
dataset generator). Prints p50/p95/max in ms per key kind and writes bench/results/lookup.json.

    .venv/bin/python bench/bench_lookup.py [--runs 40] [--explain]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

BUDGET_MS = 50  # SPEC §9: lookup p95 ≤ 50 ms at 300k customers


def _keys(site_ids: list[int], n: int, rng: random.Random) -> dict[str, list[str]]:
    from customers.models import Customer, Vehicle

    total_v = Vehicle.objects.count()
    total_c = Customer.objects.count()
    vehicles = []
    for _ in range(n):  # random rows by primary key: no ORDER BY random() over 400k rows
        v = (
            Vehicle.objects.filter(site_id__in=site_ids, pk__gte=rng.randrange(1, total_v))
            .order_by("pk")
            .values("plate", "vin")
            .first()
        )
        if v:
            vehicles.append(v)
    customers = []
    for _ in range(n):
        c = (
            Customer.objects.filter(site_id__in=site_ids, pk__gte=rng.randrange(1, total_c))
            .order_by("pk")
            .values("phone", "name")
            .first()
        )
        if c:
            customers.append(c)

    def spaced(plate: str) -> str:  # as typed: lower case, a space after the province
        return plate[:2].lower() + " " + plate[2:].lower()

    def national(phone: str) -> str:  # +8613812345678 → "138 1234 5678"
        digits = phone[3:]
        return f"{digits[:3]} {digits[3:7]} {digits[7:]}"

    return {
        "plate (full, typed loosely)": [spaced(v["plate"]) for v in vehicles if v["plate"]],
        "plate (last 5, no province)": [v["plate"][-5:] for v in vehicles if v["plate"]],
        "VIN (full)": [v["vin"].lower() for v in vehicles],
        "VIN (last 6)": [v["vin"][-6:] for v in vehicles],
        "phone (national format)": [national(c["phone"]) for c in customers if c["phone"]],
        "name (full)": [c["name"] for c in customers],
        "name (surname only, 1 char)": [c["name"][:1] for c in customers],
        "name (given name, 2 chars)": [c["name"][-2:] for c in customers],
        "no match": ["沪Z99999", "ZZZZZZ", "13000000000", "不存在的人"] * (n // 4 + 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=40, help="lookups per kind of key")
    parser.add_argument("--explain", action="store_true", help="print the plans")
    parser.add_argument("--group", action="store_true", help="search all sites (group user)")
    args = parser.parse_args()
    common.setup()

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from customers.models import Customer, Vehicle
    from customers.selectors import lookup
    from dms.models import Site

    site_ids = list(Site.objects.order_by("pk").values_list("pk", flat=True))
    if not site_ids or not Customer.objects.exists():
        print("The benchmark database is empty: generate the dataset first.")
        sys.exit(1)
    scope = site_ids if args.group else site_ids[:1]
    rng = random.Random(7)
    keys = _keys(scope, args.runs, rng)
    print(
        f"{Customer.objects.count():,} customers, {Vehicle.objects.count():,} vehicles, "
        f"{len(site_ids)} sites; searching {'all sites' if args.group else 'one site'}"
    )
    lookup(site_ids=scope, q="warm-up")
    results = []
    for kind, qs in keys.items():
        samples, max_queries, found = [], 0, 0
        plans: list[str] = []
        for q in qs[: args.runs]:
            with CaptureQueriesContext(connection) as ctx:
                start = time.perf_counter()
                hits = lookup(site_ids=scope, q=q)
                samples.append((time.perf_counter() - start) * 1000)
            max_queries = max(max_queries, len(ctx.captured_queries))
            found += bool(hits)
            if args.explain and not plans:
                with connection.cursor() as cur:
                    for query in ctx.captured_queries:
                        cur.execute("EXPLAIN (ANALYZE, COSTS OFF) " + query["sql"])
                        lines = [r[0] for r in cur.fetchall()]
                        used = sorted(
                            {
                                ln.split(" on ")[1].split()[0]
                                for ln in lines
                                if " on " in ln and ("Index" in ln or "Seq Scan" in ln)
                            }
                        )
                        seq = any("Seq Scan" in ln for ln in lines)
                        took = next((ln for ln in lines if ln.startswith("Execution Time")), "")
                        plans.append(
                            f"{took:28} {'SEQ SCAN ' if seq else ''}{', '.join(used)}"
                            f"  ← {query['sql'][:70]}"
                        )
        row = {
            "kind": kind,
            "runs": len(samples),
            "p50_ms": round(common.percentile(samples, 50), 1),
            "p95_ms": round(common.percentile(samples, 95), 1),
            "max_ms": round(max(samples), 1),
            "max_queries": max_queries,
            "found_share": round(found / len(samples), 2),
            "budget_ms": BUDGET_MS,
            "met": common.percentile(samples, 95) <= BUDGET_MS,
            "example": qs[0],
        }
        results.append(row)
        print(
            f"{kind:32} p50 {row['p50_ms']:6.1f} ms  p95 {row['p95_ms']:6.1f} ms  "
            f"max {row['max_ms']:6.1f} ms  queries ≤{max_queries}  found {row['found_share']:.0%}"
            f"  {'ok' if row['met'] else 'OVER BUDGET'}"
        )
        for plan in plans:
            print("    " + plan)
        row["plans"] = plans
    path = common.save(
        "lookup",
        {
            "machine": common.machine(),
            "customers": Customer.objects.count(),
            "vehicles": Vehicle.objects.count(),
            "sites": len(site_ids),
            "scope": "group" if args.group else "one site",
            "results": results,
        },
    )
    print(f"saved {path.relative_to(common.ROOT)}")


if __name__ == "__main__":
    main()
