"""Moving models between apps loses nothing: a database of the old layout, with rows in every
moved table, migrates to the new layout with every row, link and audit entry intact.

The old layout is the last migrations before the KPI dashboard left dms (KpiDay,
KpiRollupState → kpis) and the outreach engine left followups (CallTask, OutboundMessage,
WebhookSubscription, WebhookDelivery → outreach). Those moves only change Django's model state
(SeparateDatabaseAndState, tables kept) and rename the models' content types, so the audit
trail and permissions keep pointing at the same rows."""

from datetime import date, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from appointments.models import Appointment
from customers.tests.factories import CustomerFactory
from dms.tests.factories import SiteFactory
from workorders.tests.factories import RepairOrderFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

# The last migration of each app before the moves; apps that did not exist then go to zero.
OLD_LAYOUT = {
    "dms": "0004_kpi_day_additional_work",
    "followups": "0004_call_task_site_deadline_idx",
    "kpis": None,
    "outreach": None,
}
MOVED_TABLES = [
    "dms_kpiday",
    "dms_kpirollupstate",
    "followups_calltask",
    "followups_outboundmessage",
    "followups_webhooksubscription",
    "followups_webhookdelivery",
    "followups_complaint",
    "dms_auditentry",
]


def _migrate(targets: list[tuple[str, str | None]]):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state([t for t in targets if t[1] is not None]).apps


def _latest() -> list[tuple[str, str]]:
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


def _counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        counts = {}
        for table in MOVED_TABLES:
            cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)}")  # noqa: S608
            counts[table] = cursor.fetchone()[0]
    return counts


def test_migrating_a_database_of_the_old_layout_keeps_every_row():
    # given sites and customers, and the database rolled back to the old layout
    site = SiteFactory()
    customer = CustomerFactory(site=site)
    old = _migrate(list(OLD_LAYOUT.items()))
    # and rows in every moved table, written with the old models
    ContentType = old.get_model("contenttypes", "ContentType")
    CallTask = old.get_model("followups", "CallTask")
    now = timezone.now()
    tasks = [
        CallTask.objects.create(
            site_id=site.pk,
            kind="followup",
            source_key=f"old:{i}",
            customer_id=customer.pk,
            due_at=now,
            due_until=now + timedelta(days=2),
            status="sent" if i % 2 else "scheduled",
            channel="sms",
        )
        for i in range(5)
    ]
    old.get_model("followups", "OutboundMessage").objects.create(
        task=tasks[1], site_id=site.pk, channel="sms", to="13800000000", body="hi", backend="x"
    )
    complaint = old.get_model("followups", "Complaint").objects.create(
        site_id=site.pk,
        channel="followup_call",
        customer_id=customer.pk,
        call_task=tasks[0],
        description="noisy brakes",
        respond_by=now,
    )
    task_type, _ = ContentType.objects.get_or_create(app_label="followups", model="calltask")
    AuditEntry = old.get_model("dms", "AuditEntry")
    entries = [
        AuditEntry.objects.create(
            site_id=site.pk,
            content_type=task_type,
            object_id=task.pk,
            action="scheduled",
            to_state="scheduled",
        )
        for task in tasks
    ]
    subscription = old.get_model("followups", "WebhookSubscription").objects.create(
        site_id=site.pk, name="crm", url="http://127.0.0.1:9/", secret="k"
    )
    old.get_model("followups", "WebhookDelivery").objects.create(
        subscription=subscription, entry=entries[0], event="call_task.scheduled", payload={}
    )
    KpiDay = old.get_model("dms", "KpiDay")
    for d in range(3):
        KpiDay.objects.create(site_id=site.pk, day=date(2026, 11, 1 + d), opened=d + 1)
    old.get_model("dms", "KpiRollupState").objects.create(
        site_id=site.pk,
        built_from=date(2026, 11, 1),
        built_through=date(2026, 11, 3),
        refreshed_at=now,
    )
    before = _counts()
    assert all(before.values()), before

    # when it migrates to the new layout (the KPI rollup up to its move: its later migration
    # 0003 deliberately forgets the rolled-up days, checked below)
    latest = _latest()
    new = _migrate(
        [(app, "0002_content_types") if app == "kpis" else (app, name) for app, name in latest]
    )

    # then every row is still there, now read through the new apps' models
    assert _counts() == before
    NewCallTask = new.get_model("outreach", "CallTask")
    assert NewCallTask.objects.count() == 5
    assert new.get_model("outreach", "OutboundMessage").objects.get().task_id == tasks[1].pk
    assert new.get_model("outreach", "WebhookDelivery").objects.get().subscription_id == (
        subscription.pk
    )
    assert new.get_model("followups", "Complaint").objects.get(pk=complaint.pk).call_task_id == (
        tasks[0].pk
    )
    assert new.get_model("kpis", "KpiDay").objects.count() == 3
    assert new.get_model("kpis", "KpiRollupState").objects.get().built_through == date(2026, 11, 3)
    # and the audit trail points at the same content type, renamed to the new app
    NewContentType = new.get_model("contenttypes", "ContentType")
    assert not NewContentType.objects.filter(app_label="followups", model="calltask").exists()
    moved = NewContentType.objects.get(app_label="outreach", model="calltask")
    assert moved.pk == task_type.pk
    NewAuditEntry = new.get_model("dms", "AuditEntry")
    assert NewAuditEntry.objects.filter(content_type=moved).count() == 5

    # and the rollup's column migration forgets only the rolled-up days (rebuilt by the refresh
    # with the new column filled), nothing else
    last = _migrate(latest)
    assert last.get_model("kpis", "KpiDay").objects.count() == 0
    assert not last.get_model("kpis", "KpiRollupState").objects.exists()
    assert last.get_model("outreach", "CallTask").objects.count() == 5
    assert last.get_model("dms", "AuditEntry").objects.filter(content_type_id=moved.pk).count() == 5


# The last migrations before the links of call tasks to appointments and repair orders left the
# outreach engine's table for those apps' own link tables.
BEFORE_LINKS = [
    ("outreach", "0002_content_types"),
    ("appointments", "0008_appointment_site_day_idx"),
    ("workorders", "0009_ro_first_service_idx"),
]


def test_call_task_links_move_to_the_apps_above_with_every_row():
    # given a repair order and an appointment (tables the move does not touch)
    ro = RepairOrderFactory()
    start = timezone.now() + timedelta(days=1)
    appointment = Appointment.objects.create(
        site=ro.site,
        customer=ro.customer,
        vehicle=ro.vehicle,
        advisor=ro.advisor,
        start=start,
        end=start + timedelta(hours=1),
        day=start.date(),
    )
    latest = _latest()
    # and the database rolled back to the old layout, with call tasks naming them in its columns
    old = _migrate(BEFORE_LINKS)
    OldCallTask = old.get_model("outreach", "CallTask")
    now = timezone.now()

    def task(key, **links):
        return OldCallTask.objects.create(
            site_id=ro.site_id,
            kind="followup",
            source_key=key,
            customer_id=ro.customer_id,
            due_at=now,
            due_until=now,
            data={"warranty": True},
            **links,
        )

    about_ro = [task(f"ro:{i}", repair_order_id=ro.pk) for i in range(3)]
    about_appointment = task("reminder", appointment_id=appointment.pk)
    about_both = task("care", repair_order_id=ro.pk, appointment_id=appointment.pk)
    about_nothing = task("winback")

    # when it migrates to the new layout
    new = _migrate(latest)

    # then every task is still there and every link is in the link tables, none invented
    NewCallTask = new.get_model("outreach", "CallTask")
    assert NewCallTask.objects.count() == 6
    assert {f.name for f in NewCallTask._meta.concrete_fields}.isdisjoint(
        {"appointment", "repair_order"}
    )
    RoLinks = new.get_model("workorders", "RepairOrderCallTask")
    AppointmentLinks = new.get_model("appointments", "AppointmentCallTask")
    assert dict(RoLinks.objects.values_list("task_id", "repair_order_id")) == {
        t.pk: ro.pk for t in [*about_ro, about_both]
    }
    assert dict(AppointmentLinks.objects.values_list("task_id", "appointment_id")) == {
        about_appointment.pk: appointment.pk,
        about_both.pk: appointment.pk,
    }
    # and a task about a repair order now carries its advisor, its other data kept
    for t in [*about_ro, about_both]:
        assert NewCallTask.objects.get(pk=t.pk).data == {
            "warranty": True,
            "advisor_id": ro.advisor_id,
        }
    assert NewCallTask.objects.get(pk=about_nothing.pk).data == {"warranty": True}

    # and going back restores the columns from the links
    back = _migrate(BEFORE_LINKS)
    Back = back.get_model("outreach", "CallTask")
    assert set(Back.objects.filter(repair_order_id=ro.pk).values_list("pk", flat=True)) == {
        t.pk for t in [*about_ro, about_both]
    }
    assert set(Back.objects.filter(appointment_id=appointment.pk).values_list("pk", flat=True)) == {
        about_appointment.pk,
        about_both.pk,
    }
    _migrate(latest)
