"""What the embedded SQLite database lacks and PostgreSQL has built in, written in Python and
registered on every SQLite connection: queries that use them say so in their `as_sqlite`."""

import datetime as dt
import statistics

from dateutil.relativedelta import relativedelta


class _Median:
    """dms_median(x): PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY x) — the middle value, or the
    mean of the two middle values; NULLs ignored; NULL for no rows."""

    def __init__(self):
        self.values = []

    def step(self, value):
        if value is not None:
            self.values.append(value)

    def finalize(self):
        return statistics.median(self.values) if self.values else None


def _add_months(day, months):
    """dms_add_months(date, n): Postgres `(date + make_interval(0, n))::date`, which keeps the day
    or ends on the month's last day (31 Jan + 1 month = 28/29 Feb, not 2 or 3 March)."""
    if day is None or months is None:
        return None
    return (dt.date.fromisoformat(str(day)[:10]) + relativedelta(months=int(months))).isoformat()


def register_functions(sender, connection, **kwargs) -> None:
    """`connection_created` receiver (dms.apps)."""
    if connection.vendor != "sqlite":
        return
    connection.connection.create_aggregate("dms_median", 1, _Median)
    connection.connection.create_function("dms_add_months", 2, _add_months, deterministic=True)
