"""The OpenAPI schema a client generates code from: valid, unambiguous, every error described."""

import pytest
from django.core.management import call_command
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def schema():
    GENERATOR_STATS.reset()
    return SchemaGenerator().get_schema(request=None, public=True)


def test_schema_generates_without_warnings_and_validates(tmp_path):
    # a name collision (two apps' "Error", two "AssignInput", two enums called "status") would
    # silently describe one body with another's fields: generation must be warning-free
    GENERATOR_STATS.reset()
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "s.yml"))


def test_every_operation_describes_its_error_bodies(schema):
    missing = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            wanted = {"400", "403", "404"} | ({"409"} if method != "get" else set())
            for code in sorted(wanted - set(operation["responses"])):
                missing.append(f"{method.upper()} {path}: {code}")
            for code in wanted & set(operation["responses"]):
                body = operation["responses"][code]["content"]["application/json"]["schema"]
                if body != {"$ref": "#/components/schemas/Error"}:
                    missing.append(f"{method.upper()} {path}: {code} is not the shared Error")
    assert not missing, "\n".join(missing)
    error = schema["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"message", "fields"}


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
