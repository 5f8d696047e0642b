"""What the embedded SQLite database lacks and PostgreSQL has built in, written in Python and
registered on every SQLite connection: queries that use them say so in their `as_sqlite`."""

import statistics


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


def register_functions(sender, connection, **kwargs) -> None:
    """`connection_created` receiver (dms.apps)."""
    if connection.vendor != "sqlite":
        return
    connection.connection.create_aggregate("dms_median", 1, _Median)
