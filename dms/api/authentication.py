"""Token authentication that reads the user's roles and their sites in the same query.

Every API view checks a role at a site (`dms.permissions.HasRole`), and most then work on that
site (availability, bookings, every write): the token with its user, the user's roles and the
site's row were three round trips before any work. Here one query reads the token, the user,
the roles and each role's site row (a LEFT JOIN: a user without roles is one row), kept on the
user for this request only as the session's `dms.signin.StaffBackend` keeps them.
"""

import functools

from django.contrib.auth import get_user_model
from django.db.models import F
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from dms.compiled import TEXT_PLACEHOLDER, CompiledRead
from dms.models import Site
from dms.permissions import remember_site_roles
from dms.tokens import is_expired


@functools.cache
def _site_columns() -> tuple[tuple[str, str], ...]:
    """(annotation name, the site's column) for each column of a role's site."""
    return tuple((f"role_site_{f.attname}", f.attname) for f in Site._meta.concrete_fields)


@functools.cache
def _site_attnames() -> list[str]:
    return [column for _name, column in _site_columns()]


def _token_query(key):
    return (
        Token.objects.select_related("user")
        .filter(key=key)
        .annotate(
            role=F("user__staff_roles__role"),
            **{name: F(f"user__staff_roles__site__{column}") for name, column in _site_columns()},
        )
    )


@functools.cache
def _token_read() -> CompiledRead:
    """That query compiled once (dms.compiled): every API request reads it first."""
    return CompiledRead(
        Token,
        _token_query,
        layout=(Token, "role", *(name for name, _column in _site_columns()), get_user_model()),
        placeholder=TEXT_PLACEHOLDER,
    )


def _site(alias: str, values) -> Site | None:
    """A role's site from its columns' values; None for a user without roles."""
    if values[0] is None:
        return None
    return Site.from_db(alias, _site_attnames(), values)


def _token_rows(key: str) -> list[tuple[Token, Site | None, str | None]]:
    """(token with its user, a role's site, the role) per role of the token's user."""
    read = _token_read()
    rows = read.rows(key)
    if rows is None:
        names = [name for name, _column in _site_columns()]
        return [
            (t, _site(t._state.db, [getattr(t, name) for name in names]), t.role)
            for t in _token_query(key)
        ]
    out = []
    width = len(_site_columns())
    for token, role, *rest in rows:
        site_values, user = rest[:width], rest[width]
        Token.user.field.set_cached_value(token, user)
        out.append((token, _site(token._state.db, site_values), role))
    return out


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        rows = _token_rows(str(key))
        if not rows:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        token = rows[0][0]
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        if is_expired(token):
            raise exceptions.AuthenticationFailed(
                _("The token has expired: sign in again for a new one.")
            )
        remember_site_roles(
            token.user, [(site, role) for _token, site, role in rows if site is not None]
        )
        return (token.user, token)
