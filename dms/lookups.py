"""Query lookups Django has no name for.

`ContainsAnyCase(F("name"), text)`: the column contains the text, in any case, written so that
Postgres can answer it from a trigram index (`gin_trgm_ops`) on the column: `name ILIKE '%…%'`.
Django's `icontains` is `UPPER(name::text) LIKE UPPER('%…%')`, an expression no index on the
column serves: the customer lookup's search for "UPKG" (a name part in Latin letters, or the
letters of a plate typed without its digits) read all 10,722 customers of a site of the group
dataset through the (site, name) index and kept none, 25 ms; with ILIKE the trigram index
answers it in 0.14 ms (`EXPLAIN ANALYZE`, docs/benchmarks.md). Other databases (SQLite for
`make run`) get Django's `icontains`.
"""

from __future__ import annotations

from django.db.models.lookups import IContains


class ContainsAnyCase(IContains):
    lookup_name = "contains_any_case"

    def as_sql(self, compiler, connection):
        return IContains(self.lhs, self.rhs).as_sql(compiler, connection)

    def as_postgresql(self, compiler, connection):
        lhs_sql, lhs_params = compiler.compile(self.lhs)
        # the text with %, _ and \ escaped, between two %: as icontains prepares it
        rhs_sql, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs_sql}::text ILIKE {rhs_sql}", (*lhs_params, *rhs_params)
