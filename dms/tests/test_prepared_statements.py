"""On PostgreSQL the app's queries are bound on the server and a statement run often on a
connection is prepared there (`dms.settings.base.prepared_statements`), so Postgres plans it
once per connection instead of on every request."""

import pytest
from django.db import connection

from dms.models import Site
from dms.settings.base import prepared_statements

pytestmark = pytest.mark.django_db


def test_the_setting_binds_on_the_server_on_postgres_only(monkeypatch):
    monkeypatch.delenv("DATABASE_PREPARED", raising=False)
    pg = prepared_statements({"ENGINE": "django.db.backends.postgresql", "NAME": "x"})
    assert pg["OPTIONS"] == {"server_side_binding": True, "prepare_threshold": 5}
    lite = prepared_statements({"ENGINE": "django.db.backends.sqlite3", "NAME": "x"})
    assert "OPTIONS" not in lite
    monkeypatch.setenv("DATABASE_PREPARED", "false")
    off = prepared_statements({"ENGINE": "django.db.backends.postgresql", "NAME": "x"})
    assert "OPTIONS" not in off


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements: Postgres")
def test_a_query_run_again_on_a_connection_is_prepared(site):
    def prepared() -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            return [row[0] for row in cursor.fetchall() if 'FROM "dms_site"' in row[0]]

    before = prepared()
    for _ in range(6):
        assert Site.objects.filter(pk=site.pk, is_active=True).get().pk == site.pk
    after = prepared()
    # parameters bound by Postgres ($1), not written into the text by the client
    assert [s for s in after if s not in before and "$1" in s]
