"""A clock entry keeps its repair order's site (workshop.models.ClockEntry): added empty, filled
from each entry's job and RO, then required and indexed with the start time."""

import django.db.models.deletion
from django.db import migrations, models

FILL = """
UPDATE workshop_clockentry SET site_id = (
    SELECT ro.site_id FROM workorders_jobline jl
    JOIN workorders_repairorder ro ON ro.id = jl.repair_order_id
    WHERE jl.id = workshop_clockentry.job_id
) WHERE site_id IS NULL
"""


class Migration(migrations.Migration):
    # each step its own transaction: the fill's updates of a deferred foreign key would leave
    # pending trigger events that forbid the ALTER TABLE after it in the same transaction
    atomic = False

    dependencies = [
        ("dms", "0001_initial"),
        ("workshop", "0004_clockentry_clock_entry_started_idx"),
    ]

    operations = [
        migrations.AddField(
            model_name="clockentry",
            name="site",
            field=models.ForeignKey(
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="dms.site",
            ),
        ),
        migrations.RunSQL(FILL, migrations.RunSQL.noop, elidable=False),
        migrations.AlterField(
            model_name="clockentry",
            name="site",
            field=models.ForeignKey(
                editable=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="dms.site",
            ),
        ),
        migrations.AddIndex(
            model_name="clockentry",
            index=models.Index(fields=["site", "started_at"], name="clock_entry_site_started_idx"),
        ),
    ]
