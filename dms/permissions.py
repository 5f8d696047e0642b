"""The one permission layer for pages and APIs: roles per site, and site scoping of queries.

A service manager may do everything at their site; a superuser everything everywhere.
"""

from collections.abc import Iterable
from functools import cache, wraps

from django.contrib.auth.views import redirect_to_login
from django.db.models import QuerySet
from django.shortcuts import render
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext as _
from rest_framework.permissions import BasePermission

from .compiled import CompiledRead
from .exceptions import PermissionDeniedError
from .models import Role, Site, StaffRole


def _role_map(user) -> dict[int, set[str]]:
    """{site_id: {roles}} for a user, cached on the user object for the request."""
    if not getattr(user, "is_authenticated", False):
        return {}
    if getattr(user, "_dms_roles", None) is None:
        remember_roles(
            user,
            StaffRole.objects.filter(user=user, site__is_active=True).values_list(
                "site_id", "role"
            ),
        )
    return user._dms_roles


def role_signature(user) -> tuple:
    """The user's roles as one hashable value, ((site id, (roles…)), …) in order: what a
    statement made for this user's sites may be kept under (`dms.api.sqlrows`)."""
    return tuple(
        (site_id, tuple(sorted(roles))) for site_id, roles in sorted(_role_map(user).items())
    )


def remember_roles(user, pairs: Iterable[tuple[int, str]]) -> None:
    """Keep the user's (site id, role) pairs for this request (`_role_map`; read with the user
    by token authentication)."""
    cached: dict[int, set[str]] = {}
    for site_id, role in pairs:
        cached.setdefault(site_id, set()).add(role)
    user._dms_roles = cached


def remember_site_roles(user, site_roles: Iterable[tuple[Site, str]]) -> None:
    """Keep the user's roles and the rows of their sites, read with the user in one query
    (the session's `dms.signin.StaffBackend`, the API's token authentication), for this
    request: `_role_map` and `current_site` then need no query of their own. A deactivated
    site's roles count for nothing, as in `_role_map`."""
    active = [(site, role) for site, role in site_roles if site.is_active]
    remember_roles(user, ((site.pk, role) for site, role in active))
    user._dms_sites = {site.pk: site for site, _role in active}


def remember_staff_roles(user, staff_roles: Iterable[StaffRole]) -> None:
    """`remember_site_roles` for StaffRole rows read with their sites."""
    remember_site_roles(user, ((staff_role.site, staff_role.role) for staff_role in staff_roles))


def site_ids_of(user) -> list[int]:
    """The active sites the user works at (a deactivated site is nobody's any more; its records
    and audit trail stay)."""
    if getattr(user, "is_superuser", False):
        return list(Site.objects.filter(is_active=True).values_list("id", flat=True))
    return sorted(_role_map(user))


def sites_of(user) -> QuerySet[Site]:
    return Site.objects.filter(id__in=site_ids_of(user))


def roles_of(user, site: Site | int | None) -> set[str]:
    site_id = site if isinstance(site, int) else getattr(site, "pk", None)
    if site_id is None:
        return set()
    if getattr(user, "is_superuser", False):
        return set(Role.values)
    return set(_role_map(user).get(site_id, set()))


def has_role(user, site: Site | int | None, *roles: str) -> bool:
    held = roles_of(user, site)
    if Role.MANAGER in held:
        return True
    return bool(held.intersection(roles)) if roles else bool(held)


def require_role(user, site: Site | int | None, *roles: str) -> None:
    if not has_role(user, site, *roles):
        names = ", ".join(str(Role(r).label) for r in roles) or _("staff")
        raise PermissionDeniedError(_("This needs the role: %(roles)s.") % {"roles": names})


def users_with_role(site: Site, role: str):
    from django.contrib.auth import get_user_model

    return (
        get_user_model()
        .objects.filter(staff_roles__site=site, staff_roles__role=role, is_active=True)
        .distinct()
    )


def current_site_id(request) -> int | None:
    """The id of the site a request works on: `?site=` / `X-Site` header if the user works
    there, the session's choice, else the user's first site."""
    ids = site_ids_of(request.user)
    if not ids:
        return None
    wanted = request.GET.get("site") or request.headers.get("X-Site")
    if wanted is None and hasattr(request, "session"):
        wanted = request.session.get("site_id")
    try:
        wanted_id = int(wanted) if wanted is not None else None
    except (TypeError, ValueError):
        wanted_id = None
    return wanted_id if wanted_id in ids else ids[0]


SITE_HEADER = "X-Site"


def api_site_id(request) -> int | None:
    """The id of the site an API request works on: the `X-Site` header (a site id), else the
    user's first site. A header naming a site the user does not work at is a 400 naming the
    header, never a silent fall-back to another site."""
    ids = site_ids_of(request.user)
    wanted = request.headers.get(SITE_HEADER)
    if wanted is None:
        return ids[0] if ids else None
    try:
        wanted_id = int(wanted)
    except (TypeError, ValueError):
        wanted_id = None
    if wanted_id not in ids:
        from rest_framework.exceptions import ValidationError

        raise ValidationError(
            {SITE_HEADER: [_("“%(site)s” is not one of your sites.") % {"site": wanted[:40]}]}
        )
    return wanted_id


def current_site(request, site_id: int | None = None) -> Site | None:
    """The site a request works on (see `current_site_id`), read once per request."""
    if site_id is None:
        site_id = current_site_id(request)
    if site_id is None:
        return None
    cache = getattr(request, "_dms_site", None)
    if cache is not None and cache.pk == site_id:
        return cache
    read_with_user = getattr(getattr(request, "user", None), "_dms_sites", None) or {}
    site = read_with_user.get(site_id) or site_by_id(site_id)
    request._dms_site = site
    return site


@cache
def _site_read() -> CompiledRead:
    """A site's row by its id, compiled once (dms.compiled), for a request whose user was not
    read with that site's row (a superuser holds no roles): through the ORM, which built and
    compiled the same statement each time, 0.50 ms in-process; compiled 0.21
    (docs/benchmarks.md, 2026-12-07 13:15). Staff are read with their sites' rows, by session
    (`dms.signin`) and by token (`dms.api.authentication`)."""
    return CompiledRead(Site, lambda pk: Site.objects.filter(pk=pk), layout=(Site,))


def site_by_id(site_id: int) -> Site:
    """`Site.objects.get(pk=site_id)`, as its compiled read."""
    read = _site_read()
    rows = read.rows(Site._meta.pk.get_prep_value(site_id))
    if rows is None:
        return Site.objects.get(pk=site_id)
    if not rows:
        raise Site.DoesNotExist("Site matching query does not exist.")
    return rows[0][0]


def scope(qs: QuerySet, user, field: str = "site") -> QuerySet:
    """Limit any queryset to the user's sites."""
    return qs.filter(**{f"{field}__in": site_ids_of(user)})


# --- pages -----------------------------------------------------------------------------------
def role_required(*roles: str):
    """Page decorator: login first (redirect), then the role at the current site (403 page)."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            site = current_site(request)
            if not has_role(request.user, site, *roles):
                names = ", ".join(str(Role(r).label) for r in roles) or _("staff")
                return render(
                    request,
                    "403.html",
                    {"message": _("This page needs the role: %(roles)s.") % {"roles": names}},
                    status=403,
                )
            request.site = site
            return view(request, *args, **kwargs)

        wrapped.required_roles = roles
        return wrapped

    return decorator


# --- API -------------------------------------------------------------------------------------
class HasRole(BasePermission):
    """DRF permission. The view declares `required_roles` (a tuple for every action) or
    `action_roles` ({action: tuple}); a manager passes everything at their site."""

    message = _("You do not have the role this needs.")

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        # the roles need only the site's id; the Site row is read if the view uses request.site
        site = request.site_id = api_site_id(request)
        request.site = SimpleLazyObject(lambda: current_site(request, site))
        roles: Iterable[str] = getattr(view, "required_roles", ())
        per_action = getattr(view, "action_roles", None)
        action = getattr(view, "action", None)
        if per_action and action in per_action:
            roles = per_action[action]
        if not has_role(request.user, site, *roles):
            names = ", ".join(str(Role(r).label) for r in roles) or _("staff")
            self.message = _("This needs the role: %(roles)s.") % {"roles": names}
            return False
        return True
