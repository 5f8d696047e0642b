import django.db.models.deletion
from django.db import migrations, models

COPY = """
INSERT INTO workorders_repairordercalltask (task_id, repair_order_id)
SELECT id, repair_order_id FROM followups_calltask WHERE repair_order_id IS NOT NULL
"""
# back: the old column is filled again from the link (the outreach migration that dropped it
# is unapplied first, re-adding it empty)
COPY_BACK = """
UPDATE followups_calltask SET repair_order_id = (
    SELECT l.repair_order_id FROM workorders_repairordercalltask l WHERE l.task_id = followups_calltask.id
)
"""


def advisor_into_data(apps, schema_editor):
    """Tasks about a repair order carry its advisor in their data (`advisor_id`), as new ones
    do; one statement per database (json functions differ)."""
    if schema_editor.connection.vendor == "postgresql":
        sql = """
            UPDATE followups_calltask t
            SET data = jsonb_set(t.data, '{advisor_id}', to_jsonb(ro.advisor_id))
            FROM workorders_repairorder ro
            WHERE ro.id = t.repair_order_id AND NOT (t.data ? 'advisor_id')
        """
    else:
        sql = """
            UPDATE followups_calltask
            SET data = json_set(data, '$.advisor_id', (
                SELECT advisor_id FROM workorders_repairorder ro
                WHERE ro.id = followups_calltask.repair_order_id
            ))
            WHERE repair_order_id IS NOT NULL AND json_type(data, '$.advisor_id') IS NULL
        """
    schema_editor.execute(sql)


class Migration(migrations.Migration):
    """Which repair order a call task is about moves from the outreach engine's table
    (`followups_calltask.repair_order_id`) to this app's link table, every link copied; the
    RO's advisor (whom the engine never gives the call) is written into the task's data."""

    dependencies = [
        ("outreach", "0003_call_task_links_unnamed"),
        ("workorders", "0009_ro_first_service_idx"),
    ]

    operations = [
        migrations.CreateModel(
            name="RepairOrderCallTask",
            fields=[
                (
                    "task",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="repair_order_link",
                        serialize=False,
                        to="outreach.calltask",
                    ),
                ),
                (
                    "repair_order",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="call_task_links",
                        to="workorders.repairorder",
                    ),
                ),
            ],
            options={
                "verbose_name": "repair order's call task",
                "verbose_name_plural": "repair orders' call tasks",
            },
        ),
        migrations.AddField(
            model_name="repairorder",
            name="call_tasks",
            field=models.ManyToManyField(
                blank=True,
                related_name="repair_order_set",
                related_query_name="repair_order",
                through="workorders.RepairOrderCallTask",
                to="outreach.calltask",
            ),
        ),
        migrations.RunSQL(COPY, COPY_BACK),
        migrations.RunPython(advisor_into_data, migrations.RunPython.noop),
    ]
