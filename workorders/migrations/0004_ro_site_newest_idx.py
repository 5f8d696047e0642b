# The RO list and API show a site's repair orders newest first; at 2M ROs (70k per site) the
# planner otherwise sorts the whole site history for every page (~700 ms → ~1.5 ms).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("workorders", "0003_payment_method_choices"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="repairorder",
            index=models.Index(fields=["site", "-opened_at", "-id"], name="ro_site_newest_idx"),
        ),
    ]
