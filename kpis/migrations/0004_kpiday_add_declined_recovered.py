from django.db import migrations, models


def forget_rollup(apps, schema_editor):
    """Days rolled up before the new column would read 0 declined lines recovered: the rollup
    is forgotten, so every period is computed live until the periodic refresh (and the nightly
    400 days, or `manage.py rebuild_kpi_rollups`) builds it again with the column filled."""
    apps.get_model("kpis", "KpiRollupState").objects.all().delete()
    apps.get_model("kpis", "KpiDay").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("kpis", "0003_kpiday_jobs_implausible"),
    ]

    operations = [
        migrations.AddField(
            model_name="kpiday",
            name="add_declined_recovered",
            field=models.IntegerField(default=0),
        ),
        migrations.RunPython(forget_rollup, migrations.RunPython.noop),
    ]
