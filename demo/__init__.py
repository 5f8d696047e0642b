"""The demo dealership (`manage.py load_demo`, run by `make run`): the top floor, above every app,
because loading it writes across all of them — the archive with its past visits (repair orders
and follow-up results written in bulk), then each app's own demo data."""
