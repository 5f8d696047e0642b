"""The OpenAPI schema a client generates code from: valid, unambiguous, every error described."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

METHODS = {"get", "post", "put", "patch", "delete"}
KEPT = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


@pytest.fixture
def schema():
    GENERATOR_STATS.reset()
    return SchemaGenerator().get_schema(request=None, public=True)


def test_schema_generates_without_warnings_and_validates(tmp_path):
    # a name collision (two apps' "Error", two "AssignInput", two enums called "status") would
    # silently describe one body with another's fields: generation must be warning-free
    GENERATOR_STATS.reset()
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "s.yml"))


def operations(schema):
    for path, items in schema["paths"].items():
        for method, operation in items.items():
            if method in METHODS:
                yield method.upper(), path, operation


def test_every_operation_describes_its_errors_with_the_one_error_body(schema):
    wrong = []
    for method, path, operation in operations(schema):
        codes = {c for c in operation["responses"] if c.startswith("4")}
        public = path == "/api/v1/auth/token/"
        wanted = (set() if path == "/api/v1/" else {"400"}) | (set() if public else {"401"})
        if method != "GET" and not public and path != "/api/v1/customers/import/":
            wanted |= {"409", "422"}  # Idempotency-Key: first request still running, reused key
        if "{" in path:
            wanted.add("404")
        for code in sorted(wanted - codes):
            wrong.append(f"{method} {path}: {code} missing")
        if method == "GET" and "409" in codes:
            wrong.append(f"{method} {path}: a read declares 409")
        if "{" not in path and "404" in codes and path != "/api/v1/care-bookings/":
            wrong.append(f"{method} {path}: 404 without an id in the path")
        for code in codes:
            body = operation["responses"][code]["content"]["application/json"]["schema"]
            if path == "/api/v1/customers/import/" and code == "400":
                # the one error body, with the check's row errors
                body = schema["components"]["schemas"]["ImportRefused"]
                assert {"message", "fields"} <= set(body["properties"])
                assert set(body["required"]) == {"message", "fields"}
            elif body != {"$ref": "#/components/schemas/Error"}:
                wrong.append(f"{method} {path}: {code} is not the shared Error")
    assert not wrong, "\n".join(wrong)
    error = schema["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"message", "fields"}
    assert {"state", "allowed", "actions"} <= set(error["properties"])


def test_writes_declare_idempotency_key_and_site_scoped_operations_x_site(schema):
    wrong = []
    for method, path, operation in operations(schema):
        headers = {p["name"] for p in operation.get("parameters", ()) if p["in"] == "header"}
        public = path in ("/api/v1/auth/token/", "/api/v1/")
        writes = method != "GET" and not public and path != "/api/v1/customers/import/"
        if writes and "Idempotency-Key" not in headers:
            wrong.append(f"{method} {path}: no Idempotency-Key")
        # a person's own API tokens belong to no site
        per_person = path.startswith("/api/v1/auth/tokens/")
        if not public and not per_person and path != "/api/v1/kpis/" and "X-Site" not in headers:
            wrong.append(f"{method} {path}: no X-Site")
    assert not wrong, "\n".join(wrong)


def test_request_bodies_are_json_except_the_upload(schema):
    for method, path, operation in operations(schema):
        if "requestBody" in operation:
            types = set(operation["requestBody"]["content"])
            expected = (
                {"multipart/form-data"}
                if path == "/api/v1/customers/import/"
                else {"application/json"}
            )
            assert types == expected, f"{method} {path}: {types}"


def test_the_walkthrough_operations_are_in_the_schema(schema):
    paths = schema["paths"]
    for path in (
        "/api/v1/auth/token/",
        "/api/v1/appointments/availability/",
        "/api/v1/appointments/{id}/check-in/",
        "/api/v1/repair-orders/{id}/authorize/",
        "/api/v1/jobs/{job_id}/sign-off/",
        "/api/v1/followups/{id}/outcome/",
        "/api/v1/kpis/",
    ):
        assert path in paths, path


@pytest.mark.django_db
def test_the_served_schema_is_the_one_kept_in_the_repo(api_client):
    # docs/openapi.yaml is the API's contract under review: a change to an endpoint shows up
    # there, in the same commit, and docs/api-changelog.md says whether it breaks clients
    served = yaml.safe_load(api_client.get("/api/v1/schema/").content)
    kept = yaml.safe_load(KEPT.read_text(encoding="utf-8"))
    if served != kept:
        changed = sorted(
            set(served["paths"]) ^ set(kept["paths"])
            | {
                p
                for p in set(served["paths"]) & set(kept["paths"])
                if served["paths"][p] != kept["paths"][p]
            }
            | {
                f"components/schemas/{n}"
                for n in set(served["components"]["schemas"]) | set(kept["components"]["schemas"])
                if served["components"]["schemas"].get(n) != kept["components"]["schemas"].get(n)
            }
        )
        pytest.fail(
            "The served API schema differs from docs/openapi.yaml in: "
            + ", ".join(changed[:20])
            + ("…" if len(changed) > 20 else "")
            + ".\nRegenerate it with `make openapi`, review the diff, and list any breaking "
            "change in docs/api-changelog.md."
        )


def test_the_schema_is_english_even_when_the_api_was_loaded_in_chinese(tmp_path):
    # a label evaluated when its module is imported would stay in the language of the request
    # that happened to load the URLs first: load them with Chinese active, in a fresh process
    script = (
        "import django, sys\n"
        "django.setup()\n"
        "from django.utils import translation\n"
        "translation.activate('zh-hans')\n"
        "import dms.urls\n"
        "from django.test import Client\n"
        "response = Client().get('/api/v1/schema/', HTTP_ACCEPT_LANGUAGE='zh-hans')\n"
        "sys.stdout.write(response.content.decode())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=KEPT.parents[1],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "dms.settings.test"},
    )
    assert yaml.safe_load(result.stdout) == yaml.safe_load(KEPT.read_text(encoding="utf-8"))
