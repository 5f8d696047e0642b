"""Celery tasks of proactive care: thin wrappers that take ids and call one service."""

from celery import shared_task

from dms.models import Site

from . import services


@shared_task(acks_late=True, task_reject_on_worker_lost=True)
def run_reminder_rules() -> dict:
    """Nightly (beat): run every site's reminder rules for the site's today. A second run the
    same day creates nothing new (tasks are unique per kind and source)."""
    created = {}
    for site_id in Site.objects.order_by("id").values_list("id", flat=True):
        created[site_id] = run_reminder_rules_for_site(site_id)
    return created


@shared_task(acks_late=True, task_reject_on_worker_lost=True)
def run_reminder_rules_for_site(site_id: int) -> int:
    site = Site.objects.get(pk=site_id)
    return services.run_reminder_rules(site=site).created_total
