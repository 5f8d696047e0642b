"""Token authentication that reads the user's roles in the same query.

Every API view checks a role at a site (`dms.permissions.HasRole`), so every token request read
the token with its user, then the user's roles: two round trips before any work. Here one query
reads the token, the user and the (site, role) pairs (a LEFT JOIN: a user without roles is one
row), and the roles are kept on the user for this request only, as `_role_map` would keep them.
"""

from django.db.models import F
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from dms.permissions import remember_roles
from dms.tokens import is_expired


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        rows = list(
            self.get_model()
            .objects.select_related("user")
            .filter(key=key)
            .annotate(
                role_site=F("user__staff_roles__site_id"),
                role=F("user__staff_roles__role"),
                role_site_active=F("user__staff_roles__site__is_active"),
            )
        )
        if not rows:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        token = rows[0]
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        if is_expired(token):
            raise exceptions.AuthenticationFailed(
                _("The token has expired: sign in again for a new one.")
            )
        remember_roles(
            token.user,
            [(r.role_site, r.role) for r in rows if r.role_site is not None and r.role_site_active],
        )
        return (token.user, token)
