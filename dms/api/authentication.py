"""Token authentication that reads the user's roles in the same query.

Every API view checks a role at a site (`dms.permissions.HasRole`), so every token request read
the token with its user, then the user's roles: two round trips before any work. Here one query
reads the token, the user and the (site, role) pairs (a LEFT JOIN: a user without roles is one
row), and the roles are kept on the user for this request only, as `_role_map` would keep them.
"""

import functools

from django.contrib.auth import get_user_model
from django.db.models import F
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from dms.compiled import TEXT_PLACEHOLDER, CompiledRead
from dms.permissions import remember_roles
from dms.tokens import is_expired


def _token_query(key):
    return (
        Token.objects.select_related("user")
        .filter(key=key)
        .annotate(
            role_site=F("user__staff_roles__site_id"),
            role=F("user__staff_roles__role"),
            role_site_active=F("user__staff_roles__site__is_active"),
        )
    )


@functools.cache
def _token_read() -> CompiledRead:
    """That query compiled once (dms.compiled): every API request reads it first."""
    return CompiledRead(
        Token,
        _token_query,
        layout=(Token, "role_site", "role", "role_site_active", get_user_model()),
        placeholder=TEXT_PLACEHOLDER,
    )


def _token_rows(key: str) -> list:
    """(token with its user, role's site id, role, whether that site is active) per role."""
    rows = _token_read().rows(key)
    if rows is None:
        return [(t, t.role_site, t.role, t.role_site_active) for t in _token_query(key)]
    out = []
    for token, role_site, role, role_site_active, user in rows:
        Token.user.field.set_cached_value(token, user)
        out.append((token, role_site, role, role_site_active))
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
        remember_roles(
            token.user,
            [(site, role) for _token, site, role, active in rows if site is not None and active],
        )
        return (token.user, token)
