from django.db import migrations, models

from customers.dbops import PostgresOnlySQL

OLD_INDEX = (
    "CREATE INDEX IF NOT EXISTS vehicle_first_service_due_idx ON customers_vehicle "
    "(site_id, ((purchase_date + make_interval(0, service_interval_months))::date)) "
    "INCLUDE (id, first_service_done, purchase_date, service_interval_months) "
    "WHERE sold_by_site AND purchase_date IS NOT NULL;"
)


class Migration(migrations.Migration):
    """The day a new car's first service falls (fell) due, stored by the one rule
    (`customers.service_due`, the site's first-service rule) as the next-service day is; the
    KPI's first-service capture reads it instead of computing purchase date + service interval
    itself, so its index by that expression (0009) goes. The day is filled right after this
    migration by the post_migrate hook (`customers.apps`)."""

    dependencies = [
        ('customers', '0010_phone_tail_indexes'),
        ('dms', '0007_site_is_active_audit_protected'),
    ]

    operations = [
        migrations.AddField(
            model_name='vehicle',
            name='first_service_due_on',
            field=models.DateField(blank=True, null=True, verbose_name='first service falls due on'),
        ),
        migrations.AddIndex(
            model_name='vehicle',
            index=models.Index(condition=models.Q(('first_service_due_on__isnull', False)), fields=['site', 'first_service_due_on'], include=('id', 'first_service_done'), name='vehicle_first_service_day_idx'),
        ),
            PostgresOnlySQL("DROP INDEX IF EXISTS vehicle_first_service_due_idx;", OLD_INDEX),
    ]
