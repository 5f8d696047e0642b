from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    """An agent's open calls by assignee, status and site (the follow-up desk's queue); it
    replaces the index on assignee and status, whose queries it serves as well. The new index is
    made before the old one goes, so the desk is never without one."""

    dependencies = [
        ("customers", "0012_vehicle_due_on_covering"),
        ("dms", "0010_iso_datetime_zone_offsets"),
        ("outreach", "0004_call_task_links"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="calltask",
            index=models.Index(
                fields=["assignee", "status", "site"], name="call_task_assignee_idx"
            ),
        ),
        migrations.RemoveIndex(
            model_name="calltask",
            name="followups_c_assigne_be58ba_idx",
        ),
    ]
