"""Btree pattern indexes for name lookups by start or end (the given name); Postgres only."""

from django.db import migrations

from customers.dbops import PostgresOnlySQL


class Migration(migrations.Migration):
    dependencies = [("customers", "0004_trigram_indexes")]

    operations = [
        PostgresOnlySQL(
            "CREATE INDEX IF NOT EXISTS customers_customer_name_prefix "
            "ON customers_customer (site_id, name varchar_pattern_ops);",
            reverse_sql="DROP INDEX IF EXISTS customers_customer_name_prefix;",
        ),
        PostgresOnlySQL(
            "CREATE INDEX IF NOT EXISTS customers_customer_name_suffix "
            "ON customers_customer (site_id, reverse(name) text_pattern_ops);",
            reverse_sql="DROP INDEX IF EXISTS customers_customer_name_suffix;",
        ),
    ]
