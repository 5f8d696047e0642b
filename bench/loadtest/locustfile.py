"""A dealer group's working day: the people of N rooftops using one DMS-lite box at once.

Run by bench/loadtest.py (which prepares the fixtures, starts gunicorn and Celery and steps the
number of rooftops); it runs in its own virtualenv (.venv-load), so it imports nothing of the
project. Fixtures come from the JSON file in LOADTEST_FIXTURES: per rooftop a site with session
cookies and API tokens of real users of the benchmark dataset, lookup keys, open ROs, technicians
with a clockable job each, open call tasks, vehicles to book and customer status links.

A rooftop (one site's staff on a working day; the dataset's site has 8 advisors, 16 technicians,
2 QC inspectors, 3 agents, a dispatcher and a manager):

| persona | per rooftop | think time | what it does |
|---|---:|---|---|
| advisor | 6 | 15–45 s | lookup, front desk day, availability, RO detail, open ROs, approvals, book + cancel, an estimate line added, changed and removed |
| workshop wall board | 2 | polls every 5 s | `/workshop/board/` (htmx fragment, If-None-Match) |
| welcome board | 1 | polls every 60 s | `/appointments/board/` |
| technician | 10 | 60–180 s | their tablet page, clock on / clock off their job |
| QC inspector | 1 | 60–120 s | QC queue |
| follow-up agent | 2 | 30–90 s | desk, a call task, record an outcome |
| manager | 1 | 120–300 s | dashboard (KPI month), KPI API, records, CSV export |
| API client | 1 | 5–15 s | the API lists (repair orders, customers, vehicles, call tasks, complaints) |
| customer | 4 | status page polled every 10 s; booking times | `/p/s/<token>/live/`, `/p/book/<site>/times/` |

Each user's first request comes at a random moment of its persona's usual pace (`stagger`), so
the minute that is measured holds the working day's mix: with every first request at the start,
the slow personas (managers, technicians) made theirs in the ramp and were thinking through the
measured minute.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import random
import threading
import time

from locust import FastHttpUser, between, events, task
from pacing import every  # bench/loadtest/pacing.py: Locust puts this directory on the path

with open(os.environ["LOADTEST_FIXTURES"]) as _fh:
    FIXTURES = json.load(_fh)
ROOFTOPS = FIXTURES["rooftops"]

# users of each persona are spread over the rooftops in turn
_counters: dict[str, itertools.count] = {}
_lock = threading.Lock()


def next_rooftop(persona: str) -> tuple[dict, int]:
    """The rooftop of the next user of a persona and that user's index within it."""
    with _lock:
        n = next(_counters.setdefault(persona, itertools.count()))
    rooftops = int(os.environ.get("LOADTEST_ROOFTOPS", len(ROOFTOPS)))
    return ROOFTOPS[n % rooftops % len(ROOFTOPS)], n // rooftops


@events.test_start.add_listener
def _reset(environment, **kwargs):
    _counters.clear()


_environment = []


@events.init.add_listener
def _keep_environment(environment, **kwargs):
    _environment.append(environment)


@events.spawning_complete.add_listener
def _measure_after_settling(user_count, **kwargs):
    """Statistics from LOADTEST_SETTLE seconds after the last user started: every user's first
    request comes at once as it starts (a rooftop's whole staff in the ramp's seconds), and the
    queue that burst leaves is not the working day's steady state."""
    import gevent

    def reset():
        for environment in _environment:
            environment.runner.stats.reset_all()
        _lag_ms.clear()

    gevent.spawn_later(float(os.environ.get("LOADTEST_SETTLE", "0")), reset)


# The load generator's own delay: Locust runs on the measured box, so every response time it
# records includes the moments its event loop was late to take the answer (its own greenlets
# busy, or the process waiting for a core the server holds). A probe sleeps 10 ms over and over
# and keeps how late it woke; loadtest.py prints the percentiles next to the actions' times.
LAG_PROBE_MS = 10.0
_lag_ms: list[float] = []


def _probe_lag() -> None:
    import gevent

    while True:
        started = time.perf_counter()
        gevent.sleep(LAG_PROBE_MS / 1000)
        _lag_ms.append((time.perf_counter() - started) * 1000 - LAG_PROBE_MS)


@events.test_start.add_listener
def _start_lag_probe(environment, **kwargs):
    if os.environ.get("LOADTEST_LAG_FILE"):
        import gevent

        gevent.spawn(_probe_lag)


@events.quitting.add_listener
def _write_lag(environment, **kwargs):
    path = os.environ.get("LOADTEST_LAG_FILE")
    if path:
        with open(path, "w") as fh:
            json.dump([round(x, 3) for x in _lag_ms], fh)


def stagger(seconds: float) -> float:
    """A user's first request comes at a random moment of its first pace, as a working day's
    screens and people do not all start in the same second. Without it every user's first
    request came as it started: at 100 rooftops 2,800 requests in the ramp's 30 s, a queue of
    20 s whose last answers fell into the measured time. Returns the moment it woke (the
    user's first request: where a polling screen's pace starts, see `every`)."""
    import gevent

    gevent.sleep(random.uniform(0, seconds))
    return time.perf_counter()


class DmsUser(FastHttpUser):
    abstract = True
    persona = ""
    role = ""
    first_within = 30.0  # seconds: the persona's usual time between two actions
    connection_timeout = 30.0
    network_timeout = 60.0

    def on_start(self):
        self.rooftop, self.index = next_rooftop(self.persona)
        people = self.rooftop["users"][self.role]
        self.me = people[self.index % len(people)]
        self.page_headers = {"Cookie": f"sessionid={self.me['session']}; django_language=en"}
        self.fragment_headers = {**self.page_headers, "HX-Request": "true"}
        self.api_headers = {"Authorization": f"Token {self.me['token']}"}
        self.opened_at = stagger(self.first_within)

    def page(self, path: str, name: str, fragment: bool = False):
        headers = self.fragment_headers if fragment else self.page_headers
        return self.client.get(path, headers=headers, name=name)

    def api(self, method: str, path: str, name: str, payload=None, ok=(200, 201)):
        """An API call; a 409 is the application's answer to a state that moved under us (a
        slot taken, a job someone else is on): counted apart, never as a failure."""
        with self.client.request(
            method,
            path,
            headers=self.api_headers,
            json=payload,
            name=name,
            catch_response=True,
        ) as response:
            if response.status_code in ok:
                response.success()
            elif response.status_code == 409:
                response.success()
                events.request.fire(
                    request_type="409",
                    name=name,
                    response_time=0,
                    response_length=0,
                    exception=None,
                    context={},
                )
            else:
                response.failure(f"{response.status_code}: {response.text[:200]}")
            return response


class Advisor(DmsUser):
    persona = "advisor"
    role = "advisor"
    wait_time = between(15, 45)
    first_within = 30.0

    @task(6)
    def lookup(self):
        key = random.choice(self.rooftop["lookup_keys"])
        self.client.get(
            "/customers/lookup/", params={"q": key}, headers=self.fragment_headers, name="lookup"
        )

    @task(3)
    def front_desk_day(self):
        self.page("/appointments/day/", "front desk day", fragment=True)

    @task(3)
    def availability(self):
        day = dt.date.today() + dt.timedelta(days=random.randint(1, 14))
        self.client.get(
            f"/api/v1/appointments/availability/?date={day}&hours=1.0",
            headers=self.api_headers,
            name="availability",
        )

    @task(3)
    def ro_detail(self):
        self.page(f"/ro/{random.choice(self.rooftop['open_ros'])}/", "RO detail")

    @task(1)
    def open_ros(self):
        self.page("/ro/open/", "open ROs")

    @task(1)
    def approvals(self):
        self.page("/ro/approvals/", "approvals")

    @task(1)
    def book_and_cancel(self):
        """A phone booking into a free slot in the next two weeks, cancelled again (the
        dataset's calendar stays as it is from one step to the next). The generated book is
        fuller the nearer the day (about 95 % of the bookable hours tomorrow, 45 % in two
        weeks), so a near day may have no room and the advisor books nothing. Until 2026-12-06
        the generated calendar was booked past its capacity for the next two weeks and this
        booked 15-30 days ahead."""
        day = dt.date.today() + dt.timedelta(days=random.randint(1, 14))
        r = self.client.get(
            f"/api/v1/appointments/availability/?date={day}&hours=1.0",
            headers=self.api_headers,
            name="availability",
        )
        try:
            slots = [s for s in r.json().get("slots", []) if s.get("available", True)]
        except (ValueError, AttributeError):
            return
        if not slots:
            return
        slot = random.choice(slots)
        start = slot.get("start")
        vehicle = random.choice(self.rooftop["vehicles"])
        booked = self.api(
            "POST",
            "/api/v1/appointments/",
            "book (API)",
            {
                "vehicle": vehicle,
                "start": start,
                "advisor": slot.get("advisor_id"),
                "estimated_hours": "1.0",
                "allow_same_day": True,
            },
        )
        if booked.status_code == 201:
            pk = booked.json()["id"]
            self.api(
                "POST",
                f"/api/v1/appointments/{pk}/cancel/",
                "cancel booking (API)",
                {"reason": "load test"},
            )

    @task(1)
    def estimate_edit(self):
        """An estimate line added to an open RO, its hours changed, then removed (the RO is as
        it was). An RO whose state takes no new line (QC, washing, invoiced…) answers 409 and
        this advisor leaves it alone from then on."""
        if not hasattr(self, "editable"):
            self.editable = list(self.rooftop["open_ros"])
        if not self.editable:
            return
        ro = random.choice(self.editable)
        added = self.api(
            "POST",
            f"/api/v1/repair-orders/{ro}/lines/",
            "add estimate line (API)",
            {"description": "Wiper blades (load test)", "standard_hours": "0.30"},
        )
        if added.status_code == 409:
            self.editable.remove(ro)
            return
        if added.status_code != 201:
            return
        line = added.json()["id"]
        self.api(
            "PATCH",
            f"/api/v1/repair-orders/{ro}/lines/{line}/",
            "change estimate line (API)",
            {"standard_hours": "0.40"},
        )
        self.api(
            "DELETE",
            f"/api/v1/repair-orders/{ro}/lines/{line}/",
            "remove estimate line (API)",
            ok=(204,),
        )


class PollingScreen(DmsUser):
    """A screen whose htmx poll the browser revalidates with the ETag it was given (the
    response says `Cache-Control: private, no-cache`): a 304 while nothing changed."""

    abstract = True
    etag = None

    def poll(self, path: str, name: str, headers: dict | None = None):
        headers = dict(self.fragment_headers if headers is None else headers)
        if self.etag:
            headers["If-None-Match"] = self.etag
        with self.client.get(path, headers=headers, name=name, catch_response=True) as r:
            if r.status_code in (200, 304):
                r.success()
                self.etag = r.headers.get("ETag") or self.etag
            else:
                r.failure(str(r.status_code))


class WallBoard(PollingScreen):
    """The workshop's wall screen: htmx polls the board fragment every 5 s."""

    persona = "wall board"
    role = "dispatcher"
    wait_time = every(5)
    first_within = 5.0

    @task
    def board(self):
        self.poll("/workshop/board/", "workshop board (poll)")


class WelcomeBoard(PollingScreen):
    """The welcome screen at reception: the day's arrivals, polled every 60 s."""

    persona = "welcome board"
    role = "advisor"
    wait_time = every(60)
    first_within = 60.0

    @task
    def board(self):
        self.poll("/appointments/board/", "welcome board (poll)")


class Technician(DmsUser):
    persona = "technician"
    role = "technician"
    wait_time = between(60, 180)
    first_within = 120.0
    on = False

    def on_start(self):
        super().on_start()
        # technicians of a site beyond its 16 reuse them (rooftops beyond the 20 sites)
        self.job = self.me.get("job")
        self.on = bool(self.me.get("on"))

    @task(1)
    def tablet(self):
        self.page("/workshop/technician/", "technician tablet")

    @task(1)
    def clock(self):
        if not self.job:
            return
        action = "clock-off" if self.on else "clock-on"
        r = self.api("POST", f"/api/v1/jobs/{self.job}/{action}/", f"{action} (API)")
        if r.status_code == 200:
            self.on = not self.on
        elif r.status_code == 409:
            # the state moved (a shared technician): the other way next time
            self.on = not self.on


class QcInspector(DmsUser):
    persona = "qc"
    role = "qc"
    wait_time = between(60, 120)
    first_within = 90.0

    @task
    def queue(self):
        self.page("/workshop/qc/", "QC queue")


class Agent(DmsUser):
    persona = "agent"
    role = "agent"
    wait_time = between(30, 90)
    first_within = 60.0

    @task(2)
    def desk(self):
        self.page("/followups/", "follow-up desk")

    @task(2)
    def outcome(self):
        tasks = self.me.get("call_tasks")
        if not tasks:
            return
        pk = random.choice(tasks)
        self.api("GET", f"/api/v1/call-tasks/{pk}/", "call task (API)")
        self.api(
            "POST",
            f"/api/v1/call-tasks/{pk}/outcome/",
            "record outcome (API)",
            {"outcome": "no_answer"},
        )


class Manager(DmsUser):
    persona = "manager"
    role = "manager"
    wait_time = between(120, 300)
    first_within = 210.0

    @task(4)
    def dashboard(self):
        self.page("/dashboard/", "dashboard (KPI month)")

    @task(2)
    def kpi_api(self):
        self.client.get("/api/v1/kpis/", headers=self.api_headers, name="KPI API (month)")

    @task(1)
    def export(self):
        self.page("/care/due.csv", "care due export (CSV)")


class ApiClient(DmsUser):
    persona = "api client"
    role = "manager"
    wait_time = between(5, 15)
    first_within = 10.0

    @task
    def lists(self):
        path = random.choice(
            [
                "/api/v1/repair-orders/",
                "/api/v1/customers/",
                "/api/v1/vehicles/",
                "/api/v1/call-tasks/",
                "/api/v1/complaints/",
            ]
        )
        self.client.get(path, headers=self.api_headers, name=f"API {path.split('/')[3]}")


class Customer(PollingScreen):
    """A customer with the status link of their car in the workshop, the page open (it polls
    every 10 s), now and then looking at booking times."""

    persona = "customer"
    role = "advisor"  # unused: customers carry no staff credentials
    wait_time = every(10)
    first_within = 10.0

    def on_start(self):
        self.rooftop, self.index = next_rooftop(self.persona)
        links = self.rooftop["status_links"]
        self.link = links[self.index % len(links)] if links else None
        self.opened_at = stagger(self.first_within)

    @task(12)
    def status(self):
        if self.link:  # a customer carries no staff session
            self.poll(f"/p/s/{self.link}/live/", "status page (poll)", {"HX-Request": "true"})

    @task(1)
    def booking_times(self):
        day = dt.date.today() + dt.timedelta(days=random.randint(1, 14))
        self.client.get(
            f"/p/book/{self.rooftop['site_code']}/times/?day={day}",
            headers={"HX-Request": "true"},
            name="booking times (customer)",
        )


# persona → users per rooftop; loadtest.py sets each class's fixed_count from it
PER_ROOFTOP = {
    Advisor: 6,
    WallBoard: 2,
    WelcomeBoard: 1,
    Technician: 10,
    QcInspector: 1,
    Agent: 2,
    Manager: 1,
    ApiClient: 1,
    Customer: 4,
}


def _fixed_counts() -> None:
    rooftops = int(os.environ.get("LOADTEST_ROOFTOPS", "1"))
    for cls, count in PER_ROOFTOP.items():
        cls.fixed_count = count * rooftops


_fixed_counts()
