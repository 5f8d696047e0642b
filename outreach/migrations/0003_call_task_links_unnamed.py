import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """Before the links to appointments and repair orders move to those apps' own tables, the
    old columns give up their reverse names (`call_tasks`), which the new links take over.
    Nothing changes in the database."""

    dependencies = [
        ("outreach", "0002_content_types"),
        ("appointments", "0008_appointment_site_day_idx"),
        ("workorders", "0009_ro_first_service_idx"),
    ]

    operations = [
        migrations.AlterField(
            model_name="calltask",
            name="appointment",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="appointments.appointment",
            ),
        ),
        migrations.AlterField(
            model_name="calltask",
            name="repair_order",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="workorders.repairorder",
            ),
        ),
    ]
