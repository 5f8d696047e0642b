"""The load test's stall watch (bench/loadtest.py): a HEAD of a static file through the server
every 0.1 s during a step, and the tasks blocked on I/O beside it. A stall that holds every
server thread shows as a run of slow probes; the summary names each run, so a step whose every
action went slow at once can be told from one where a page grew dearer."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench import loadtest


def test_runs_of_slow_or_unanswered_probes_are_episodes():
    samples = [
        (0.0, 2.0, 0),
        (0.1, 3.0, 0),
        (0.2, 400.0, 1),  # a stall begins
        (0.7, 900.0, 2),
        (1.7, 5.0, 0),  # answered in time again: the episode ends
        (1.8, None, 0),  # unanswered: a stall of its own
        (1.9, 4.0, 1),
    ]
    summary = loadtest.stall_summary(samples)
    assert summary["probes"] == 7
    assert summary["unanswered"] == 1
    assert summary["max_ms"] == 900.0
    assert summary["p50_ms"] == 5.0  # nearest rank of 2, 3, 4, 5, 400, 900
    assert summary["episodes"] == [
        {"at_s": 0.2, "seconds": 1.4, "worst_ms": 900.0},
        {"at_s": 1.8, "seconds": 0.0, "worst_ms": None},
    ]
    assert summary["blocked_max"] == 2
    assert summary["blocked_share"] == round(3 / 7, 3)
    line = loadtest.describe_stalls(summary)
    assert "at 0.2 s for 1.4 s (worst 900 ms)" in line
    assert "at 1.8 s for 0.0 s (unanswered)" in line


def test_a_step_without_slow_probes_has_no_episode():
    summary = loadtest.stall_summary([(i / 10, 1.5, 0) for i in range(20)])
    assert summary["episodes"] == []
    assert summary["blocked_share"] == 0
    assert "over 250 ms: none" in loadtest.describe_stalls(summary)


def test_the_watch_sees_a_server_that_stops_answering_for_a_while():
    """A real local server that holds its answers for 0.5 s while `stalled` is set."""
    stalled = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_HEAD(self):
            if stalled.is_set():
                time.sleep(0.5)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        watch = loadtest.StallWatch(f"http://127.0.0.1:{server.server_address[1]}")
        watch.start()
        time.sleep(0.6)
        stalled.set()
        time.sleep(1.2)
        stalled.clear()
        time.sleep(0.6)
        summary = watch.stop()
    finally:
        server.shutdown()
    assert summary["unanswered"] == 0
    held = [e for e in summary["episodes"] if e["worst_ms"] and e["worst_ms"] >= 500]
    assert held, summary
    # the probes before and after the stall were answered: not every probe was slow
    assert len(summary["episodes"]) < summary["probes"]
    assert summary["p50_ms"] < 500
