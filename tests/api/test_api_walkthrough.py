"""docs/api.md cannot drift: its shell blocks are run, command by command, against the server.

Each ```bash block of the walkthrough is read as a shell script: `NAME=value`,
`NAME=$(date +%F)`, `curl …` and `NAME=$(curl … | jq -r EXPR)`. The curl requests are sent
exactly as written (method, path, headers, body) through Django's test client; `$NAME` takes the
value a previous line captured. A command that answers 4xx/5xx fails the test, as does a jq
expression that finds nothing.
"""

import json
import re
import shlex
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
ASSIGN = re.compile(r"^([A-Z_][A-Z0-9_]*)=(.*)$", re.S)


def shell_commands(markdown: str) -> list[str]:
    """The logical lines of every ```bash block (backslash continuations joined)."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", markdown, re.S):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                commands.append(line.strip())
    return commands


def expand(text: str, env: dict[str, str]) -> str:
    return re.sub(
        r"\$\{?([A-Z_][A-Z0-9_]*)\}?",
        lambda m: env[m.group(1)] if m.group(1) in env else pytest.fail(f"${m.group(1)} unset"),
        text,
    )


def jq(expression: str, data):
    """The few jq forms the document uses: paths (.a.b[0].c), `.list[]`, `select(.k == v)`."""
    values = [data]
    for stage in (s.strip() for s in expression.split("|")):
        if m := re.fullmatch(r"select\((\.[\w.\[\]]*) == (.+)\)", stage):
            wanted = json.loads(m.group(2))
            values = [v for v in values if jq(m.group(1), v) == [wanted]]
            continue
        out = []
        for value in values:
            current = [value]
            for name, index, every in re.findall(r"\.(\w*)(?:\[(\d+)\])?(\[\])?", stage):
                step = []
                for item in current:
                    item = item.get(name) if name else item
                    if index:
                        item = item[int(index)] if item and len(item) > int(index) else None
                    step.extend(item or [] if every else [item])
                current = step
            out.extend(current)
        values = out
    return values


def run_curl(client: Client, words: list[str]):
    method, headers, body, url = "GET", {}, None, None
    words = iter(words[1:])
    for word in words:
        if word in ("-X", "--request"):
            method = next(words)
        elif word in ("-H", "--header"):
            name, value = next(words).split(":", 1)
            headers[name.strip()] = value.strip()
        elif word in ("-d", "--data", "--data-raw"):
            body = next(words)
            if method == "GET":
                method = "POST"
        elif word in ("-s", "--silent", "-S", "--fail"):
            continue
        elif word.startswith("-"):
            pytest.fail(f"curl option {word} is not understood by this test")
        else:
            url = word
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    content_type = headers.pop("Content-Type", "application/octet-stream")
    extra = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
    response = client.generic(
        method, path, data=(body or "").encode(), content_type=content_type, **extra
    )
    assert response.status_code < 400, (
        f"{method} {path} answered {response.status_code}: {response.content[:600]!r}"
    )
    return response.json() if response.content else None


def run(command: str, env: dict[str, str], client: Client, log: list[str]) -> None:
    if m := ASSIGN.match(command):
        name, value = m.groups()
        if sub := re.fullmatch(r"\$\((.*)\)", value, re.S):
            inner = sub.group(1)
            if inner.startswith("date "):
                days = {"date +%F": 0, "date -d tomorrow +%F": 1}[inner]
                env[name] = (timezone.localdate() + timedelta(days=days)).isoformat()
                return
            pipeline, _, expression = inner.partition(" | jq -r ")
            data = run_curl(client, shlex.split(expand(pipeline, env)))
            found = jq(shlex.split(expand(expression, env))[0], data)
            assert found, f"{expression} found nothing in {data}"
            assert found[0] not in (None, ""), f"{expression} found nothing in {data}"
            env[name] = str(found[0])
        else:
            env[name] = expand(value, env)
        log.append(f"{name}={env[name]}")
        return
    assert command.startswith("curl "), f"not a curl command: {command}"
    log.append(str(run_curl(client, shlex.split(expand(command, env))))[:120])


def the_followup_falls_due(task_id: int) -> None:
    """Days pass: the sweeper claims the follow-up when it is due and opens it on the desk."""
    from outreach.models import CallTask
    from outreach.services import outreach_sweep, task_dispatch

    due_at = CallTask.objects.get(pk=task_id).due_at
    outreach_sweep(now=due_at)
    assert task_dispatch(task_id=task_id, now=due_at) != "skipped"
    assert CallTask.objects.get(pk=task_id).status == "open"


@pytest.fixture
def demo_open_today(django_db_blocker):
    """The demo dealership, open all day today so the walkthrough finds a free slot.

    Its time zone is one where the morning has just begun (a whole day of free slots ahead,
    whatever the hour of the machine's clock); the tests set TIME_ZONE to it too."""
    call_command("load_demo", verbosity=0)
    from datetime import time

    from dms.models import ClosedDate, OpeningHours, Site
    from dms.tests.factories import morning_time_zone

    site = Site.objects.get(code="DEMO") if Site.objects.filter(code="DEMO").exists() else None
    site = site or Site.objects.order_by("pk").first()
    site.time_zone = morning_time_zone()
    site.save(update_fields=["time_zone"])
    today = timezone.localdate(timezone=site.tzinfo)
    ClosedDate.objects.filter(site=site, date=today).delete()
    OpeningHours.objects.update_or_create(
        site=site, weekday=today.weekday(), defaults={"opens": time(0, 0), "closes": time(23, 59)}
    )
    return site


@pytest.mark.slow
@pytest.mark.django_db
def test_the_api_walkthrough_runs_as_written(demo_open_today, settings):
    # given the walkthrough as a REST client reads it
    commands = shell_commands(DOC.read_text(encoding="utf-8"))
    assert any("/kpis/" in c for c in commands)
    settings.TIME_ZONE = demo_open_today.time_zone
    env: dict[str, str] = {}
    log: list[str] = []
    client = Client()

    # when every command runs in order (the clock moving to the follow-up's due day first)
    for command in commands:
        if "/outcome/" in command:
            the_followup_falls_due(int(env["FOLLOWUP"]))
        run(command, env, client, log)

    # then the car went the whole way: booked, checked in, delivered, followed up, counted
    from outreach.models import CallTask
    from workorders.models import RepairOrder

    ro = RepairOrder.objects.get(pk=env["RO"])
    assert ro.status == "delivered"
    assert ro.appointment_id == int(env["APPOINTMENT"])
    task = CallTask.objects.get(pk=env["FOLLOWUP"])
    assert task.outcome == "reached"
    assert task.satisfaction == 5
    assert "Oil and filter" in json.dumps(
        [line.description for line in ro.lines.all()], ensure_ascii=False
    )
