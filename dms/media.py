"""Stored files (photos, signatures, signed documents) are served only to staff of the site the
file belongs to, in every environment.

`/media/<path>` finds the record that holds the file among the owners the apps register
(`register_owner`, from their AppConfig.ready) and asks for a role at that record's site. A file
no record claims, or one of a site the user does not work at, is a 404 — the same answer as a
missing file, so nothing tells which names exist. New files get random names
(`random_name`), so a name cannot be guessed from an RO number either.
"""

import mimetypes
import posixpath
import secrets
from dataclasses import dataclass

from django.contrib.auth.views import redirect_to_login
from django.core.files.storage import default_storage
from django.db.models import Model
from django.http import FileResponse, Http404

from .permissions import has_role


@dataclass(frozen=True)
class Owner:
    model: type[Model]
    field: str
    site_path: str
    roles: tuple[str, ...]


_owners: list[Owner] = []


def register_owner(model: type[Model], field: str, *, site_path: str, roles: tuple[str, ...]):
    """Files in `model.field` are served to users holding one of `roles` (a manager always)
    at the site reached by `site_path`."""
    owner = Owner(model, field, site_path, tuple(roles))
    if owner not in _owners:
        _owners.append(owner)


def random_name(folder: str, filename: str) -> str:
    """`folder/<144 random bits>.<the file's extension>`."""
    extension = posixpath.splitext(filename)[1].lower()[:8]
    return f"{folder}/{secrets.token_urlsafe(18)}{extension}"


def site_of_file(path: str) -> tuple[int, Owner] | None:
    for owner in _owners:
        site_id = (
            owner.model._default_manager.filter(**{owner.field: path})
            .values_list(owner.site_path, flat=True)
            .first()
        )
        if site_id is not None:
            return site_id, owner
    return None


def may_read_file(user, path: str) -> bool:
    found = site_of_file(path)
    if found is None:
        return False
    site_id, owner = found
    return has_role(user, site_id, *owner.roles)


def protected_media(request, path: str):
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if ".." in path.split("/") or "\x00" in path:
        raise Http404
    if not may_read_file(request.user, path) or not default_storage.exists(path):
        raise Http404
    content_type, _encoding = mimetypes.guess_type(path)
    response = FileResponse(
        default_storage.open(path, "rb"), content_type=content_type or "application/octet-stream"
    )
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response
