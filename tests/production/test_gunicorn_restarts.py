"""The web processes are replaced one at a time, not all together.

gunicorn replaces a process after `max_requests` plus a random 0..`max_requests_jitter` of its
requests (gunicorn.workers.base.Worker). The processes of a box share the requests evenly, so
with a small jitter they all reach their limit within seconds of each other, and six processes
starting and warming up at once held every request of the box for up to 1.5 s in the load test
(docs/benchmarks.md, 2026-12-07). This holds the configuration to a spread that keeps them
apart, with gunicorn's own rule for a process's limit."""

import importlib.util
import random
from pathlib import Path

from gunicorn.config import Config

ROOT = Path(__file__).resolve().parents[2]


def production_config(monkeypatch) -> Config:
    monkeypatch.delenv("WEB_MAX_REQUESTS", raising=False)
    monkeypatch.delenv("WEB_WORKERS", raising=False)
    spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "deploy/gunicorn.conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cfg = Config()
    for name in ("workers", "max_requests", "max_requests_jitter"):
        cfg.set(name, getattr(module, name))
    return cfg


def test_the_processes_reach_their_limits_far_apart(monkeypatch):
    cfg = production_config(monkeypatch)
    assert cfg.max_requests > 0  # the guard against slow leaks stays
    rng = random.Random(7)
    close = 0
    trials = 400
    for _ in range(trials):
        # gunicorn.workers.base.Worker.__init__: max_requests + randint(0, jitter)
        limits = [
            cfg.max_requests + rng.randint(0, cfg.max_requests_jitter) for _ in range(cfg.workers)
        ]
        # equal shares of the requests: the spread of the limits is the spread of the restarts
        if max(limits) - min(limits) < cfg.max_requests // 4:
            close += 1
    # with the jitter the whole interval, six processes fall within a quarter of it of each
    # other in well under 1 % of starts; with 10 % of it they always do
    assert close / trials < 0.02
