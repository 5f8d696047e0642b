"""The one-box lookup's "last 4 digits of a phone": an expression index on each number's last 4
characters, so the lookup compares `right(phone, 4)` through an index instead of reading every
customer of the site for `phone LIKE '%5678'`. The expression is the one Django's `Right`
writes. Postgres only, like the other lookup indexes."""

from django.db import migrations

from customers.dbops import PostgresOnlySQL


class Migration(migrations.Migration):
    dependencies = [("customers", "0009_vehicle_first_service_due_idx")]

    operations = [
        PostgresOnlySQL(
            "CREATE INDEX IF NOT EXISTS customers_customer_phone_tail "
            "ON customers_customer (site_id, right(phone, 4));",
            reverse_sql="DROP INDEX IF EXISTS customers_customer_phone_tail;",
        ),
        PostgresOnlySQL(
            "CREATE INDEX IF NOT EXISTS customers_customer_phone2_tail "
            "ON customers_customer (site_id, right(phone2, 4));",
            reverse_sql="DROP INDEX IF EXISTS customers_customer_phone2_tail;",
        ),
    ]
