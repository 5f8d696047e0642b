"""gunicorn for the `web` service (docker-compose.yml) and the production smoke test.

Threaded workers (gthread): each process serves WEB_THREADS requests at once and shares one
psycopg connection pool among them (DATABASE_POOL, dms.settings.production). The app is loaded
after the fork (no preload), so every process opens its own pool and its own Redis connections.

Six processes of two threads on a 2-core box, not three of four: a short request (a lookup, a
poll) waits behind a long one holding its process's GIL, and the operating system shares the
cores between processes far more finely. In the load test (bench/loadtest.py, 40 rooftops,
2026-12-06) 6 x 2 kept every action within budget in two runs of three where 3 x 4 did not:
lookup p95 32 vs 68 ms, availability 35 vs 73, the board's poll 65 vs 110
(docs/benchmarks.md). Each process is ~120 MB.
"""

import os

bind = os.environ.get("WEB_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_WORKERS", "6"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "2"))
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
graceful_timeout = 30
# A process takes a connection only while a thread of its own is free to answer it. gunicorn's
# threaded worker otherwise accepts up to 1,000 connections and queues their requests behind
# its busy threads while other processes sit idle; with as many connections as threads, a busy
# process leaves the next request in the listen queue for a free one. Connections are then not
# kept alive (the proxy opens one per request, on the local network). Load test, 40 rooftops,
# two alternating rounds (docs/benchmarks.md, 2026-12-06 07:43-07:56 UTC): lookup p95 190 / 120
# ms with gunicorn's default, 140 / 110 with this; the board's poll 140 / 140 ms over its 100
# with the default, within it in both rounds with this.
worker_connections = int(os.environ.get("WEB_WORKER_CONNECTIONS", str(threads)))
keepalive = 5
# A process is replaced after max_requests plus a random 0..max_requests_jitter more (a guard
# against slow leaks). The jitter is as large as the interval: with 10 % of it, the six processes,
# which share the requests evenly, all reached their limit within ~8 s of each other, and six
# new processes starting and warming up at once (~1.2 s of a core each) held every request of
# the box for up to 1.5 s (the load test's stall watch, 80 rooftops, docs/benchmarks.md
# 2026-12-07 08:50). Spread over a whole interval, one process restarts at a time.
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", "10000"))
max_requests_jitter = max_requests
# the reverse proxy is the only client; it sends X-Forwarded-Proto (SECURE_PROXY_SSL_HEADER)
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*")
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


def child_exit(server, worker):
    """Prometheus multi-process mode: a dead worker's live gauges are dropped."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """A new process loads what its first requests would (dms.warmup: the URLconf, the
    product's templates, both languages' catalogues, the database pool's and the cache's first
    connections) before it accepts one. WEB_WARMUP=0 leaves it to the first requests."""
    if os.environ.get("WEB_WARMUP", "1") != "0":
        from dms.warmup import warm

        worker.log.info("warm-up: %s", warm())
