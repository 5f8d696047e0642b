"""Trigram (pg_trgm) GIN indexes for the one-box lookup on Postgres; no-ops on SQLite."""

from django.db import migrations

from customers.dbops import PostgresOnlySQL


class Migration(migrations.Migration):
    dependencies = [("customers", "0003_lookup_and_segments")]

    operations = [
        PostgresOnlySQL(
            "CREATE EXTENSION IF NOT EXISTS pg_trgm;",
            reverse_sql=migrations.RunSQL.noop,
        ),
        PostgresOnlySQL(
            "CREATE INDEX IF NOT EXISTS customers_customer_name_trgm "
            "ON customers_customer USING gin (name gin_trgm_ops);",
            reverse_sql="DROP INDEX IF EXISTS customers_customer_name_trgm;",
        ),
        PostgresOnlySQL(
            "CREATE INDEX IF NOT EXISTS customers_vehicle_plate_trgm "
            "ON customers_vehicle USING gin (plate gin_trgm_ops);",
            reverse_sql="DROP INDEX IF EXISTS customers_vehicle_plate_trgm;",
        ),
    ]
