"""The embedded default of `make run` (SQLite, file-system broker) works for every page a demo
user lands on and for every task beat schedules. The suite's own database is Postgres, so this
runs in a process of its own on a temporary SQLite database."""

import json
import subprocess
import sys

import pytest

from .conftest import ROOT, clean_environ

pytestmark = pytest.mark.slow


def test_every_demo_role_opens_its_landing_page_and_menu_and_beat_tasks_succeed(tmp_path):
    env = {
        **clean_environ(),
        "DJANGO_SETTINGS_MODULE": "dms.settings.local",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'dms.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "DJANGO_DEBUG": "false",
        "LOG_LEVEL": "ERROR",
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "production" / "embedded_walk.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")]
    assert lines, result.stdout[-3000:] + result.stderr[-5000:]
    report = json.loads(lines[-1].removeprefix("REPORT "))
    assert report["failures"] == [], result.stderr[-5000:]
    # every demo role was walked, the manager's landing page is the KPI dashboard
    assert set(report["pages"]) >= {"manager", "advisor", "dispatcher", "tech", "qc", "agent"}
    assert "/dashboard/" in report["pages"]["manager"]
    assert len(report["pages"]["manager"]) >= 8  # the manager's menu has every page
    assert report["tasks"]
    assert set(report["tasks"].values()) == {"SUCCESS"}
    assert result.returncode == 0
