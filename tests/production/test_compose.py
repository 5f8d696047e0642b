"""docker-compose.yml and the production smoke test describe the same processes: the same
services, commands and environment names (tests/production/stack.py is the smoke test's side)."""

import re
from pathlib import Path

import pytest
import yaml

from dms.settings import base

from .stack import APP_ENV, APP_SERVICES, LOCAL_ONLY_ENV, PROXY, ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_IMAGE_SERVICES = [n for n, s in SERVICES.items() if "dms-lite" in str(s.get("image", ""))]


def _default(value: str) -> str:
    """`${NAME:-default}` → default, as compose resolves it without the variable set."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value))


def _env_names(service: dict) -> set[str]:
    env = service.get("environment") or {}
    names = set(env) if isinstance(env, dict) else {e.split("=", 1)[0] for e in env}
    if service.get("env_file"):
        names |= _env_example()
    return names


def _env_example() -> set[str]:
    names = set()
    for line in (ROOT / ".env.example").read_text().splitlines():
        line = line.strip().lstrip("# ")
        if re.match(r"^[A-Z][A-Z0-9_]*=", line):
            names.add(line.split("=", 1)[0])
    return names


def test_the_same_application_services_run_the_same_commands():
    assert set(APP_IMAGE_SERVICES) == set(APP_SERVICES)
    for name, (command, _extra) in APP_SERVICES.items():
        assert [_default(a) for a in SERVICES[name]["command"]] == command, name


def test_the_proxy_is_caddy_with_the_repositorys_caddyfile():
    proxy = SERVICES["proxy"]
    assert proxy["image"].startswith("caddy:")
    assert proxy["command"] == PROXY[0]
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    assert set(proxy["environment"]) == PROXY[1]
    assert {"80:80", "443:443"} <= set(proxy["ports"])
    assert proxy["depends_on"]["web"]["condition"] == "service_healthy"
    # the web replicas are not published: only the proxy is reachable from outside
    assert "ports" not in SERVICES["web"]


def test_the_same_environment_names():
    for name, (_command, extra) in APP_SERVICES.items():
        names = _env_names(SERVICES[name])
        # what the smoke test gives each process is what compose gives the container …
        assert APP_ENV | extra <= names, (name, (APP_ENV | extra) - names)
        # … and compose sets nothing the smoke test leaves out, but for the optional settings
        # that .env.example lists commented out
        optional = _env_example() - APP_ENV
        assert names - APP_ENV - extra <= optional | {"POSTGRES_PASSWORD"}, name
    assert not LOCAL_ONLY_ENV & (APP_ENV | {n for _c, e in APP_SERVICES.values() for n in e})


def test_one_image_built_once_and_used_by_every_application_service():
    built = [n for n, s in SERVICES.items() if "build" in s]
    assert built == ["migrate"]
    images = {SERVICES[n]["image"] for n in APP_SERVICES}
    assert len(images) == 1
    for name in APP_SERVICES:
        if name != "migrate":
            assert SERVICES[name]["pull_policy"] == "never", name


def test_migrate_is_one_shot_and_everything_waits_for_it():
    assert SERVICES["migrate"]["restart"] == "no"
    for name in APP_SERVICES:
        if name != "migrate":
            condition = SERVICES[name]["depends_on"]["migrate"]["condition"]
            assert condition == "service_completed_successfully", name


def test_exactly_one_beat_and_a_worker_for_every_queue():
    beats = [n for n, s in SERVICES.items() if "beat" in (s.get("command") or [])]
    assert beats == ["beat"]
    assert SERVICES["beat"]["deploy"]["replicas"] == 1
    consumed = []
    for name, service in SERVICES.items():
        command = service.get("command") or []
        if "worker" in command:
            consumed += command[command.index("-Q") + 1].split(",")
            assert "healthcheck" in service, name
            assert "deploy" not in service, name  # scales with --scale
    assert sorted(consumed) == sorted(base.DMS_CELERY_QUEUES)


@pytest.mark.parametrize("name", ["web"])
def test_the_web_healthcheck_asks_the_health_endpoint_by_ip(name):
    test = SERVICES[name]["healthcheck"]["test"]
    assert "http://127.0.0.1:8000/health/web/" in test


def test_the_image_runs_as_a_user_and_leaves_secrets_and_data_out():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER dms$", dockerfile, re.M)
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".env", ".git", ".venv", "node_modules", "var"} <= ignored
    assert Path(ROOT / "deploy" / "gunicorn.conf.py").exists()
