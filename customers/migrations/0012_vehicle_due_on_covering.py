from django.db import migrations, models


class Migration(migrations.Migration):
    """The index of the vehicles by their next service day carries the owner, so "due this
    month" (which leaves out merged-away owners) counts from the index alone (PostgreSQL; on
    SQLite the same index without the included column)."""

    dependencies = [
        ("customers", "0011_vehicle_first_service_due_on"),
        ("dms", "0009_person_name_function_stable"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="vehicle",
            name="customers_v_site_id_c87d0d_idx",
        ),
        migrations.AddIndex(
            model_name="vehicle",
            index=models.Index(
                fields=["site", "service_due_on"], include=("owner",), name="vehicle_due_on_idx"
            ),
        ),
    ]
