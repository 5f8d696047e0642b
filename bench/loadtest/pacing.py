"""How often a load-test user acts: a polling screen's pace (imported by the locustfile, which
Locust loads with this directory on its path; pure Python, so the tests hold it)."""

from __future__ import annotations

import time
from collections.abc import Callable


def every(seconds: float, clock: Callable[[], float] = time.perf_counter):
    """A screen's poll: every `seconds` from the moment its page was opened (the user's
    `opened_at`, its first request), as the page's htmx timer fires, whatever each answer took;
    a poll that is late (an answer slower than the pace) goes at once and the pace counts on
    from it. A Locust `wait_time`: called with the user after each of its tasks.

    Not Locust's `constant_pacing`: it counts from the moment Locust created the user, which
    undid the random first moment (`stagger`) from the second poll on, and Locust creates its
    users in a batch each second of the ramp. Every screen of a run then polled within the
    same ~150 ms of each second (2026-12-07, the send times of a 40-rooftop step: 97 % of the
    wall boards' and status pages' polls 0.60-0.75 s past the second, the advisors' requests
    spread evenly): a burst of ~30 polls each second that screens opened at their own moments
    do not make (docs/benchmarks.md)."""

    def wait(user) -> float:
        now = clock()
        due = getattr(user, "next_poll", None)
        if due is None:
            due = getattr(user, "opened_at", now)
        due = max(due + seconds, now)
        user.next_poll = due
        return due - now

    return wait
