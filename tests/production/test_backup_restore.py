"""The restore drill: deploy/backup.sh on a database and media storage with data, then
deploy/restore.sh into a new database and a new, empty storage; every row of every table and
every file (byte for byte) is found again, and every stored file name points at a file."""

import hashlib
import subprocess
import sys

import psycopg
import pytest

from .conftest import PRODUCTION_ENV, ROOT, clean_environ, manage, run_script

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

MAKE_DATA = """
from django.core.files.base import ContentFile
from django.core.management import call_command
from workorders.models import Photo
from workorders.tests.factories import ro_in_state

call_command("load_demo", verbosity=0)
ro = ro_in_state("authorized")  # a drawn signature: a PNG in the media storage
for n, panel in enumerate(("front_bumper", "left_door", "roof")):
    Photo.objects.create(
        repair_order=ro, panel=panel, image=ContentFile(bytes([n]) * (5000 + n), name=f"{panel}.jpg")
    )
result = {"ro": ro.pk}
"""


def _databases():
    from django.conf import settings

    admin = f"postgres://postgres@{settings.PG_HOST}:{settings.PG_PORT}/postgres"
    url = f"postgres://postgres@{settings.PG_HOST}:{settings.PG_PORT}/{{}}"
    names = [f"dms_drill_{kind}_{settings.RUN_ID}" for kind in ("src", "dst")]
    return admin, url, names


@pytest.fixture
def drill_databases():
    """The source database and the new one to restore into (created empty, as the runbook
    says), both dropped afterwards."""
    admin, url, names = _databases()
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    yield [url.format(name) for name in names]
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _table_fingerprints(url: str) -> dict[str, tuple[int, str]]:
    with psycopg.connect(url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        prints = {}
        for table in tables:
            prints[table] = conn.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, chr(10) ORDER BY t::text), '')) FROM \"{table}\" t"  # noqa: S608
            ).fetchone()
        for (seq,) in conn.execute(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
        ).fetchall():
            prints[f"sequence {seq}"] = conn.execute(
                "SELECT last_value FROM pg_sequences WHERE sequencename = %s", [seq]
            ).fetchone()
    return prints


def _files(folder) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file()
    }


def _script(name: str, directory, env) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sh", str(ROOT / "deploy" / name), str(directory)],
        cwd=ROOT,
        env={**clean_environ(), **env, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_a_backup_restores_into_a_new_database_and_storage_with_every_row_and_file(
    tmp_path, drill_databases, throwaway_redis
):
    source_url, target_url = drill_databases
    media_src, media_dst, backup = tmp_path / "media", tmp_path / "media-new", tmp_path / "backup"
    source = {
        **PRODUCTION_ENV,
        "DATABASE_URL": source_url,
        "MEDIA_ROOT": str(media_src),
        "REDIS_URL": throwaway_redis.url,  # the demo's data enqueues work when it commits
    }
    migrated = manage("migrate", "--noinput", "-v", "0", env=source)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    run_script(MAKE_DATA, source)
    files_before = _files(media_src)
    assert len(files_before) >= 4  # three photos and a signature

    made = _script("backup.sh", backup, source)
    assert made.returncode == 0, made.stdout + made.stderr
    assert {p.name for p in backup.iterdir()} == {"dms.dump", "media.tar", "SHA256SUMS"}

    restored = _script(
        "restore.sh", backup, {**source, "DATABASE_URL": target_url, "MEDIA_ROOT": str(media_dst)}
    )
    assert restored.returncode == 0, restored.stdout + restored.stderr

    # every row of every table, and where every sequence stands
    before, after = _table_fingerprints(source_url), _table_fingerprints(target_url)
    assert before["workorders_photo"][0] >= 3
    assert after == before
    # every file, byte for byte, and every stored name points at a file of the new storage
    assert _files(media_dst) == files_before
    with psycopg.connect(target_url) as conn:
        names = [r[0] for r in conn.execute("SELECT image FROM workorders_photo")]
        names += [
            r[0]
            for r in conn.execute("SELECT signature FROM workorders_approval WHERE signature <> ''")
        ]
    assert len(names) >= 4
    for name in names:
        assert (media_dst / name).is_file(), name


def test_a_damaged_backup_is_refused_before_anything_is_restored(tmp_path, drill_databases):
    source_url, target_url = drill_databases
    backup = tmp_path / "backup"
    env = {**PRODUCTION_ENV, "DATABASE_URL": source_url, "MEDIA_ROOT": str(tmp_path / "m")}
    assert manage("migrate", "--noinput", "-v", "0", env=env).returncode == 0
    assert _script("backup.sh", backup, env).returncode == 0
    with (backup / "dms.dump").open("r+b") as f:
        f.seek(200)
        f.write(b"\x00" * 16)
    restored = _script("restore.sh", backup, {**env, "DATABASE_URL": target_url})
    assert restored.returncode != 0
    assert "FAILED" in restored.stdout + restored.stderr
    with psycopg.connect(target_url) as conn:
        assert conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone() == (0,)
