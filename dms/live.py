"""Polled live fragments (wall boards, day boards) that cost almost nothing when nothing changed.

Every audited change at a site bumps the site's live version of the subject's app (one cache
key per site and app, after the commit; see `dms.audit`); a fragment names the apps whose rows
it shows. A polled htmx fragment is answered with an ETag made of that version, the
minute (the fragments show times and "late" flags that move with the clock), the user, the
language and the URL; `Cache-Control: private, no-cache` makes the browser revalidate each poll
with `If-None-Match` (htmx polls with XMLHttpRequest, which goes through the HTTP cache). An
unchanged fragment is then a 304 read from the cache and the session alone: no SQL query, no
rendering.

What a 304 trusts: the session's user is the user the tag was issued to, and the site chosen in
the session is the tag's. A role taken away or a password changed in between is seen at the
next full answer, at the latest when the minute turns; a 304 carries no data.

The version lives in the shared cache (Redis in production and in the benchmarks); with a
per-process cache (LocMemCache, several server processes) a bump would reach only one process,
so conditional answers are off unless `DMS_LIVE_ETAGS` says otherwise (it defaults to whether
the cache is shared).
"""

from __future__ import annotations

import logging
import secrets
import time
import zlib
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.core.cache import cache
from django.http import HttpResponse
from django.utils.cache import patch_vary_headers

from .permissions import current_site_id

log = logging.getLogger(__name__)

KEY = "dms:live:{site_id}:{app}"
BUCKET_SECONDS = 60
TTL = 7 * 24 * 3600


def enabled() -> bool:
    setting = getattr(settings, "DMS_LIVE_ETAGS", None)
    if setting is not None:
        return bool(setting)
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    return "locmem" not in backend.lower() and "dummy" not in backend.lower()


def bump(site_id: int | None, app: str) -> None:
    """A change at the site to a row of `app`: the live fragments that show that app's rows
    answer in full at their next poll."""
    if site_id is None:
        return
    key = KEY.format(site_id=site_id, app=app)
    try:
        cache.incr(key)
    except ValueError:  # no version yet (or evicted): any new value is a change
        cache.set(key, secrets.randbelow(1 << 30), TTL)
    if in_worker():
        for apps, callback in _on_change:
            if app in apps:
                try:
                    callback(site_id)
                except Exception:  # the change is made; the screens' polls catch up
                    log.exception("Live fragment not queued after a change at site %s", site_id)


_on_change: list[tuple[tuple[str, ...], Callable[[int], None]]] = []


def on_change(apps: tuple[str, ...], callback: Callable[[int], None]) -> None:
    """Call `callback(site_id)` after each committed change at a site to a row of `apps` (an
    app's ready(): queue the renders of the fragments its screens are watching)."""
    if all(known is not callback for _apps, known in _on_change):
        _on_change.append((apps, callback))


def version(site_id: int, apps: tuple[str, ...]) -> str:
    """The site's versions of these apps, read with one cache round trip."""
    keys = [KEY.format(site_id=site_id, app=app) for app in apps]
    values = cache.get_many(keys)
    for key in keys:
        if key not in values:
            cache.add(key, secrets.randbelow(1 << 30), TTL)
            values[key] = cache.get(key)
    return "-".join(str(values[key]) for key in keys)


def _now() -> float:
    return time.time()


def _offset(site_id: int) -> int:
    """Seconds by which the site's minute is shifted: every site's fragments answer in full
    once a minute, and if all sites of a box turned the minute at the same second their
    renders would arrive at once (the load test's p95 doubled for the two seconds after :00
    with 20 sites); spread, each site turns at its own second."""
    return (site_id * 37) % BUCKET_SECONDS


def head(name: str, apps, site_id: int) -> str:
    """name.site.versions.minute: what a fragment's content depends on at the site now."""
    bucket = int((_now() + _offset(site_id)) // BUCKET_SECONDS)
    return f"{name}.{site_id}.{version(site_id, apps)}.{bucket}"


def _state(name: str, apps, request, site_id) -> tuple[str, str, str]:
    """(name.site.versions.bucket, language, path hash): what a fragment's content depends on
    besides the user."""
    path = zlib.crc32(request.get_full_path().encode())
    lang = getattr(request, "LANGUAGE_CODE", "")
    return head(name, apps, site_id), lang, f"{path:x}"


def _tag_of(state: tuple[str, str, str], user_id) -> str:
    head, lang, path = state
    return f'W/"{head}.{user_id}.{lang}.{path}"'


def _tag(name: str, apps, request, site_id, user_id) -> str:
    return _tag_of(_state(name, apps, request, site_id), user_id)


def _unchanged(name: str, apps, request) -> str | None:
    """The current tag when the request's If-None-Match is it, read without SQL."""
    sent = request.headers.get("If-None-Match", "")
    parts = sent.removeprefix('W/"').removesuffix('"').split(".")
    if len(parts) != 7 or parts[0] != name:
        return None
    _name, site_id, _v, _b, user_id, _lang, _path = parts
    session = getattr(request, "session", None)
    if session is None or str(session.get(SESSION_KEY, "")) != user_id:
        return None
    wanted = request.GET.get("site") or request.headers.get("X-Site") or session.get("site_id")
    if wanted is not None and str(wanted) != site_id:
        return None
    try:
        current = _tag(name, apps, request, int(site_id), user_id)
    except ValueError:
        return None
    return current if current == sent else None


def _no_cache(response, tag: str):
    response["ETag"] = tag
    response["Cache-Control"] = "private, no-cache"
    patch_vary_headers(response, ("HX-Request",))
    return response


SHARED_KEY = "dms:live:html:{state}:{variant}"


def shared_render(request, variant: str, render: Callable[[], HttpResponse]) -> HttpResponse:
    """A polled fragment that every screen of the site with the same `variant` (what the
    content depends on about the user, e.g. whether they may assign) sees alike: the first poll
    after a change (or in a new minute) renders it, the other screens' polls answer with that
    body from the shared cache. The key is the state the tag was taken from before the view
    read anything, so a cached body is never older than the versions it is filed under.

    A site's wall screens, the dispatcher's tablet and the advisors' board tabs all poll the
    same board: one render per change and minute instead of one per screen (docs/benchmarks.md,
    "the load test on an idle machine")."""
    state = getattr(request, "live_state", None)
    if state is None:
        return render()
    key = SHARED_KEY.format(state=state, variant=variant)
    cached = cache.get(key)
    if cached is not None:
        content_type, body = cached
        return HttpResponse(body, content_type=content_type)
    response = render()
    if response.status_code == 200 and not response.streaming:
        cache.set(key, (response["Content-Type"], response.content), 2 * BUCKET_SECONDS)
    return response


LATEST_KEY = "dms:live:latest:{name}:{site_id}:{variant}:{lang}"
PENDING_KEY = "dms:live:pending:{name}:{site_id}:{variant}:{lang}"
# How long a queued render may take before the polls render themselves again (a worker down or
# far behind): a wall screen is then at most this much behind the site, plus its poll interval.
WORKER_GRACE_SECONDS = 10
# A body is kept this long after its render (a watched fragment is rendered again at least once
# a minute): a screen that comes back after a pause is shown a fresh render, never an old body.
LATEST_TTL = 2 * BUCKET_SECONDS + WORKER_GRACE_SECONDS


def _filed_keys(name: str, site_id, variant: str, lang: str) -> tuple[str, str]:
    """The cache keys of a fragment's filed body and of its queued render."""
    args = {"name": name, "site_id": site_id, "variant": variant, "lang": lang}
    return LATEST_KEY.format(**args), PENDING_KEY.format(**args)


def in_worker() -> bool:
    """Whether polled fragments that can be are rendered by a Celery worker after a change
    (`latest_render`); `DMS_LIVE_RENDER_IN_WORKER`, on by default wherever the conditional
    answers are (a shared cache)."""
    return enabled() and bool(getattr(settings, "DMS_LIVE_RENDER_IN_WORKER", True))


def latest_render(
    request,
    variant: str,
    render: Callable[[], HttpResponse],
    queue: Callable[[], None],
    seen: Callable[[], None] | None = None,
) -> HttpResponse:
    """A polled fragment rendered after a change by a worker, not by the poll that finds it.

    The last body of the fragment (per site, `variant` and language) is kept with the state it
    was rendered from. A poll that finds the state unchanged since is answered with that body;
    one that finds it changed is answered at once with the last body and *its* tag (so the
    screen's next poll asks again) while `queue()` hands the render to a worker — once per
    change, however many screens poll in between. The worker files the new body with `store()`
    and the screens get it at their next poll. An app may also queue the renders of the
    fragments being watched as soon as a change commits (`on_change`), so the new body is
    usually filed before the next poll comes; `seen()` is called when a screen is handed a new
    body (once per change and screen, never for a 304), for the app to know who watches. With
    no body yet, or a queued render not done within WORKER_GRACE_SECONDS (no worker), the poll
    renders the fragment itself, as before.

    Why: the first poll after a change waited for the whole render (the workshop board: 165
    cards, ~40 ms alone and 120+ ms on a loaded box), and with the advisors' and technicians'
    writes a site's board changes every few seconds — a quarter of the wall screens' polls were
    renders, which set the poll's p95 (docs/benchmarks.md, "the board rendered by a worker")."""
    parts = getattr(request, "live_parts", None)
    if parts is None or not in_worker():
        return shared_render(request, variant, render)
    current, lang, path = parts
    name, site_id = current.split(".")[:2]
    latest_key, pending_key = _filed_keys(name, site_id, variant, lang)
    found = cache.get_many([latest_key, pending_key])
    latest, queued_at = found.get(latest_key), found.get(pending_key)
    if latest is not None:
        filed_under, content_type, body = latest
        if filed_under == current:
            if seen is not None:
                seen()
            return HttpResponse(body, content_type=content_type)
        now = _now()
        if queued_at is None:
            if queue_render(name, int(site_id), variant, lang, queue):
                queued_at = now
            else:  # queued a moment ago by another screen's poll, or the broker is down
                queued_at = cache.get(pending_key)
        if queued_at is not None and now - queued_at <= WORKER_GRACE_SECONDS:
            tag = _tag_of((filed_under, lang, path), request.user.pk)
            if request.headers.get("If-None-Match", "") == tag:
                response = HttpResponse(status=304)
            else:
                response = HttpResponse(body, content_type=content_type)
            response.live_tag = tag
            return response
    response = render()
    if response.status_code == 200 and not response.streaming:
        store(
            name, int(site_id), variant, lang, current, response["Content-Type"], response.content
        )
        if seen is not None:
            seen()
    return response


def filed_body(name: str, apps, site_id: int, variant: str, lang: str) -> bytes | None:
    """The fragment's filed body (`latest_render`) if it was rendered from the site's state now
    (the same versions and minute a poll would be answered from), else None.

    For the page that frames a polled fragment: a screen that opens the page while the site's
    other screens poll gets the body they are handed, not a render of its own."""
    if not in_worker():
        return None
    latest_key, _pending_key = _filed_keys(name, site_id, variant, lang)
    latest = cache.get(latest_key)
    if latest is None:
        return None
    filed_under, _content_type, body = latest
    return body if filed_under == head(name, apps, site_id) else None


def queue_render(
    name: str, site_id: int, variant: str, lang: str, queue: Callable[[], None]
) -> bool:
    """`queue()` the render of a fragment unless one is already queued; whether it was."""
    _latest_key, pending_key = _filed_keys(name, site_id, variant, lang)
    if not cache.add(pending_key, _now(), 6 * WORKER_GRACE_SECONDS):
        return False
    try:
        queue()  # from a GET or after a commit: nothing to wait for
    except Exception:  # the broker is down: the polls render, as without a worker
        log.exception("Broker unavailable: %s at site %s rendered by the polls", name, site_id)
        cache.delete(pending_key)
        return False
    return True


def store(
    name: str, site_id: int, variant: str, lang: str, filed_under: str, content_type: str, body
) -> None:
    """File a fragment's body rendered from the state `filed_under` (`head()` taken before the
    render read anything) as the latest; a queued render is done."""
    latest_key, pending_key = _filed_keys(name, site_id, variant, lang)
    cache.set(latest_key, (filed_under, content_type, body), LATEST_TTL)
    cache.delete(pending_key)


def polled(name: str, apps: tuple[str, ...]):
    """View decorator for a polled htmx fragment (put it above the role check) that shows rows
    of `apps` (app labels): 304 while the site's versions of those apps, the minute, the user,
    the language and the URL are those of the tag the browser holds; otherwise the view answers
    and its 200 gets the current tag."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not enabled() or not request.headers.get("HX-Request"):
                return view(request, *args, **kwargs)
            tag = _unchanged(name, apps, request)
            if tag:
                return _no_cache(HttpResponse(status=304), tag)
            # the tag is taken before the view reads: a change during rendering is caught by
            # the next poll, never hidden by a tag newer than what was read
            pending = None
            if request.user.is_authenticated:
                site_id = current_site_id(request)
                if site_id is not None:
                    state = _state(name, apps, request, site_id)
                    pending = _tag_of(state, request.user.pk)
                    request.live_state = ".".join(state)
                    request.live_parts = state
            response = view(request, *args, **kwargs)
            if pending and response.status_code in (200, 304):
                # a body filed under an earlier state carries that state's tag (latest_render)
                _no_cache(response, getattr(response, "live_tag", pending))
            return response

        return wrapped

    return decorator
