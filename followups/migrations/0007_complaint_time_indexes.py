from django.db import migrations, models


class Migration(migrations.Migration):
    """Complaints by the time they were opened and closed: the KPI's complaints of a period."""

    dependencies = [
        ("followups", "0006_complaint_site_respond_idx"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="complaint",
            index=models.Index(fields=["opened_at"], name="complaint_opened_idx"),
        ),
        migrations.AddIndex(
            model_name="complaint",
            index=models.Index(fields=["closed_at"], name="complaint_closed_idx"),
        ),
    ]
