"""Fill a Postgres database with a dealer group's service history for the benchmarks."""

import datetime as dt
import time

from django.core.management.base import BaseCommand, CommandError

from bench import dataset


class Command(BaseCommand):
    requires_system_checks = []  # only needs the models, not the URLs or views

    help = (
        "Generate a dealer group's data with Postgres COPY (streamed, reproducible with --seed). "
        "Use a database of its own: --reset empties every data table first."
    )

    def add_arguments(self, parser):
        parser.add_argument("--preset", choices=sorted(dataset.PRESETS), default=None)
        parser.add_argument("--sites", type=int)
        parser.add_argument("--customers", type=int)
        parser.add_argument("--vehicles", type=int)
        parser.add_argument("--ros", type=int)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--today",
            type=dt.date.fromisoformat,
            default=None,
            help="the day the data ends (default: today); with --seed it fixes every row",
        )
        parser.add_argument(
            "--reset", action="store_true", help="empty the data tables first (needed if not empty)"
        )

    def handle(self, *args, **opts):
        sizes = dict(dataset.PRESETS[opts["preset"] or "small"])
        for key in ("sites", "customers", "vehicles", "ros"):
            if opts[key] is not None:
                sizes[key] = opts[key]
        if min(sizes.values()) < 1:
            raise CommandError("Every size must be at least 1.")
        if sizes["vehicles"] < sizes["customers"]:
            raise CommandError("Every customer has a vehicle: --vehicles must be ≥ --customers.")
        try:
            dsn = dataset.dsn_of_default_database()
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        if opts["reset"]:
            dataset.reset(dsn)
        elif dataset.has_data(dsn):
            raise CommandError("The database already has sites or customers: add --reset.")
        self.stdout.write(
            "Generating {sites} sites, {customers:,} customers, {vehicles:,} vehicles, "
            "{ros:,} repair orders (seed {seed})…".format(**sizes, seed=opts["seed"])
        )
        started = time.monotonic()
        counts = dataset.generate(
            **sizes, seed=opts["seed"], today=opts["today"], log=self.stdout.write
        )
        elapsed = time.monotonic() - started
        total = sum(counts.values())
        for name, n in counts.items():
            self.stdout.write(f"  {name:<12} {n:>12,}")
        self.stdout.write(
            self.style.SUCCESS(
                f"{total:,} rows in {elapsed:.1f} s ({total / elapsed:,.0f} rows/s), "
                "including VACUUM ANALYZE"
            )
        )
