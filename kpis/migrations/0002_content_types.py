from django.db import migrations

from dms.migrations_content_types import content_types_move

forwards, backwards = content_types_move("dms", "kpis", ["kpiday", "kpirollupstate"])


class Migration(migrations.Migration):
    """The moved models keep their content types (and permissions): renamed from dms to kpis."""

    dependencies = [
        ("kpis", "0001_initial"),
        ("dms", "0005_kpis_moved_to_kpis_app"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
