"""Do the CSV exports stream? Downloads the big exports in-process and samples this process's
RSS while the rows arrive: a streamed export's memory stays flat however many rows it has.

    .venv/bin/python bench/exports.py
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def download(client, url: str) -> dict:
    before = rss_mb()
    peak = before
    started = time.perf_counter()
    response = client.get(url)
    size = rows = 0
    chunks = response.streaming_content if response.streaming else [response.content]
    for n, chunk in enumerate(chunks):
        size += len(chunk)
        rows += chunk.count(b"\n")
        if n % 500 == 0:
            peak = max(peak, rss_mb())
    peak = max(peak, rss_mb())
    return {
        "url": url,
        "status": response.status_code,
        "streamed": bool(response.streaming),
        "rows": rows,
        "mb": round(size / 1024 / 1024, 1),
        "seconds": round(time.perf_counter() - started, 1),
        "rss_before_mb": round(before, 1),
        "rss_peak_mb": round(peak, 1),
        "rss_growth_mb": round(peak - before, 1),
    }


def main(argv=None) -> list[dict]:
    common.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    from dms.models import Site

    site = Site.objects.order_by("pk").first()
    client = Client()
    client.force_login(get_user_model().objects.get(username=f"{site.code}-manager"))
    today = timezone.localdate()
    month_ago = today - dt.timedelta(days=30)
    urls = [
        f"/care/due.csv?month={today:%Y-%m}",
        f"/dashboard/records/ro_delivered/?site={site.pk}&preset=custom&start={month_ago}"
        f"&end={today}&format=csv",
        f"/dashboard/records/ro_opened/?site={site.pk}&preset=custom&start={month_ago}"
        f"&end={today}&format=csv",
    ]
    results = []
    for url in urls:
        row = download(client, url)
        results.append(row)
        print(
            f"{url[:60]:<60} HTTP {row['status']} streamed={row['streamed']} {row['rows']:,} rows "
            f"{row['mb']} MB in {row['seconds']} s; RSS +{row['rss_growth_mb']} MB "
            f"(peak {row['rss_peak_mb']} MB)",
            flush=True,
        )
    common.save("exports", results)
    return results


if __name__ == "__main__":
    main()
