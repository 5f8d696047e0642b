"""Rebuilds the KPI dashboard's daily rollup from the source rows.

The periodic task keeps the last weeks current; this command is for a new installation, an
import of history, or after correcting old records by hand."""

import datetime as dt
import time

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Min
from django.utils import timezone

from dms.models import Site
from kpis.services import kpi_rollups_rebuild
from workorders.models import RepairOrder


class Command(BaseCommand):
    help = "Rebuild the KPI daily rollup (default: the last 400 days up to yesterday)."

    def add_arguments(self, parser):
        parser.add_argument("--site", action="append", default=[], help="site code (repeatable)")
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--days", type=int, default=400, help="days back from yesterday")
        group.add_argument("--since", type=dt.date.fromisoformat, help="first day, YYYY-MM-DD")
        group.add_argument("--all", action="store_true", help="from each site's first RO")

    def handle(self, *args, **options):
        site, days, since = options["site"], options["days"], options["since"]
        sites = Site.objects.order_by("pk")
        if site:
            sites = sites.filter(code__in=site)
            missing = set(site) - set(sites.values_list("code", flat=True))
            if missing:
                raise CommandError(f"Unknown site code(s): {', '.join(sorted(missing))}")
        if days < 1:
            raise CommandError("--days must be at least 1")
        started = time.monotonic()
        total = 0
        for s in sites:
            yesterday = timezone.localtime(timezone.now(), s.tzinfo).date() - dt.timedelta(days=1)
            first = since or yesterday - dt.timedelta(days=days - 1)
            if options["all"]:
                first = (
                    RepairOrder.objects.filter(site=s).aggregate(d=Min("opened_day"))["d"]
                    or yesterday
                )
            written = kpi_rollups_rebuild(site_ids=[s.pk], since=first)[s.pk]
            total += written
            self.stdout.write(f"{s.code}: {first} … {yesterday}, {written} rows")
        self.stdout.write(
            self.style.SUCCESS(
                f"KPI rollup rebuilt: {total} rows in {time.monotonic() - started:.1f} s."
            )
        )
