from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("workorders", "0008_random_file_names"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="repairorder",
            index=models.Index(
                condition=models.Q(("is_first_service", True))
                & ~models.Q(("status", "cancelled")),
                fields=["vehicle"],
                name="ro_first_service_idx",
            ),
        ),
    ]
