"""Checks of typed input shared by every app: text a person can read, dates in a sane range, no
NUL characters in a request (a middleware answers those with 400 before any view runs)."""

import json
import unicodedata
from datetime import date, datetime
from urllib.parse import unquote_plus

from django.http import HttpResponse, JsonResponse
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from .exceptions import ApplicationError

# control, format (zero-width, direction marks), unassigned, private-use, separators, combining
INVISIBLE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp", "Mn", "Me"}

# The range of dates a person types for something that happened or is planned in a dealership.
EARLIEST_DAY = date(1900, 1, 1)
LATEST_DAY = date(2100, 12, 31)


def has_visible_text(value: str) -> bool:
    """True when the text has at least one character a person can see."""
    return any(unicodedata.category(c) not in INVISIBLE_CATEGORIES for c in value)


def clean_name(value, *, field: str, required: str) -> str:
    """A name: whitespace collapsed; refused (field message `required`) when nothing visible is
    left, and refused when it holds control characters."""
    text = " ".join(str(value or "").split())
    if any(unicodedata.category(c) == "Cc" for c in text):
        msg = _("Remove the control characters from the name.")
        raise ApplicationError(msg, fields={field: msg})
    if not has_visible_text(text):
        raise ApplicationError(required, fields={field: required})
    return text


def parse_moment(value) -> datetime | None:
    """An ISO 8601 date-time, or None when it is malformed, impossible (30 February) or outside
    the years `EARLIEST_DAY`–`LATEST_DAY`."""
    try:
        moment = parse_datetime(str(value).strip())
    except (ValueError, TypeError, OverflowError):
        return None
    if moment is None or not EARLIEST_DAY.year <= moment.year <= LATEST_DAY.year:
        return None
    return moment


def check_day(
    value: date | None,
    *,
    field: str,
    earliest: date = EARLIEST_DAY,
    latest: date = LATEST_DAY,
) -> date | None:
    """Refuse a date outside [earliest, latest] with a field message."""
    if value is None:
        return None
    day = value.date() if hasattr(value, "date") and callable(value.date) else value
    if not earliest <= day <= latest:
        msg = _("Enter a date between %(earliest)s and %(latest)s.") % {
            "earliest": earliest.isoformat(),
            "latest": latest.isoformat(),
        }
        raise ApplicationError(msg, fields={field: msg})
    return value


class RefuseNulMiddleware:
    """A NUL character (%00) in the path, the query string or a form body is never valid input
    (Postgres cannot even store it): 400 with a field message, before any view runs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        field = self._nul_field(request)
        if field is not None:
            msg = _("The request contains a NUL character (code 0), which is not allowed.")
            if request.path.startswith("/api/"):
                return JsonResponse(
                    {"message": msg, "fields": {field: [msg]}},
                    status=400,
                    json_dumps_params={"ensure_ascii": False},
                )
            return HttpResponse(msg, status=400, content_type="text/plain; charset=utf-8")
        return self.get_response(request)

    @staticmethod
    def _nul_field(request) -> str | None:
        if "\x00" in request.path or "%00" in request.get_full_path().split("?", 1)[0]:
            return "path"
        raw = request.META.get("QUERY_STRING", "")
        if "%00" in raw or "\x00" in raw:
            for key, value in (p.partition("=")[::2] for p in raw.split("&")):
                if "\x00" in unquote_plus(key) + unquote_plus(value):
                    return unquote_plus(key).replace("\x00", "") or "query"
            return "query"
        content_type = request.META.get("CONTENT_TYPE", "")
        if request.method == "POST" and content_type.startswith(
            "application/x-www-form-urlencoded"
        ):
            for key, values in request.POST.lists():
                if "\x00" in key or any("\x00" in v for v in values):
                    return key.replace("\x00", "") or "body"
        if content_type.startswith("application/json") and b"\\u0000" in request.body:
            try:
                json.loads(request.body)
            except ValueError:
                return None  # the parser answers malformed JSON itself
            return "body"
        return None
