"""Reads that may lag a little (the KPI dashboard, its drill-downs and exports) go to the
streaming replica when one is configured (DATABASE_REPLICA_URL → DATABASES["replica"]);
everything else, and every write, goes to the primary.

A view opts in with `@replica_reads` (innermost, below the permission decorator: the login and
role checks read the primary). A streamed response keeps reading the replica while it streams."""

import functools
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import connections
from django.http import StreamingHttpResponse

REPLICA = "replica"
_use_replica: ContextVar[bool] = ContextVar("dms_replica_reads", default=False)
# sessions, users, tokens and roles are always read from the primary: a login or a role granted a
# moment ago must count at once
PRIMARY_ONLY_APPS = frozenset({"sessions", "auth", "authtoken", "admin", "contenttypes", "axes"})


def replica_configured() -> bool:
    return REPLICA in connections.settings


@contextmanager
def reading_replica():
    token = _use_replica.set(True)
    try:
        yield
    finally:
        _use_replica.reset(token)


def _streamed(content):
    with reading_replica():
        yield from content


def replica_reads(view):
    """Run the view (and the streaming of its response) with reads routed to the replica."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if not replica_configured():
            return view(request, *args, **kwargs)
        with reading_replica():
            response = view(request, *args, **kwargs)
        if isinstance(response, StreamingHttpResponse):
            response.streaming_content = _streamed(response.streaming_content)
        return response

    return wrapped


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        if _use_replica.get() and model._meta.app_label not in PRIMARY_ONLY_APPS:
            return REPLICA
        return None

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the replica is a copy of the primary

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == "default"
