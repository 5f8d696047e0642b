from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("followups", "0005_outreach_moved_to_outreach_app"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="complaint",
            index=models.Index(
                fields=["site", "respond_by", "id"], name="complaint_site_respond_idx"
            ),
        ),
    ]
