"""API tokens: one per person, expiring API_TOKEN_DAYS after it was issued, listed and revoked
by its owner and by a manager of a site the owner works at; rotated by issuing a new one."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.authtoken.models import Token

from .exceptions import NotFoundError, PermissionDeniedError
from .models import Role, StaffRole
from .permissions import site_ids_of


def expires_at(token: Token) -> datetime:
    return token.created + timedelta(days=settings.API_TOKEN_DAYS)


def is_expired(token: Token) -> bool:
    return expires_at(token) <= timezone.now()


def token_for_sign_in(*, user) -> Token:
    """The token a sign-in with a password answers: the person's current one while it is
    valid, else a new one."""
    with transaction.atomic():
        token = Token.objects.select_for_update().filter(user=user).first()
        if token is not None and not is_expired(token):
            return token
        if token is not None:
            token.delete()
        return Token.objects.create(user=user)


def token_rotate(*, user) -> Token:
    """A new token for `user`; the old one stops working at once."""
    with transaction.atomic():
        Token.objects.filter(user=user).delete()
        return Token.objects.create(user=user)


def _managed_site_ids(actor) -> set[int]:
    if actor.is_superuser:
        return set(site_ids_of(actor))
    return set(
        StaffRole.objects.filter(user=actor, role=Role.MANAGER).values_list("site_id", flat=True)
    )


def tokens_visible_to(actor):
    """The actor's own token and, for a manager, those of the people at their sites."""
    users = get_user_model().objects.filter(pk=actor.pk)
    managed = _managed_site_ids(actor)
    if actor.is_superuser:
        users = get_user_model().objects.all()
    elif managed:
        users = get_user_model().objects.filter(staff_roles__site__in=managed) | users
    return (
        Token.objects.filter(user__in=users.values("pk"))
        .select_related("user")
        .order_by("user__username")
    )


@dataclass(frozen=True)
class TokenInfo:
    user_id: int
    username: str
    name: str
    created: datetime
    expires_at: datetime
    expired: bool
    hint: str  # the first 4 characters: enough to tell tokens apart, too few to use


def describe(token: Token) -> TokenInfo:
    return TokenInfo(
        user_id=token.user_id,
        username=token.user.get_username(),
        name=token.user.get_full_name(),
        created=token.created,
        expires_at=expires_at(token),
        expired=is_expired(token),
        hint=token.key[:4],
    )


def token_revoke(*, actor, user_id: int) -> None:
    """Revoke a person's token: their own, or as a manager of a site they work at."""
    token = tokens_visible_to(actor).filter(user_id=user_id).first()
    if token is None:
        raise NotFoundError(_("No such token."))
    if token.user.is_superuser and not actor.is_superuser:
        raise PermissionDeniedError(_("Only a superuser may revoke a superuser's token."))
    token.delete()
