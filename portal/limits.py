"""The customer pages' own limits and response headers (no staff session is ever set)."""

from __future__ import annotations

import functools

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpResponse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

# requests per address per minute on the customer pages (polling every 10 s is 6 a minute)
PAGE_REQUESTS_PER_MINUTE = 120


def client_address(request) -> str:
    """The client's address as sign-in protection counts it (behind TRUSTED_PROXY_COUNT
    proxies, the address the outermost trusted proxy saw)."""
    from dms.signin import client_ip

    return client_ip(request) or ""


def hit_count(key: str, timeout: int = 90) -> int:
    """Add one to a counter that lives `timeout` seconds and return it.

    On Redis it is one round trip (INCR and EXPIRE in one pipeline). The cache API needs three
    (`cache.add` is a SET NX that fails after the first request of the minute, then
    `cache.incr` is an EXISTS and an INCRBY), and a customer's status page polls every 10 s: at
    80 rooftops the limit's counter alone was 5.5 % of the web workers' time
    (docs/benchmarks.md). Django's Redis cache has no atomic increment-or-create, so this uses
    its client directly (`_cache.get_client`, the client Django's own `incr` uses). Elsewhere
    (the local-memory cache of `make run`) it is the cache API."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        redis_key = cache.make_and_validate_key(key)
        pipe = cache._cache.get_client(redis_key, write=True).pipeline(transaction=False)
        pipe.incr(redis_key)
        pipe.expire(redis_key, timeout)
        return int(pipe.execute()[0])
    if cache.add(key, 1, timeout=timeout):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between the two calls: a new minute's first request
        return 1


def _over_limit(request) -> bool:
    minute = timezone.now().strftime("%Y%m%d%H%M")
    count = hit_count(f"portal:rate:{client_address(request)}:{minute}")
    return count > getattr(settings, "PORTAL_REQUESTS_PER_MINUTE", PAGE_REQUESTS_PER_MINUTE)


def customer_page(view):
    """A customer page: its own rate limit per address, the customer's language (their choice
    on the page, else the site's), and headers that keep the page and its token private."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if _over_limit(request):
            response = HttpResponse(_("Too many requests. Please wait a minute."), status=429)
            response["Retry-After"] = "60"
            return response
        language = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) or settings.LANGUAGE_CODE
        if language not in dict(settings.LANGUAGES):
            language = settings.LANGUAGE_CODE
        with translation.override(language):
            request.LANGUAGE_CODE = language
            response = view(request, *args, **kwargs)
            if hasattr(response, "render") and not getattr(response, "is_rendered", True):
                response.render()
        response.headers.setdefault("Cache-Control", "no-store")
        response["Referrer-Policy"] = "same-origin"
        response["X-Robots-Tag"] = "noindex, nofollow"
        response["Content-Language"] = language
        return response

    return wrapped
