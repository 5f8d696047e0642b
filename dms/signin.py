"""Sign-in protection: the client address django-axes counts failures by, and the answer to a
locked-out attempt (a page on the login screens, a JSON error on the API)."""

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _


def client_ip(request) -> str | None:
    """The client's address: REMOTE_ADDR, or with TRUSTED_PROXY_COUNT proxies in front the
    address the outermost trusted proxy saw (the entry that many places from the right of
    X-Forwarded-For; entries left of it are the client's own claims and are ignored)."""
    request = getattr(request, "_request", request)  # a DRF request wraps Django's
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR")


def _minutes() -> int:
    return max(1, int(settings.AXES_COOLOFF_TIME.total_seconds() // 60))


def lockout_message() -> str:
    return _(
        "Too many failed sign-ins. This account or address is locked for %(minutes)d minutes; "
        "try again later or ask a manager to reset your password."
    ) % {"minutes": _minutes()}


def lockout_response(request, original_response=None, credentials=None):
    """429 for a locked-out sign-in: the API's error body on /api/, a page elsewhere."""
    message = lockout_message()
    if request.path.startswith("/api/"):
        response = JsonResponse({"message": message, "fields": {}}, status=429)
    else:
        response = render(
            request,
            "registration/locked_out.html",
            {"message": message, "minutes": _minutes()},
            status=429,
        )
    response["Retry-After"] = str(_minutes() * 60)
    return response


class LockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check for every sign-in that comes with a request (each one over
    HTTP does). A call without a request (a management command, the test client's login()) has
    no address to count and no attacker behind it: it is left to the next backend."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)
