"""A new web process made ready before it takes its first request.

Django does much of its start lazily, in the first request that needs it: the URLconf and every
view module it imports, the reverse-lookup tables, each template's compilation (kept by the
cached loader for the life of the process), each language's translation catalogue, the
database pool's first connection. gunicorn replaces a process after `max_requests` (10,000 to
20,000), so in production a new process starts now and then, and the requests it took first
paid for all of that: in the load test (docs/benchmarks.md, 2026-12-06) the first requests of
a new process took 0.7-0.9 s (a lookup, an API list) where they take 10-40 ms, and a request
among the first 30 of a process was over 50 ms twice as often as a later one.

`warm()` does that work in the new process before gunicorn lets it accept connections
(`post_worker_init` in deploy/gunicorn.conf.py), while the other processes serve, and then
freezes what it loaded out of the garbage collector's full collections (`gc.freeze`).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.template import engines
from django.template.exceptions import TemplateDoesNotExist, TemplateSyntaxError
from django.template.utils import get_app_template_dirs
from django.urls import NoReverseMatch, URLResolver, get_resolver, reverse
from django.utils import translation

log = logging.getLogger(__name__)


def _template_names(engine) -> list[str]:
    """Every template of the product's own directories (the project's and its apps'), by name;
    the admin's and other libraries' templates are left to their first use."""
    base = Path(settings.BASE_DIR).resolve()
    directories = [Path(d) for d in engine.engine.dirs]
    directories += [d for d in map(Path, get_app_template_dirs("templates")) if base in d.parents]
    names: set[str] = set()
    for root in directories:
        if root.is_dir() and ".venv" not in root.parts:
            names.update(
                str(path.relative_to(root))
                for path in root.rglob("*")
                if path.suffix in (".html", ".txt") and path.is_file()
            )
    return sorted(names)


def _fill_reverse_tables(resolver: URLResolver) -> None:
    """The reverse-lookup tables of `resolver` and of every resolver it includes (a namespaced
    include keeps its own, filled by the first `reverse()` into it). Reading `url_patterns`
    imports the URLconf and every view module in it."""
    resolver.reverse_dict  # noqa: B018
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            _fill_reverse_tables(pattern)


def _namespaces(resolver: URLResolver, prefix: str = ""):
    for namespace, (_pattern, included) in resolver.namespace_dict.items():
        yield prefix + namespace
        yield from _namespaces(included, f"{prefix}{namespace}:")


def _fill_namespace_tables(resolver: URLResolver) -> None:
    """`reverse("ns:name")` into a namespaced include goes through a resolver made for that
    namespace (and cached), with tables of its own: a reverse into each namespace builds them,
    found or not."""
    for namespace in _namespaces(resolver):
        with contextlib.suppress(NoReverseMatch):
            reverse(f"{namespace}:dms-warm-up")


def warm() -> dict:
    """Load what the first requests of this process would otherwise load; returns what it did
    (counts and seconds), for the log. Never raises: a process that could not warm something
    still serves, as it would have without this."""
    started = time.perf_counter()
    done = {"templates": 0, "languages": 0, "database": False, "cache": False}
    try:
        resolver = get_resolver()
        for code, _name in settings.LANGUAGES:  # the reverse tables are kept per language
            with translation.override(code):
                _fill_reverse_tables(resolver)
                _fill_namespace_tables(resolver)
    except Exception:
        log.exception("warm-up: the URLconf")
    for engine in engines.all():
        try:
            names = _template_names(engine)
        except Exception:
            log.exception("warm-up: the templates of %s", engine.name)
            continue
        for name in names:
            try:
                engine.get_template(name)
            except (TemplateDoesNotExist, TemplateSyntaxError, UnicodeDecodeError):
                continue  # a fragment that is not a template of this engine
            except Exception:  # its page reports it when asked; the process still serves
                log.warning("warm-up: template %s", name, exc_info=True)
                continue
            done["templates"] += 1
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            translation.gettext("Customer")  # loads the language's catalogues
        done["languages"] += 1
    try:
        connections["default"].ensure_connection()  # the pool's first connection
        done["database"] = True
    except Exception:
        log.warning("warm-up: no database connection", exc_info=True)
    finally:
        # back to the pool; without one the connection is closed, as it belongs to this thread
        # and a request's thread opens its own
        connections["default"].close()
    try:
        cache.get("dms:warm-up")  # the cache's connection pool
        done["cache"] = True
    except Exception:
        log.warning("warm-up: no cache connection", exc_info=True)
    # What the process has loaded so far lives as long as it does: moved out of the garbage
    # collector's sight, a full collection in a request walks only what requests made since,
    # not the ~180,000 objects of Django, the URLconf and the templates (in-process, a full
    # collection took ~100 ms and set the p99 of an API list; docs/benchmarks.md, 2026-12-06).
    gc.collect()
    gc.freeze()
    done["frozen_objects"] = gc.get_freeze_count()
    done["seconds"] = round(time.perf_counter() - started, 3)
    return done
