"""Two SQL functions the API lists write their rows with on Postgres (dms.api.sqlrows): a
date-time as DRF writes it, and a person's name as dms.names.person_name writes it. Named in
the statements instead of spelt out per column, they keep a list's statement short enough for
psycopg to cache its parsed form (a complaint row spelt out was 7,000 characters). Nothing on
other databases: there the lists write their rows in Python."""

from django.db import migrations


def _literal(chars: str) -> str:
    return "E'" + "".join(f"\\u{ord(c):04x}" for c in chars) + "'"


# what str.strip() takes off, and dms.names.has_cjk's range
WHITESPACE = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())

CREATE = f"""
CREATE OR REPLACE FUNCTION dms_iso(ts timestamptz, zone text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN ts IS NULL THEN NULL ELSE
    to_char(ts AT TIME ZONE zone, 'YYYY-MM-DD"T"HH24:MI:SS')
    || CASE WHEN mod(extract(microseconds FROM ts)::bigint, 1000000) = 0 THEN ''
            ELSE to_char(ts AT TIME ZONE zone, '.US') END
    || CASE WHEN (ts AT TIME ZONE zone) = (ts AT TIME ZONE 'UTC') THEN 'Z'
            WHEN (ts AT TIME ZONE zone) > (ts AT TIME ZONE 'UTC')
              THEN '+' || to_char((ts AT TIME ZONE zone) - (ts AT TIME ZONE 'UTC'), 'HH24:MI')
            ELSE '-' || to_char((ts AT TIME ZONE 'UTC') - (ts AT TIME ZONE zone), 'HH24:MI') END
  END
$$;

CREATE OR REPLACE FUNCTION dms_person_name(first text, last text, username text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN btrim(first, {_literal(WHITESPACE)}) = '' AND btrim(last, {_literal(WHITESPACE)}) = ''
      THEN username
    WHEN (first || last) ~ E'[\\u4e00-\\u9fff]'
      THEN btrim(last, {_literal(WHITESPACE)}) || btrim(first, {_literal(WHITESPACE)})
    ELSE concat_ws(' ', NULLIF(btrim(first, {_literal(WHITESPACE)}), ''),
                   NULLIF(btrim(last, {_literal(WHITESPACE)}), ''))
  END
$$;
"""

DROP = """
DROP FUNCTION IF EXISTS dms_iso(timestamptz, text);
DROP FUNCTION IF EXISTS dms_person_name(text, text, text);
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("dms", "0007_site_is_active_audit_protected")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
