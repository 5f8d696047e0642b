"""Loads the demo site, staff and each app's demo data. Running it twice changes nothing."""

from importlib import import_module

from django.core.management.base import BaseCommand
from django.db import transaction

from dms.demo import DEMO_PASSWORD, load_site

# Order matters: later apps use what earlier ones made.
DEMO_APPS = ["customers", "appointments", "workorders", "workshop", "followups", "care"]


def load_apps(*, site, users) -> None:
    """Each app's demo data for a site (the demo site, or a second one in tests)."""
    for app in DEMO_APPS:
        try:
            module = import_module(f"{app}.demo")
        except ModuleNotFoundError as exc:
            if exc.name != f"{app}.demo":
                raise
            continue
        module.load(site=site, users=users)


class Command(BaseCommand):
    help = "Load the demo dealership with staff logins and sample data (idempotent)."

    def handle(self, *args, **options):
        with transaction.atomic():
            site, users = load_site()
            load_apps(site=site, users=users)
        self.stdout.write(self.style.SUCCESS(f"Demo site “{site.name}” is ready."))
        self.stdout.write(f"Logins (password {DEMO_PASSWORD}): {', '.join(sorted(users))}")
