"""API throughput under concurrent load: a list endpoint as a share of a bare endpoint.

Both are served by the same gunicorn (3 sync workers by default, --max-requests 2000; not
production's gthread workers with a connection pool, which bench/loadtest.py runs), on
127.0.0.1, with load from `wrk` for a fixed time each: each list right after a bare window, in
several rounds; the ratio reported is the median of the rounds. The bare endpoint
(bench/urls.py) goes through the same middleware, token authentication, permission check and
JSON renderer; the difference is the list's queries and serialisation. Also records the peak RSS
of the web workers.

--boost (root only) runs gunicorn, wrk and the workers' database sessions at nice -15, which
approximates a machine dedicated to the server when other work shares the two cores; it raises
the bare endpoint and the lists alike, so the ratio stays a fair comparison.

    .venv/bin/python bench/throughput.py [--seconds 15] [--rounds 3] [--connections 8] [--boost]
        [--only call-tasks,complaints]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

# every cursor-paged API list (SPEC §9: each ≥ 60 % of the bare endpoint)
LISTS = (
    "/api/v1/repair-orders/",
    "/api/v1/customers/",
    "/api/v1/call-tasks/",
    "/api/v1/vehicles/",
    "/api/v1/complaints/",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def token_for(username: str) -> str:
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    user = get_user_model().objects.get(username=username)
    return Token.objects.get_or_create(user=user)[0].key


class RssWatcher(threading.Thread):
    """Polls the peak RSS of a process tree's children (workers come and go with
    --max-requests)."""

    def __init__(self, parent_pid: int):
        super().__init__(daemon=True)
        self.parent_pid = parent_pid
        self.peak = 0.0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            for pid in common.children_of(self.parent_pid):
                self.peak = max(self.peak, common.peak_rss_mb(pid) or 0)
            time.sleep(0.25)


BOOST = -15
APP_NAME = "dms-throughput"


def boosted() -> None:
    """preexec_fn: the child (and its children) at nice -15."""
    os.setpriority(os.PRIO_PROCESS, 0, BOOST)


class BackendBooster(threading.Thread):
    """Renices the web workers' Postgres sessions (found by application name), including the
    new ones a worker opens after --max-requests recycles it."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.done: set[int] = set()

    def run(self):
        from django.db import connection

        while not self.stop.is_set():
            with connection.cursor() as cur:
                cur.execute(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = %s", [APP_NAME]
                )
                pids = {row[0] for row in cur.fetchall()} - self.done
            for pid in pids:
                subprocess.run(["renice", "-n", str(BOOST), "-p", str(pid)], capture_output=True)
            self.done |= pids
            time.sleep(0.5)
        connection.close()


def wrk(url: str, token: str, seconds: int, connections: int, boost: bool = False) -> dict:
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-H",
            f"Authorization: Token {token}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
        preexec_fn=boosted if boost else None,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99_ms = None
    if p99:
        p99_ms = float(p99.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    return {"rps": rps, "non_2xx": int(non2xx.group(1)) if non2xx else 0, "p99_ms": p99_ms}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--boost", action="store_true", help="nice -15 (root only)")
    parser.add_argument(
        "--only",
        default="",
        help="measure only the lists whose path contains one of these words, comma-separated "
        "(e.g. call-tasks,complaints)",
    )
    args = parser.parse_args(argv)
    lists = [path for path in LISTS if any(word in path for word in args.only.split(","))]
    if not shutil.which("wrk"):
        print("wrk is needed: apt-get install wrk")
        return {"error": "wrk not installed"}
    common.setup()
    from dms.models import Site

    code = Site.objects.order_by("pk").values_list("code", flat=True).first()
    token = token_for(f"{code}-manager")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = common.env_for_children()
    if args.boost:
        env["BENCH_DB_APPLICATION_NAME"] = APP_NAME
    server = subprocess.Popen(
        [
            str(common.ROOT / ".venv" / "bin" / "gunicorn"),
            "dms.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--max-requests",
            "2000",
            "--max-requests-jitter",
            "200",
            "--log-level",
            "warning",
        ],
        cwd=common.ROOT,
        env=env,
        preexec_fn=boosted if args.boost else None,
    )
    watcher = RssWatcher(server.pid)
    booster = BackendBooster() if args.boost else None
    result: dict = {
        "workers": args.workers,
        "connections": args.connections,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "boosted": args.boost,
        "load_before": os.getloadavg()[0],
    }
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/login/", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        watcher.start()
        if booster:
            booster.start()
        # warm every worker's connection and caches
        for path in ("/bench/bare/", *lists):
            wrk(base + path, token, 2, args.connections, args.boost)
        # Each list is measured right after a bare window, in --rounds rounds: on a shared
        # machine the load moves within a minute, so a ratio is taken of two adjacent windows
        # and the median of the rounds is reported.
        bares: list[dict] = []
        samples: dict[str, list[tuple[dict, dict]]] = {path: [] for path in lists}
        for n in range(args.rounds):
            for path in lists:
                bare = wrk(base + "/bench/bare/", token, args.seconds, args.connections, args.boost)
                row = wrk(base + path, token, args.seconds, args.connections, args.boost)
                bares.append(bare)
                samples[path].append((bare, row))
                print(
                    f"round {n + 1}: bare {bare['rps']:7.1f} req/s, {path:<24} "
                    f"{row['rps']:7.1f} req/s = {row['rps'] / bare['rps']:.0%}",
                    flush=True,
                )
        result["bare"] = {
            "rps": round(statistics.median(b["rps"] for b in bares), 1),
            "rps_all": [b["rps"] for b in bares],
            "p99_ms": statistics.median(b["p99_ms"] or 0 for b in bares),
        }
        bare_rps = result["bare"]["rps"]
        print(f"bare endpoint            {bare_rps:8.1f} req/s (median of {len(bares)} windows)")
        result["lists"] = {}
        for path, pairs in samples.items():
            ratios = [row["rps"] / bare["rps"] for bare, row in pairs]
            row = {
                "rps": round(statistics.median(r["rps"] for _, r in pairs), 1),
                "ratio": round(statistics.median(ratios), 3),
                "ratios": [round(r, 3) for r in ratios],
                "p99_ms": statistics.median(r["p99_ms"] or 0 for _, r in pairs),
                "non_2xx": sum(r["non_2xx"] for _, r in pairs),
            }
            result["lists"][path] = row
            print(
                f"{path:<24} {row['rps']:8.1f} req/s  = {row['ratio']:.0%} of bare "
                f"(rounds {', '.join(f'{r:.0%}' for r in ratios)}; p99 {row['p99_ms']} ms, "
                f"non-2xx {row['non_2xx']})"
            )
    finally:
        watcher.stop.set()
        if booster:
            booster.stop.set()
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    result["load_after"] = os.getloadavg()[0]
    result["web_worker_peak_rss_mb"] = round(watcher.peak, 1)
    print(f"web worker peak RSS      {watcher.peak:.0f} MB")
    common.save("throughput", result)
    return result


if __name__ == "__main__":
    main()
