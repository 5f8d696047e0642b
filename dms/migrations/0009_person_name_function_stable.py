"""dms_person_name (0008) declared STABLE: its body calls concat_ws, which Postgres marks
STABLE, and a SQL function declared IMMUTABLE around a STABLE call is never inlined into the
statement that names it — it ran through the function executor once per name. Inlined, the
complaint list's page costs ~20 % less time in Postgres (1.33 → 1.08 ms a page of 25 rows,
docs/benchmarks.md). The result is the same: the function reads nothing but its arguments."""

from django.db import migrations


def _volatility(value: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"ALTER FUNCTION dms_person_name(text, text, text) {value}")

    return run


class Migration(migrations.Migration):
    dependencies = [("dms", "0008_api_list_sql_functions")]

    operations = [
        migrations.RunPython(_volatility("STABLE"), _volatility("IMMUTABLE"), elidable=False)
    ]
