"""Sign-in protection: the client address django-axes counts failures by, and the answer to a
locked-out attempt (a page on the login screens, a JSON error on the API)."""

import functools

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from .compiled import CompiledRead
from .models import Site, StaffRole
from .permissions import remember_staff_roles


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


@functools.cache
def _staff_roles_read() -> CompiledRead:
    """The session user's roles with their user and site rows, compiled once (dms.compiled):
    through the ORM this read cost 0.93–0.98 ms in-process on every signed-in request, compiled
    0.31 ms (docs/benchmarks.md, 2026-12-07 11:35)."""
    return CompiledRead(
        StaffRole,
        lambda user_id: StaffRole.objects.filter(user_id=user_id).select_related("user", "site"),
        layout=(StaffRole, get_user_model(), Site),
    )


def staff_roles_with_user(user_id) -> list[StaffRole]:
    """`StaffRole.objects.filter(user_id=…).select_related("user", "site")`, as its rows."""
    user_id = StaffRole._meta.get_field("user").get_prep_value(user_id)
    read = _staff_roles_read()
    rows = read.rows(user_id)
    if rows is None:
        return list(read.build(user_id))
    staff_roles = []
    for staff_role, user, site in rows:
        StaffRole.user.field.set_cached_value(staff_role, user)
        StaffRole.site.field.set_cached_value(staff_role, site)
        staff_roles.append(staff_role)
    return staff_roles


class StaffBackend(ModelBackend):
    """Django's password backend, whose session user comes with their roles and sites.

    Every page checks a role at a site and reads that site (`dms.permissions`): after the
    session's user, two more queries before any work. Here one query reads the user's staff
    roles with the user and the site rows (`StaffRole` joined to both); a user without any role
    (a superuser, a new account) is read as `ModelBackend` reads it. Measured on the group
    dataset (docs/benchmarks.md, 2026-12-06): a lookup 7 → 5 queries; the one query 1.07 ms
    in-process against 1.91 ms for the three it replaces (user 0.55, roles 0.76, site 0.60).
    Token authentication reads the token, its user, the roles and their sites the same way in
    a query of its own (`dms.api.authentication`).

    `django.contrib.auth.backends.ModelBackend` stays listed after this one only for sessions
    signed in before it existed (Django keeps the backend's path in the session); a password is
    checked here once: a sign-in this backend refuses is refused, not tried again there."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None and username is not None and password is not None:
            raise PermissionDenied  # Django's authenticate() stops here: no second hashing
        return user

    def get_user(self, user_id):
        staff_roles = staff_roles_with_user(user_id)
        if not staff_roles:
            user = super().get_user(user_id)
            if user is not None:
                remember_staff_roles(user, [])
            return user
        user = staff_roles[0].user
        remember_staff_roles(user, staff_roles)
        return user if self.user_can_authenticate(user) else None
