"""API throughput under concurrent load: a list endpoint as a share of a bare endpoint.

Both are served by gunicorn started as docker-compose starts it (3 sync workers,
--max-requests 2000), on 127.0.0.1, with load from `wrk` for a fixed time each. The bare endpoint
(bench/urls.py) goes through the same middleware, token authentication, permission check and
JSON renderer; the difference is the list's queries and serialisation. Also records the peak RSS
of the web workers.

    .venv/bin/python bench/throughput.py [--seconds 15] [--connections 8]
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

LISTS = ("/api/v1/repair-orders/", "/api/v1/customers/", "/api/v1/call-tasks/")


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


def wrk(url: str, token: str, seconds: int, connections: int) -> dict:
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
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        print("wrk is needed: apt-get install wrk")
        return {"error": "wrk not installed"}
    common.setup()
    from dms.models import Site

    code = Site.objects.order_by("pk").values_list("code", flat=True).first()
    token = token_for(f"{code}-manager")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
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
        env=common.env_for_children(),
    )
    watcher = RssWatcher(server.pid)
    result: dict = {"workers": args.workers, "connections": args.connections}
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/login/", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        watcher.start()
        # warm every worker's connection and caches
        for path in ("/bench/bare/", *LISTS):
            wrk(base + path, token, 2, args.connections)
        bare = wrk(base + "/bench/bare/", token, args.seconds, args.connections)
        result["bare"] = bare
        print(f"bare endpoint            {bare['rps']:8.1f} req/s  (p99 {bare['p99_ms']} ms)")
        result["lists"] = {}
        for path in LISTS:
            row = wrk(base + path, token, args.seconds, args.connections)
            row["ratio"] = round(row["rps"] / bare["rps"], 3)
            result["lists"][path] = row
            print(
                f"{path:<24} {row['rps']:8.1f} req/s  = {row['ratio']:.0%} of bare "
                f"(p99 {row['p99_ms']} ms, non-2xx {row['non_2xx']})"
            )
    finally:
        watcher.stop.set()
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    result["web_worker_peak_rss_mb"] = round(watcher.peak, 1)
    print(f"web worker peak RSS      {watcher.peak:.0f} MB")
    common.save("throughput", result)
    return result


if __name__ == "__main__":
    main()
