"""Token authentication that reads the user's roles and sites in the same query.

Every API view checks a role at a site (`dms.permissions.HasRole`) and most read that site, so
every token request read the token with its user, then the user's roles, then the site: three
round trips before any work. Here one query reads the user's staff roles with the token, the
user and the site rows, kept on the user for this request only (`remember_staff_roles`), as
`_role_map` and `current_site` would keep them; a user without roles is read as DRF reads it.
"""

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from dms.models import StaffRole
from dms.permissions import remember_staff_roles
from dms.tokens import is_expired


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        # the user's staff roles with the token, the user and the sites (a reverse one-to-one
        # from the user to its token); a user without any role is read as DRF reads it
        staff_roles = list(
            StaffRole.objects.filter(user__auth_token__key=key).select_related(
                "user__auth_token", "site"
            )
        )
        if staff_roles:
            token = staff_roles[0].user.auth_token
        else:
            token = self.get_model().objects.select_related("user").filter(key=key).first()
            if token is None:
                raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        if is_expired(token):
            raise exceptions.AuthenticationFailed(
                _("The token has expired: sign in again for a new one.")
            )
        remember_staff_roles(token.user, staff_roles)
        return (token.user, token)
