from django.db import migrations

from dms.migrations_content_types import content_types_move

forwards, backwards = content_types_move(
    "followups",
    "outreach",
    ["calltask", "outboundmessage", "webhooksubscription", "webhookdelivery"],
)


class Migration(migrations.Migration):
    """The moved models keep their content types (so the audit trail of every call task and
    the webhook rows still point at them): renamed from followups to outreach."""

    dependencies = [
        ("outreach", "0001_initial"),
        ("followups", "0005_outreach_moved_to_outreach_app"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("dms", "0001_initial"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
