from django.db import migrations


class Migration(migrations.Migration):
    """KpiDay and KpiRollupState now belong to the kpis app (kpis 0001): the tables and their
    rows stay; only Django's model state leaves dms."""

    dependencies = [
        ("dms", "0004_kpi_day_additional_work"),
        ("kpis", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(name="KpiDay"),
                migrations.DeleteModel(name="KpiRollupState"),
            ],
        ),
    ]
