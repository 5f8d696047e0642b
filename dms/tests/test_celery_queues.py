"""Every task has a queue of the production layout and soft and hard time limits; the minute
sweeper never shares its queue with the nightly reporting work."""

import pytest
from celery.app.routes import MapRoute

from dms.celery import app
from dms.settings import base

VISIBILITY_TIMEOUT = 3600  # the Redis broker redelivers an unacknowledged task after this


@pytest.fixture(scope="module")
def task_names() -> list[str]:
    app.loader.import_default_modules()
    names = sorted(n for n in app.tasks if not n.startswith("celery."))
    assert names
    return names


def _queue(name: str) -> str:
    route = MapRoute(base.CELERY_TASK_ROUTES)(name)
    return (route or {}).get("queue", base.CELERY_TASK_DEFAULT_QUEUE)


def test_every_task_is_routed_to_one_of_the_production_queues(task_names):
    assert {_queue(n) for n in task_names} <= set(base.DMS_CELERY_QUEUES)
    beat_tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert beat_tasks <= set(task_names)


def test_time_critical_outreach_webhooks_and_reporting_have_queues_of_their_own():
    assert _queue("followups.tasks.sweep_due_tasks") == "outreach"
    assert _queue("followups.tasks.dispatch_batch") == "outreach"
    assert _queue("followups.tasks.dispatch_task") == "outreach"
    assert _queue("followups.tasks.deliver_webhook") == "webhooks"
    assert _queue("dms.tasks.refresh_kpi_rollups") == "reporting"
    assert _queue("customers.tasks.recompute_segments") == "reporting"


def test_every_task_has_a_soft_and_a_hard_time_limit_under_the_visibility_timeout(task_names):
    annotations = app.conf.task_annotations or {}
    for name in task_names:
        task = app.tasks[name]
        soft = annotations.get(name, {}).get("soft_time_limit") or task.soft_time_limit
        hard = annotations.get(name, {}).get("time_limit") or task.time_limit
        soft = soft or app.conf.task_soft_time_limit
        hard = hard or app.conf.task_time_limit
        assert soft, name
        assert hard, name
        assert soft < hard < VISIBILITY_TIMEOUT, name
    # the bound task objects carry the annotated limits (what the worker enforces)
    assert app.tasks["dms.tasks.refresh_kpi_rollups"].soft_time_limit == 2700
