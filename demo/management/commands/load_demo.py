"""Loads the demo site, staff and each app's demo data. Running it twice changes nothing."""

from django.core.management.base import BaseCommand
from django.db import transaction

from demo.loader import load_apps
from dms.demo import DEMO_PASSWORD, load_site


class Command(BaseCommand):
    help = "Load the demo dealership with staff logins and sample data (idempotent)."

    def handle(self, *args, **options):
        with transaction.atomic():
            site, users = load_site()
            load_apps(site=site, users=users)
        self.stdout.write(self.style.SUCCESS(f"Demo site “{site.name}” is ready."))
        self.stdout.write(f"Logins (password {DEMO_PASSWORD}): {', '.join(sorted(users))}")
