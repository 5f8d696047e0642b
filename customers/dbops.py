"""Migration operations that only run on Postgres (pg_trgm and its GIN indexes).

SQLite, the embedded default, skips them: the lookup still works there, just without the
trigram indexes that keep it fast at 300k customers.
"""

from django.db import migrations


class PostgresOnlySQL(migrations.RunSQL):
    """`RunSQL` that is a no-op on every database except Postgres."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
