"""The outreach sweeper draining 100,000 due tasks through a real Celery worker.

Creates N reminder SMS tasks due now (one run tag, so a rerun never meets an older run's rows),
starts a Celery worker on the benchmark queue (Redis), runs the beat task's body
(`followups.tasks.sweep_due_tasks`, in outreach/tasks.py) once a second as a fast beat would, and waits until every
task has left `scheduled`/`queued`. Then checks exactly-once: one outbox message and one "sent"
audit row per task, none missing. Records the worker's peak RSS.

The bench sites' calling hours are opened to the whole day for the run (restored afterwards), so
the result does not depend on the time of day the benchmark is run.

    .venv/bin/python bench/sweeper.py [--tasks 100000] [--concurrency 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common


def create_tasks(n: int, tag: str) -> None:
    from django.db import connection
    from django.utils import timezone

    from customers.models import Customer
    from outreach.models import CallTask, TaskKind

    now = timezone.now()
    customers = list(
        Customer.objects.filter(consent_sms=True, quiet_hours_start__isnull=True)
        .exclude(phone="")
        .values_list("id", "site_id")[: min(n, 50_000)]
    )
    if not customers:
        msg = "the benchmark database has no customers: generate a dataset first"
        raise SystemExit(msg)
    rows = []
    for i in range(n):
        cust, site = customers[i % len(customers)]
        rows.append(
            CallTask(
                site_id=site,
                kind=TaskKind.REMINDER_SOON,
                channel="sms",
                source_key=f"bench:{tag}:{i}",
                customer_id=cust,
                due_at=now - dt.timedelta(minutes=1),
                due_until=now + dt.timedelta(days=1),
                message="您的车辆保养预约在今天，请准时到店。",
            )
        )
        if len(rows) == 5000:
            CallTask.objects.bulk_create(rows)
            rows.clear()
    if rows:
        CallTask.objects.bulk_create(rows)
    with connection.cursor() as cur:
        cur.execute("ANALYZE followups_calltask")


def tagged(tag: str):
    """This run's tasks, as a range of the (kind, source_key) unique index: the run polls it
    every second, and a `LIKE 'bench:…%'` over all call tasks is a parallel sequential scan
    (~350 ms over 1.9M rows on the group dataset) that would compete with the worker."""
    from outreach.models import CallTask, TaskKind

    return CallTask.objects.filter(
        kind=TaskKind.REMINDER_SOON,
        source_key__gte=f"bench:{tag}:",
        source_key__lt=f"bench:{tag};",  # ";" follows ":"
    )


def counts(tag: str) -> dict[str, int]:
    from django.db.models import Count

    return dict(tagged(tag).values_list("status").annotate(n=Count("id")).order_by())


def exactly_once(tag: str) -> dict:
    from django.contrib.contenttypes.models import ContentType
    from django.db.models import Count

    from dms.models import AuditEntry
    from outreach.models import CallTask, OutboundMessage

    tasks = tagged(tag)
    ids = tasks.values("id")
    messages = OutboundMessage.objects.filter(task_id__in=ids).count()
    ct = ContentType.objects.get_for_model(CallTask)
    sent_audits = AuditEntry.objects.filter(content_type=ct, object_id__in=ids, to_state="sent")
    twice = (
        sent_audits.values("object_id").annotate(n=Count("id")).filter(n__gt=1).order_by().count()
    )
    return {
        "tasks": tasks.count(),
        "sent": tasks.filter(status="sent").count(),
        "outbox_messages": messages,
        "sent_audit_rows": sent_audits.count(),
        "tasks_sent_twice": twice,
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=180)
    args = parser.parse_args(argv)
    common.setup()
    import datetime as _dt

    from django.conf import settings

    from dms.models import Site
    from outreach.tasks import sweep_due_tasks

    tag = uuid.uuid4().hex[:8]
    hours = list(Site.objects.values_list("pk", "calling_hours_start", "calling_hours_end"))
    Site.objects.update(calling_hours_start=_dt.time(0, 0), calling_hours_end=_dt.time(23, 59, 59))
    # what was already due in the benchmark database is swept first, outside the timing
    sweep_due_tasks.apply()
    started = time.monotonic()
    create_tasks(args.tasks, tag)
    print(f"created {args.tasks:,} due tasks in {time.monotonic() - started:.1f} s", flush=True)

    worker = subprocess.Popen(
        [
            str(common.ROOT / ".venv" / "bin" / "celery"),
            "-A",
            "dms",
            "worker",
            "-Q",
            settings.CELERY_TASK_DEFAULT_QUEUE,
            "-c",
            str(args.concurrency),
            "--prefetch-multiplier",
            "1",
            "-l",
            "warning",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=common.ROOT,
        env=common.env_for_children(),
    )
    peak = {"mb": 0.0}
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            for pid in [worker.pid, *common.children_of(worker.pid)]:
                peak["mb"] = max(peak["mb"], common.peak_rss_mb(pid) or 0)
            time.sleep(0.25)

    threading.Thread(target=watch, daemon=True).start()
    result: dict = {"tasks": args.tasks, "concurrency": args.concurrency}
    try:
        time.sleep(3)  # the worker connects to the broker
        started = time.monotonic()
        done_at = None
        sweeps = [0]
        sweeping = threading.Event()
        sweeping.set()

        def beat():
            # a fast beat: the sweep once a second (one sweep can take long: it claims every
            # due row in batches and enqueues each batch after its commit)
            from django.db import connection

            while sweeping.is_set():
                sweep_due_tasks.apply()
                sweeps[0] += 1
                time.sleep(1)
            connection.close()

        beat_thread = threading.Thread(target=beat, daemon=True)
        beat_thread.start()
        claimed_at = None
        while time.monotonic() - started < args.timeout:
            c = counts(tag)
            if claimed_at is None and c.get("scheduled", 0) == 0:
                claimed_at = time.monotonic()  # every task claimed by the sweeper
            pending = c.get("scheduled", 0) + c.get("queued", 0)
            if pending == 0:
                done_at = time.monotonic()
                break
            time.sleep(1)
        elapsed = (done_at or time.monotonic()) - started
        sweeping.clear()
        beat_thread.join(timeout=60)
        c = counts(tag)
        drained = args.tasks - c.get("scheduled", 0) - c.get("queued", 0)
        result.update(
            {
                "seconds": round(elapsed, 1),
                "all_claimed_after_seconds": (
                    round(claimed_at - started, 1) if claimed_at is not None else None
                ),
                "finished": done_at is not None,
                "drained": drained,
                "per_second": round(drained / elapsed, 1),
                "statuses": counts(tag),
                "sweeps": sweeps[0],
            }
        )
    finally:
        stop.set()
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        for pk, start, end in hours:
            Site.objects.filter(pk=pk).update(calling_hours_start=start, calling_hours_end=end)
    if not result.get("finished"):
        # out of time: what is left is cancelled so a later run does not sweep it
        tagged(tag).filter(status__in=("scheduled", "queued")).update(status="cancelled")
    result["check"] = exactly_once(tag)
    # exactly once: every task that was sent has one outbox message and one "sent" audit row
    check = result["check"]
    result["exactly_once"] = (
        check["outbox_messages"] == check["sent"] == check["sent_audit_rows"]
        and check["tasks_sent_twice"] == 0
        and (check["sent"] == args.tasks or not result.get("finished"))
    )
    result["celery_worker_peak_rss_mb"] = round(peak["mb"], 1)
    print(
        f"{args.tasks:,} tasks in {result['seconds']} s ({result['per_second']}/s; all claimed "
        f"after {result.get('all_claimed_after_seconds')} s), "
        f"finished={result['finished']}, exactly once={result['exactly_once']} {result['check']}, "
        f"worker peak RSS {peak['mb']:.0f} MB"
    )
    common.save("sweeper", result)
    return result


if __name__ == "__main__":
    main()
