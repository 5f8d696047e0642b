"""Date-times read from PostgreSQL with psycopg's C parser, not Django's Python one.

Django registers its own loader for `timestamptz` on every psycopg connection: a subclass of
psycopg's pure-Python loader (psycopg's C loader cannot be subclassed), which parses each value
in Python and then sets its time zone. With psycopg's binary package installed, the same text is
parsed in C by psycopg's default loader. A page reads a few hundred date-times, an export tens of
thousands: 59,566 of them (20,000 repair orders' three date-times) took 199 ms to parse with
Django's loader and 59 ms with this one, against the same rows read as text (min of 8, group
dataset, docs/benchmarks.md), with the same values.

The loader here keeps what Django's does — parse in the session's time zone (Django sets it to
the connection's), then set the connection's `tzinfo` — and the `timezone` attribute Django
checks before every cursor (`DatabaseWrapper.create_cursor`), so Django leaves it in place.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

TIMESTAMPTZ = "timestamptz"


@lru_cache
def _loader_for(tz: dt.tzinfo | None):
    import psycopg
    from psycopg.adapt import Loader
    from psycopg.pq import Format

    oid = psycopg.postgres.types[TIMESTAMPTZ].oid
    fast = psycopg.adapters.get_loader(oid, Format.TEXT)  # C with psycopg[binary] or [c]

    class TimestamptzLoader(Loader):
        timezone = tz

        def __init__(self, oid, context=None):
            super().__init__(oid, context)
            self._parse = fast(oid, context).load

        def load(self, data):
            return self._parse(data).replace(tzinfo=tz)

    return TimestamptzLoader


def fast_timestamps(sender, connection, **kwargs) -> None:
    """`connection_created` receiver (dms.apps): on PostgreSQL with psycopg's C implementation,
    date-times are read by the C parser."""
    if connection.vendor != "postgresql":
        return
    import psycopg

    if psycopg.pq.__impl__ == "python":  # no C parser to use: Django's loader stays
        return
    connection.connection.adapters.register_loader(TIMESTAMPTZ, _loader_for(connection.timezone))
