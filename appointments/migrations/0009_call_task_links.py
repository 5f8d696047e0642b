import django.db.models.deletion
from django.db import migrations, models

COPY = """
INSERT INTO appointments_appointmentcalltask (task_id, appointment_id)
SELECT id, appointment_id FROM followups_calltask WHERE appointment_id IS NOT NULL
"""
# back: the old column is filled again from the link (the outreach migration that dropped it
# is unapplied first, re-adding it empty)
COPY_BACK = """
UPDATE followups_calltask SET appointment_id = (
    SELECT l.appointment_id FROM appointments_appointmentcalltask l WHERE l.task_id = followups_calltask.id
)
"""


class Migration(migrations.Migration):
    """Which appointment a call task is about moves from the outreach engine's table
    (`followups_calltask.appointment_id`) to this app's link table, every link copied."""

    dependencies = [
        ("appointments", "0008_appointment_site_day_idx"),
        ("outreach", "0003_call_task_links_unnamed"),
    ]

    operations = [
        migrations.CreateModel(
            name="AppointmentCallTask",
            fields=[
                (
                    "task",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="appointment_link",
                        serialize=False,
                        to="outreach.calltask",
                    ),
                ),
                (
                    "appointment",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="call_task_links",
                        to="appointments.appointment",
                    ),
                ),
            ],
            options={
                "verbose_name": "appointment's call task",
                "verbose_name_plural": "appointments' call tasks",
            },
        ),
        migrations.AddField(
            model_name="appointment",
            name="call_tasks",
            field=models.ManyToManyField(
                blank=True,
                related_name="appointment_set",
                related_query_name="appointment",
                through="appointments.AppointmentCallTask",
                to="outreach.calltask",
            ),
        ),
        migrations.RunSQL(COPY, COPY_BACK),
    ]
