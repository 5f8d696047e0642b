"""The KPI first-service index by due day instead of purchase date: the KPI asks for the sold
vehicles whose first service falls due in the period (purchase date + service interval), which
the old index could only answer by reading every sold vehicle of the sites (277,000 for a
group). The expression is the one `kpis.selectors.AddMonths` writes, so Postgres matches it;
the included columns let it answer from the index alone. Postgres only, like the trigram
indexes; SQLite keeps no index for it."""

from django.db import migrations

from customers.dbops import PostgresOnlySQL


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0008_merge_service_due_on_and_plate_idx"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="vehicle",
            name="vehicle_first_service_idx",
        ),
        PostgresOnlySQL(
            "CREATE INDEX IF NOT EXISTS vehicle_first_service_due_idx ON customers_vehicle "
            "(site_id, ((purchase_date + make_interval(0, service_interval_months))::date)) "
            "INCLUDE (id, first_service_done, purchase_date, service_interval_months) "
            "WHERE sold_by_site AND purchase_date IS NOT NULL;",
            reverse_sql="DROP INDEX IF EXISTS vehicle_first_service_due_idx;",
        ),
    ]
