"""The API contract: Schemathesis drives every operation of the OpenAPI schema, as a manager,
against a live server on the demo data, and fails on any 5xx or any response that does not match
the schema."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token

ROOT = Path(__file__).resolve().parents[2]
ST = Path(sys.executable).with_name("st")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_every_operation_conforms_to_the_schema_and_never_answers_5xx(live_server, capsys):
    # given the demo dealership and a manager's token
    call_command("load_demo", verbosity=0)
    from django.contrib.auth import get_user_model

    manager = get_user_model().objects.get(username="manager")
    token, _ = Token.objects.get_or_create(user=manager)
    from dms.permissions import site_ids_of

    site_id = site_ids_of(manager)[0]

    # when Schemathesis runs every operation of the schema
    result = subprocess.run(
        [
            str(ST),
            "run",
            f"{live_server.url}/api/v1/schema/",
            "--header",
            f"Authorization: Token {token.key}",
            # the manager's site, so that chained calls work on its records (an unknown X-Site
            # is a 400, pinned in tests/api/test_conventions.py)
            "--header",
            f"X-Site: {site_id}",
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
            "--phases",
            # every phase: the coverage phase (every boundary of every field, ~3,000 cases,
            # ~13 minutes on two cores) and the stateful one (chains of calls along the schema's
            # links and those Schemathesis infers). DMS_CONTRACT_PHASES=examples,fuzzing runs a
            # quicker subset while working on an endpoint
            os.environ.get("DMS_CONTRACT_PHASES", "examples,coverage,fuzzing,stateful"),
            "--max-examples",
            os.environ.get("DMS_CONTRACT_EXAMPLES", "25"),
            "--seed",
            "20261122",
            "--workers",
            "1",
            "--no-color",
            "--request-timeout",
            "30",
            "--generation-database",
            "none",
            "--suppress-health-check",
            "all",
            "--warnings",
            "off",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=2700,
        check=False,
    )
    output = result.stdout + result.stderr

    # then the summary (operations, phases, failures, test cases) is reported and shows no failures
    summary = (
        [
            line.strip()
            for line in output.splitlines()
            if line.strip().startswith(("Scenarios:", "API Links:"))  # the stateful phase's reach
        ]
        + output[output.rfind("API Operations:") :].strip().splitlines()
    )
    with capsys.disabled():
        print("\nSchemathesis summary:\n  " + "\n  ".join(summary[:2] + summary[-30:]))  # noqa: T201 - the run report belongs in the output
    assert result.returncode == 0, output[-8000:]
    assert re.search(r"Tested: \d+", output), output[-3000:]
    assert re.search(r"\d+ generated", output), output[-3000:]
