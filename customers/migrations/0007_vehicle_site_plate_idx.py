from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0006_customer_customer_retention_idx_and_more"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="vehicle",
            index=models.Index(fields=["site", "plate", "id"], name="vehicle_site_plate_idx"),
        ),
    ]
