"""The load test of a dealer group's day: how many rooftops one box serves within budget.

Starts gunicorn as in production (deploy/gunicorn.conf.py: gthread workers) and a Celery worker
on the benchmark queue, both on 127.0.0.1 against the benchmark database, then runs Locust
headless (bench/loadtest/locustfile.py, from its own virtualenv .venv-load: Locust pins its own
HTTP stack) in steps of N rooftops, each step a fixed time measured from `--settle` seconds after
all its users have started (every user's first request comes as it starts; that burst's queue is
not the steady state).
Per step: p50/p95/p99 per action, the error rate, the load average; the figure is the largest N
with every action's p95 within its budget and no errors. Steps stop at the first that breaks.

    .venv/bin/python bench/loadtest.py [--steps 5,10,20,40,80,120,160] [--seconds 120] [--settle 20]
        [--quick] [--keep-going] [--profile]

The fixtures (session cookies, API tokens, lookup keys, open ROs, clockable jobs, open call
tasks, status links) are written to the benchmark database and bench/results/loadtest-fixtures.json.

gunicorn's access log goes to the file named by LOADTEST_ACCESS_LOG (default none), a line per
request with the process id, status, server milliseconds and path (`%(p)s %(s)s %(M)s %(U)s`):
the server's side of the client's times and how evenly the processes share the requests. With
it, each step also prints the server's time per kind of request in its measured part: how many,
p50 / p95 in the server, and its share of all the server's time (where the time goes).

Each step also runs a stall watch: a HEAD of a static file through gunicorn every 0.1 s and the
tasks blocked on I/O beside it (/proc/stat), printed as the probes' p50 / p99 / max and every run
of probes over 250 ms: a stall that holds every server thread at once shows there.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

LOAD_VENV = common.ROOT / ".venv-load"
LOCUST_VERSION = "2.47.0"
PY_SPY_VERSION = "0.4.1"
LOCUSTFILE = common.ROOT / "bench" / "loadtest" / "locustfile.py"

# p95 budgets (ms) per action: SPEC §9 where it names one, else our defaults for an
# interactive page or fragment (300 ms), a write (500 ms) and a streamed export (5 s)
BUDGETS = {
    "lookup": 50,
    "availability": 50,
    "workshop board (poll)": 100,
    "dashboard (KPI month)": 300,
    "KPI API (month)": 300,
    "care due export (CSV)": 5000,
}
PAGE_BUDGET = 300
WRITE_BUDGET = 500


def budget_for(name: str) -> int:
    if name in BUDGETS:
        return BUDGETS[name]
    return WRITE_BUDGET if "(API)" in name and name.split(" ")[0] in WRITES else PAGE_BUDGET


WRITES = {"book", "cancel", "clock-on", "clock-off", "record", "add", "change", "remove"}


def ensure_load_venv() -> Path:
    locust = LOAD_VENV / "bin" / "locust"
    if not locust.exists() or not (LOAD_VENV / "bin" / "py-spy").exists():
        print(f"creating {LOAD_VENV} with locust {LOCUST_VERSION}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(LOAD_VENV)], check=True)
        subprocess.run(
            [
                str(LOAD_VENV / "bin" / "pip"),
                "install",
                "--quiet",
                f"locust=={LOCUST_VERSION}",
                f"py-spy=={PY_SPY_VERSION}",
            ],
            check=True,
        )
    return locust


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fixtures(max_sites: int) -> dict:
    """Per site: users with a session and a token, and the rows the personas act on."""
    import datetime as dt
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from customers.models import Customer, Vehicle
    from dms.models import Site
    from outreach.models import CallTask
    from portal import services as portal_services
    from portal.models import CustomerLink
    from workorders.models import OPEN_STATUSES, JobLine, RepairOrder
    from workshop.models import ClockEntry

    store = import_module(settings.SESSION_ENGINE).SessionStore
    users = get_user_model().objects
    now = timezone.now()

    def person(user) -> dict:
        session = store()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "dms.signin.StaffBackend"  # as a sign-in stores it
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.set_expiry(24 * 3600)
        session.save()
        return {
            "username": user.username,
            "session": session.session_key,
            "token": Token.objects.get_or_create(user=user)[0].key,
        }

    rooftops = []
    for site in Site.objects.order_by("pk")[:max_sites]:
        code = site.code

        def staff(stem: str, count: int, site_code: str = code) -> list:
            names = (
                [f"{site_code}-{stem}{n}" for n in range(1, count + 1)]
                if count > 1
                else [f"{site_code}-{stem}"]
            )
            return list(users.filter(username__in=names).order_by("username"))

        technicians = []
        for tech in staff("tech", 16):
            row = person(tech)
            open_entry = ClockEntry.objects.filter(technician=tech, ended_at__isnull=True).first()
            if open_entry and open_entry.started_at > now:
                # the dataset's working day is the site's: generated after the site's midnight
                # (before 08:00 in Shanghai) it holds clock-ons later today; clocking one off
                # now is refused (400), as it should be
                row["job"], row["on"] = None, False
            elif open_entry and open_entry.job.technician_id == tech.pk:
                row["job"], row["on"] = open_entry.job_id, True
            elif open_entry:  # on a job since given to someone else: only reads
                row["job"], row["on"] = None, False
            else:
                job = (
                    JobLine.objects.filter(
                        technician=tech,
                        repair_order__site=site,
                        repair_order__status__in=("in_progress", "authorized", "rework"),
                        approval__in=("authorized", "approved"),
                        work_status__in=("pending", "in_progress"),
                    )
                    .order_by("-pk")
                    .values_list("pk", flat=True)
                    .first()
                )
                row["job"], row["on"] = job, False
            technicians.append(row)
        vehicles = list(
            Vehicle.objects.filter(site=site).order_by("pk").values("pk", "plate", "vin")[300:340]
        )
        customers = list(
            Customer.objects.filter(site=site).order_by("pk").values("phone", "name")[400:440]
        )
        keys = []
        for v, c in zip(vehicles, customers, strict=False):
            keys += [v["plate"], v["plate"][-4:], v["vin"][-6:], c["phone"][-11:], c["name"]]
        open_ros = list(
            RepairOrder.objects.filter(site=site, status__in=OPEN_STATUSES)
            .order_by("pk")
            .values_list("pk", flat=True)[:40]
        )
        call_tasks = list(
            CallTask.objects.filter(site=site, status__in=("open", "scheduled"))
            .order_by("pk")
            .values_list("pk", "assignee_id")[:90]
        )
        agents = []
        for n, agent in enumerate(staff("agent", 3)):
            row = person(agent)
            # an agent records outcomes on their own calls and a share of the unassigned ones
            # (another agent's call is refused with 403)
            row["call_tasks"] = [
                pk
                for i, (pk, assignee) in enumerate(call_tasks)
                if assignee == agent.pk or (assignee is None and i % 3 == n)
            ]
            agents.append(row)
        links = []
        for ro in RepairOrder.objects.filter(pk__in=open_ros[:8]).select_related("site"):
            link = CustomerLink.objects.filter(
                repair_order=ro, purpose="status", revoked_at__isnull=True, expires_at__gt=now
            ).first()
            if link is None:
                link, token = portal_services.link_create(
                    site=ro.site,
                    purpose="status",
                    expires_at=now + dt.timedelta(days=7),
                    repair_order=ro,
                    sent_to="",
                )
            else:
                token = portal_services.link_token(link)
            links.append(token)
        rooftops.append(
            {
                "site": site.pk,
                "site_code": code,
                "users": {
                    "advisor": [person(u) for u in staff("advisor", 8)],
                    "dispatcher": [person(u) for u in staff("dispatcher", 1)],
                    "technician": technicians,
                    "qc": [person(u) for u in staff("qc", 2)],
                    "agent": agents,
                    "manager": [person(u) for u in staff("manager", 1)],
                },
                "lookup_keys": keys,
                "vehicles": [v["pk"] for v in vehicles],
                "open_ros": open_ros,
                "status_links": links,
            }
        )
    return {"rooftops": rooftops}


def _ms(value: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):  # "N/A" for an action without requests after the reset
        return 0.0


def read_stats(prefix: Path) -> list[dict]:
    path = Path(f"{prefix}_stats.csv")
    if not path.exists():
        return []
    rows = []
    with path.open() as fh:
        for row in csv.DictReader(fh):
            if row["Name"] == "Aggregated":
                continue
            rows.append(
                {
                    "type": row["Type"],
                    "name": row["Name"],
                    "requests": int(row["Request Count"]),
                    "failures": int(row["Failure Count"]),
                    "p50_ms": _ms(row["50%"]),
                    "p95_ms": _ms(row["95%"]),
                    "p99_ms": _ms(row["99%"]),
                    "rps": _ms(row["Requests/s"]),
                }
            )
    return rows


def run_locust(locust, host, users, spawn_seconds, seconds, prefix, env, log, settle=0) -> None:
    """Locust for spawn + settle + seconds; the statistics are reset `settle` seconds after the
    last user started (bench/loadtest/locustfile.py), so they cover the measured seconds."""
    env = {**env, "LOADTEST_SETTLE": str(settle)}
    subprocess.run(
        [
            str(locust),
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "--host",
            host,
            "--users",
            str(users),
            "--spawn-rate",
            str(max(1, users // spawn_seconds)),
            "--run-time",
            f"{seconds + spawn_seconds + settle}s",
            "--csv",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "WARNING",
            "--stop-timeout",
            "10",
        ],
        env=env,
        cwd=common.ROOT,
        check=False,
        timeout=seconds + spawn_seconds + settle + 180,
        stdout=log,
        stderr=log,
    )


def profile(server_pid: int, delay: float, seconds: int, prefix: Path) -> threading.Thread:
    """py-spy (from .venv-load) on all the web workers for `seconds` after `delay`: collapsed
    stacks in <prefix>.stacks, a summary of where the time goes in <prefix>.profile.txt."""

    def run():
        time.sleep(delay)
        stacks = Path(f"{prefix}.stacks")
        subprocess.run(
            [
                str(LOAD_VENV / "bin" / "py-spy"),
                "record",
                "--pid",
                str(server_pid),
                "--subprocesses",
                "--duration",
                str(seconds),
                "--rate",
                "50",
                "--format",
                "raw",
                "--output",
                str(stacks),
                "--nonblocking",
            ],
            capture_output=True,
            check=False,
        )
        if stacks.exists():
            Path(f"{prefix}.profile.txt").write_text(summarise_stacks(stacks))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def summarise_stacks(path: Path, top: int = 25) -> str:
    """Share of the web workers' samples per frame (inclusive: any sample whose stack holds
    it) for the project's own code and the main libraries, and the leaf frames (self time)."""
    inclusive: dict[str, int] = {}
    leaf: dict[str, int] = {}
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _sep, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + n
        leaf[frames[-1]] = leaf.get(frames[-1], 0) + n
    if not total:
        return "no samples\n"
    apps = ("dms", "customers", "messaging", "outreach", "appointments", "workorders")
    apps += ("workshop", "followups", "care", "kpis", "portal")
    own = tuple(f"({app}/" for app in apps) + tuple(f"/{app}/" for app in apps)
    lines = [f"{total} samples", "", "inclusive (the project's frames):"]
    for frame, n in sorted(inclusive.items(), key=lambda kv: -kv[1]):
        if any(o in frame for o in own) and "site-packages" not in frame:
            lines.append(f"{n / total:6.1%}  {frame}")
            if len(lines) > top + 3:
                break
    lines += ["", "self (leaf frames):"]
    for frame, n in sorted(leaf.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"{n / total:6.1%}  {frame}")
    return "\n".join(lines) + "\n"


SPIN = "t = __import__('time').process_time()\nfor i in range(20_000_000): pass\nprint(__import__('time').process_time() - t)"


def host_speed() -> dict:
    """CPU seconds a fixed Python loop takes alone and, at the same moment, in two processes.

    This machine is a virtual one whose two cores are shared with other guests of its host:
    within one hour a pure-Python loop took 2.2–3.0 s of CPU alone on the idle machine, and two
    copies at once 2.2 s each in one try and 3.4–3.8 s each in others, where two cores of their
    own would take what one takes. Printed with each step, it tells a slow host from a slow
    application (docs/benchmarks.md)."""

    def spin(n: int) -> list[float]:
        procs = [
            subprocess.Popen([sys.executable, "-c", SPIN], stdout=subprocess.PIPE, text=True)
            for _ in range(n)
        ]
        return [float(p.communicate()[0]) for p in procs]

    one = spin(1)[0]
    two = spin(2)
    return {"one_core_s": round(one, 2), "both_cores_s": round(max(two), 2)}


CPU_GROUPS = ("gunicorn", "postgres", "celery", "redis")


def cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far: by the whole machine ("all", /proc/stat) and by the processes
    of each group (/proc/<pid>/stat by command line, with the reaped children a process has
    waited for, so a web worker that was replaced still counts, in its master), and the seconds
    some task waited for a core (/proc/pressure/cpu)."""
    tick = os.sysconf("SC_CLK_TCK")
    used = dict.fromkeys(CPU_GROUPS, 0.0)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        group = next((g for g in CPU_GROUPS if g in cmd), None)
        if group:
            used[group] += sum(int(x) for x in stat[11:15]) / tick
    cpu = Path("/proc/stat").read_text().split("\n")[0].split()[1:]
    used["all"] = (sum(int(x) for x in cpu) - int(cpu[3]) - int(cpu[4])) / tick
    try:
        some = Path("/proc/pressure/cpu").read_text().split("\n")[0]
        used["waited"] = int(some.rpartition("total=")[2]) / 1e6
    except (OSError, ValueError):
        pass
    return used


ACCESS_LOG_FORMAT = "%(p)s %(s)s %(M)s %(U)s"
# paths that carry a token or a site's code: one kind of request whatever the value
_PATH_KINDS = (
    (re.compile(r"^/p/(s|f)/[^/]+"), r"/p/\1/<token>"),
    (re.compile(r"^/p/book/[^/]+"), "/p/book/<site>"),
    (re.compile(r"/\d+(?=/|$)"), "/<id>"),
)


def access_log_path() -> Path | None:
    path = os.environ.get("LOADTEST_ACCESS_LOG", "")
    return Path(path) if path and path != "/dev/null" else None


def request_kind(path: str) -> str:
    for pattern, replacement in _PATH_KINDS:
        path = pattern.sub(replacement, path)
    return path


def server_times(lines, top: int = 10) -> list[dict]:
    """The server's time per kind of request (path with ids and tokens left out, and status)
    from access-log lines in ACCESS_LOG_FORMAT: count, p50 and p95 in ms, share of the
    server's time; the `top` dearest by their share. Lines in another format are skipped."""
    times: dict[tuple[str, str], list[float]] = {}
    for line in lines:
        parts = line.split()
        if len(parts) != 4 or not parts[2].isdigit():
            continue
        _pid, status, ms, path = parts
        times.setdefault((request_kind(path), status), []).append(float(ms))
    total = sum(sum(v) for v in times.values())
    rows = [
        {
            "kind": kind,
            "status": status,
            "requests": len(v),
            "p50_ms": common.percentile(v, 50),
            "p95_ms": common.percentile(v, 95),
            "share": round(sum(v) / total, 4) if total else 0.0,
        }
        for (kind, status), v in times.items()
    ]
    return sorted(rows, key=lambda r: -r["share"])[:top]


class LogMark:
    """Where the access log ended at a moment (the start of a step's measured part), so the
    lines of that part can be read after it."""

    def __init__(self, path: Path, delay: float):
        self.path = path
        self.offset: int | None = None
        self.timer = threading.Timer(delay, self._mark)
        self.timer.daemon = True
        self.timer.start()

    def _mark(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def lines_since(self) -> list[str]:
        self.timer.cancel()
        if self.offset is None or not self.path.exists():
            return []
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            return fh.read().decode(errors="replace").splitlines()


def generator_lag(path: Path) -> dict | None:
    """How late Locust's event loop woke from a 10 ms sleep in the measured part
    (bench/loadtest/locustfile.py's probe): p50 / p95 / p99 / max in ms, or None without the
    probe's file."""
    try:
        samples = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not samples:
        return None
    return {
        "samples": len(samples),
        **{f"p{q}_ms": common.percentile(samples, q) for q in (50, 95, 99)},
        "max_ms": round(max(samples), 1),
    }


def procs_blocked() -> int:
    """Tasks the kernel counts as blocked on I/O right now (/proc/stat), 0 where unknown."""
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("procs_blocked "):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class StallWatch(threading.Thread):
    """During a step, every `every` s: how long the server takes to answer a HEAD of a static
    file (answered from memory by whichever thread is free: its time is the wait for a thread
    and a core, not the work of any page) and how many tasks are blocked on I/O. A stall that
    holds every thread (two steps of 2026-12-07 saw every action's p95 at 1.5-2 s while the box
    used under one core) shows as a run of slow probes; blocked tasks beside it point at the
    disk rather than the CPU. `stall_summary` condenses the samples."""

    def __init__(self, host: str, path: str = "/static/css/dms.css", every: float = 0.1):
        super().__init__(daemon=True)
        hostport = host.split("//", 1)[1].rstrip("/")
        self.host, _sep, port = hostport.rpartition(":")
        self.port = int(port)
        self.path = path
        self.every = every
        self.samples: list[tuple[float, float | None, int]] = []
        self.halt = threading.Event()

    def probe(self) -> float | None:
        started = time.perf_counter()
        try:
            with socket.create_connection((self.host, self.port), timeout=10) as sock:
                sock.sendall(
                    f"HEAD {self.path} HTTP/1.1\r\nHost: {self.host}\r\n"
                    "Connection: close\r\n\r\n".encode()
                )
                if not sock.recv(64):
                    return None
        except OSError:
            return None
        return (time.perf_counter() - started) * 1000

    def run(self) -> None:
        t0 = time.monotonic()
        while not self.halt.is_set():
            at = time.monotonic()
            ms = self.probe()
            self.samples.append((round(at - t0, 2), ms, procs_blocked()))
            self.halt.wait(max(0.0, self.every - (time.monotonic() - at)))

    def stop(self) -> dict:
        self.halt.set()
        self.join(timeout=15)
        return stall_summary(self.samples)


def stall_summary(samples, slow_ms: float = 250.0) -> dict:
    """The probes of a step: p50 / p99 / max in ms, the episodes of consecutive probes over
    `slow_ms` or unanswered (start s, length s, worst ms; None for unanswered), and the tasks
    blocked on I/O (the most at once; the share of probes that saw any)."""
    answered = [ms for _at, ms, _blocked in samples if ms is not None]
    episodes: list[dict] = []
    current = None
    for at, ms, _blocked in samples:
        slow = ms is None or ms > slow_ms
        if slow and current is None:
            current = {"at_s": at, "seconds": 0.0, "worst_ms": ms}
            episodes.append(current)
        elif slow:
            worst = current["worst_ms"]
            current["worst_ms"] = None if ms is None or worst is None else max(worst, ms)
        if slow:
            current["seconds"] = round(at - current["at_s"] + (ms or 0) / 1000, 2)
        else:
            current = None
    blocked = [b for _at, _ms, b in samples]
    return {
        "probes": len(samples),
        "p50_ms": round(common.percentile(answered, 50), 1) if answered else None,
        "p99_ms": round(common.percentile(answered, 99), 1) if answered else None,
        "max_ms": round(max(answered), 1) if answered else None,
        "unanswered": len(samples) - len(answered),
        "episodes": episodes,
        "blocked_max": max(blocked, default=0),
        "blocked_share": round(sum(1 for b in blocked if b) / len(blocked), 3) if blocked else 0,
    }


def run_step(
    locust: Path,
    host: str,
    rooftops: int,
    seconds: int,
    fixtures_path: Path,
    server_pid: int | None = None,
    settle: int = 0,
    access_log: Path | None = None,
) -> dict:
    per_rooftop = 28  # locustfile.PER_ROOFTOP summed
    users = rooftops * per_rooftop
    spawn_seconds = max(5, min(30, rooftops))
    prefix = common.RESULTS / f"loadtest-{rooftops:03d}"
    env = dict(os.environ)
    env["LOADTEST_FIXTURES"] = str(fixtures_path)
    env["LOADTEST_ROOFTOPS"] = str(rooftops)
    lag_file = Path(f"{prefix}.lag.json")
    lag_file.unlink(missing_ok=True)
    env["LOADTEST_LAG_FILE"] = str(lag_file)
    speed = host_speed()
    load_before = os.getloadavg()
    cpu_before = cpu_seconds()
    started = time.monotonic()
    profiler = None
    if server_pid and (LOAD_VENV / "bin" / "py-spy").exists():
        profiler = profile(server_pid, spawn_seconds + settle + 5, min(seconds - 5, 60), prefix)
    # Locust resets its statistics `settle` s after the last user started: the log from then on
    mark = LogMark(access_log, spawn_seconds + settle) if access_log else None
    watch = StallWatch(host)
    watch.start()
    with Path(f"{prefix}.log").open("w") as log:
        run_locust(locust, host, users, spawn_seconds, seconds, prefix, env, log, settle)
    stalls = watch.stop()
    wall = time.monotonic() - started
    cpu_after = cpu_seconds()
    # cores used on average over the whole step (ramp included), by group
    cores = {k: round((cpu_after[k] - cpu_before.get(k, 0.0)) / wall, 2) for k in cpu_after}
    if profiler:
        profiler.join(timeout=90)
    # an action no user reached in the measured time is left out (not "within budget")
    rows = [r for r in read_stats(prefix) if r["type"] != "409" and r["requests"]]
    conflicts = {r["name"]: r["requests"] for r in read_stats(prefix) if r["type"] == "409"}
    total = sum(r["requests"] for r in rows)
    failures = sum(r["failures"] for r in rows)
    for r in rows:
        r["budget_ms"] = budget_for(r["name"])
        r["met"] = r["p95_ms"] <= r["budget_ms"] and r["failures"] == 0
        r["conflicts_409"] = conflicts.get(r["name"], 0)
    return {
        "rooftops": rooftops,
        "users": users,
        "seconds": seconds,
        "wall_seconds": round(time.monotonic() - started, 1),
        "requests": total,
        "rps": round(sum(r["rps"] for r in rows), 1),
        "failures": failures,
        "error_rate": round(failures / total, 4) if total else None,
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "host_speed": speed,
        "cores": cores,
        "actions": rows,
        "server": server_times(mark.lines_since()) if mark else [],
        "generator_lag_ms": generator_lag(lag_file),
        "stalls": stalls,
        "ok": bool(rows) and all(r["met"] for r in rows),
    }


def describe_stalls(stalls: dict) -> str:
    """One line for a step's StallWatch summary."""
    if stalls["episodes"]:
        shown = [
            f"at {e['at_s']:.1f} s for {e['seconds']:.1f} s ("
            + ("unanswered" if e["worst_ms"] is None else f"worst {e['worst_ms']:,.0f} ms")
            + ")"
            for e in stalls["episodes"][:5]
        ]
        more = len(stalls["episodes"]) - len(shown)
        slow = "; ".join(shown) + (f"; {more} more" if more > 0 else "")
    else:
        slow = "none"
    answered = (
        f"p50 {stalls['p50_ms']}, p99 {stalls['p99_ms']}, max {stalls['max_ms']} ms"
        if stalls["p50_ms"] is not None
        else "none answered"
    )
    return (
        f"stall watch (a static file through the server every 0.1 s, {stalls['probes']} probes, "
        f"the whole step): {answered}; over 250 ms: {slow}; tasks blocked on I/O: at most "
        f"{stalls['blocked_max']}, in {stalls['blocked_share']:.0%} of the probes"
    )


def print_step(step: dict) -> None:
    print(
        f"\n-- {step['rooftops']} rooftops ({step['users']} users, {step['seconds']} s): "
        f"{step['requests']} requests, {step['rps']} req/s, errors {step['failures']} "
        f"({(step['error_rate'] or 0):.2%}); load average {step['load_before'][0]} → "
        f"{step['load_after'][0]}; within budget: {'yes' if step['ok'] else 'NO'}",
        flush=True,
    )
    cores = step["cores"]
    print(
        "   cores used: "
        + ", ".join(f"{k} {v:.2f}" for k, v in cores.items() if k != "waited")
        + " (all: the whole machine, this script's Locust and loops included)"
        + f"; a task waited for a core {cores.get('waited', 0):.0%} of the time"
        + f"; host: the loop {step['host_speed']['one_core_s']} s alone, "
        + f"{step['host_speed']['both_cores_s']} s two at once",
        flush=True,
    )
    print(f"   {'action':<30} {'n':>6} {'p50':>6} {'p95':>6} {'p99':>6} {'budget':>7} {'err':>4}")
    for r in sorted(step["actions"], key=lambda r: r["name"]):
        flag = "" if r["met"] else "  <-- over"
        print(
            f"   {r['name']:<30} {r['requests']:>6} {r['p50_ms']:>6.0f} {r['p95_ms']:>6.0f} "
            f"{r['p99_ms']:>6.0f} {r['budget_ms']:>7} {r['failures']:>4}{flag}",
            flush=True,
        )
    lag = step.get("generator_lag_ms")
    if lag:
        print(
            f"   the load generator's own delay (its loop late from a 10 ms sleep, {lag['samples']} "
            f"times): p50 {lag['p50_ms']:.1f}, p95 {lag['p95_ms']:.1f}, p99 {lag['p99_ms']:.1f}, "
            f"max {lag['max_ms']:.1f} ms (in every time above, not in the server's below)",
            flush=True,
        )
    stalls = step.get("stalls")
    if stalls and stalls["probes"]:
        print("   " + describe_stalls(stalls), flush=True)
    if step.get("server"):
        print("   the server's time (access log, measured part), dearest first:", flush=True)
        print(f"   {'share':>6} {'n':>6} {'p50':>5} {'p95':>5}  status  request", flush=True)
        for r in step["server"]:
            print(
                f"   {r['share']:>6.1%} {r['requests']:>6} {r['p50_ms']:>5.0f} "
                f"{r['p95_ms']:>5.0f}  {r['status']:<6}  {r['kind']}",
                flush=True,
            )


def curve(steps: list[dict]) -> str:
    best = max((s["rooftops"] for s in steps if s["ok"]), default=0)
    lines = [
        f"Rooftops per box (every action's p95 within budget, no errors): {best}",
        "",
        "| rooftops | users | req/s | errors | worst action (p95 / budget ms) | load avg "
        "| cores used (all, web, Postgres) | host loop s (alone / two) | ok |",
        "|---:|---:|---:|---:|---|---|---|---|---|",
    ]
    for s in steps:
        worst = max(s["actions"], key=lambda r: r["p95_ms"] / r["budget_ms"], default=None)
        w = f"{worst['name']} ({worst['p95_ms']:.0f} / {worst['budget_ms']})" if worst else "—"
        lines.append(
            f"| {s['rooftops']} | {s['users']} | {s['rps']} | {s['failures']} | {w} | "
            f"{s['load_before'][0]} → {s['load_after'][0]} | "
            f"{s['cores']['all']:.2f}, {s['cores']['gunicorn']:.2f}, {s['cores']['postgres']:.2f} | "
            f"{s['host_speed']['one_core_s']} / {s['host_speed']['both_cores_s']} | "
            f"{'yes' if s['ok'] else '**no**'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", default="5,10,20,40,80,120,160,200")
    parser.add_argument("--seconds", type=int, default=120, help="measured time per step")
    parser.add_argument("--workers", default=os.environ.get("WEB_WORKERS", "6"))
    parser.add_argument("--threads", default=os.environ.get("WEB_THREADS", "2"))
    parser.add_argument("--quick", action="store_true", help="steps 5,20,40 of 30 s")
    parser.add_argument("--keep-going", action="store_true", help="run steps past a failing one")
    parser.add_argument(
        "--settle",
        type=int,
        default=20,
        help="seconds after the last user started before measuring (the start's burst drains)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy on the web workers during each step (root; bench/results/loadtest-N.*)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.seconds = "5,20,40", 30
    steps_wanted = [int(x) for x in args.steps.split(",")]
    locust = ensure_load_venv()
    common.setup()
    from django.conf import settings

    started = time.monotonic()
    data = fixtures(20)
    fixtures_path = common.save("loadtest-fixtures", data)
    print(
        f"fixtures for {len(data['rooftops'])} sites in {time.monotonic() - started:.1f} s "
        "(rooftops beyond them share a site's people and rows)",
        flush=True,
    )

    port = free_port()
    host = f"http://127.0.0.1:{port}"
    env = common.env_for_children()
    env.update(
        WEB_BIND=f"127.0.0.1:{port}",
        WEB_WORKERS=str(args.workers),
        WEB_THREADS=str(args.threads),
        LOG_LEVEL="warning",
        DATABASE_POOL="true",  # as docker-compose.yml's `web`
    )
    common.RESULTS.mkdir(parents=True, exist_ok=True)
    log = (common.RESULTS / "loadtest-server.log").open("w")
    server = subprocess.Popen(
        [
            str(common.ROOT / ".venv" / "bin" / "gunicorn"),
            "dms.wsgi:application",
            "-c",
            str(common.ROOT / "deploy" / "gunicorn.conf.py"),
            "--access-logfile",
            str(access_log_path() or "/dev/null"),
            "--access-logformat",
            ACCESS_LOG_FORMAT,
        ],
        cwd=common.ROOT,
        env=env,
        stdout=log,
        stderr=log,
    )
    worker = subprocess.Popen(
        [
            str(common.ROOT / ".venv" / "bin" / "celery"),
            "-A",
            "dms",
            "worker",
            "-Q",
            ",".join(settings.DMS_CELERY_QUEUES),
            "-c",
            "2",
            "-l",
            "warning",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=common.ROOT,
        env=common.env_for_children(),
        stdout=log,
        stderr=log,
    )
    result: dict = {
        "machine": common.machine(),
        "gunicorn": {"workers": args.workers, "threads": args.threads, "class": "gthread"},
        "per_rooftop": "6 advisors, 2 workshop wall boards, 1 welcome board, 10 technicians, "
        "1 QC inspector, 2 follow-up agents, 1 manager, 1 API client, 4 customers",
        "steps": [],
    }
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(f"{host}/login/", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        for n in steps_wanted:
            step = run_step(
                locust,
                host,
                n,
                args.seconds,
                fixtures_path,
                server.pid if args.profile else None,
                settle=args.settle,
                access_log=access_log_path(),
            )
            result["steps"].append(step)
            print_step(step)
            common.save("loadtest", result)
            if not step["ok"] and not args.keep_going:
                break
    finally:
        for proc in (server, worker):
            proc.terminate()
        for proc in (server, worker):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()
    result["rooftops_per_box"] = max((s["rooftops"] for s in result["steps"] if s["ok"]), default=0)
    result["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    common.save("loadtest", result)
    text = curve(result["steps"])
    (common.RESULTS / "loadtest.md").write_text(text)
    print("\n" + text)
    return result


if __name__ == "__main__":
    main()
