"""`Idempotency-Key` for API writes a client may retry (SPEC §8).

The first request with a key runs and its answer is stored; a retry with the same key and the
same body gets the stored answer again without running twice. The same key with a different
body is refused (422); a retry while the first is still running gets 409. Keys are per user and
kept for `DMS_IDEMPOTENCY_HOURS` (a beat task purges older ones, `purge_expired`).

A first request whose process died before it answered leaves its key "running" for ever; a
retry after `DMS_IDEMPOTENCY_LEASE_SECONDS` takes the key over and runs (the writes behind the
API are themselves safe to repeat: a repeated state move is a no-op).
"""

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from dms.models import IdempotencyRecord

HEADER = "Idempotency-Key"
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _lease() -> timedelta:
    return timedelta(seconds=getattr(settings, "DMS_IDEMPOTENCY_LEASE_SECONDS", 120))


def purge_expired(*, now=None) -> int:
    """Delete the records older than their window; returns how many."""
    now = now or timezone.now()
    horizon = now - timedelta(hours=getattr(settings, "DMS_IDEMPOTENCY_HOURS", 24))
    deleted, _by_model = IdempotencyRecord.objects.filter(created_at__lt=horizon).delete()
    return deleted


def _take_over(existing: IdempotencyRecord) -> bool:
    """Claim a record whose first request never answered and whose lease ran out (one of
    several parallel retries wins)."""
    if existing.created_at >= timezone.now() - _lease():
        return False
    return bool(
        IdempotencyRecord.objects.filter(
            pk=existing.pk, status_code__isnull=True, created_at=existing.created_at
        ).update(created_at=timezone.now())
    )


def _api_user(request):
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user
    try:
        found = TokenAuthentication().authenticate(Request(request))
    except AuthenticationFailed:
        return None
    return found[0] if found else None


class IdempotencyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        key = request.headers.get(HEADER)
        if (
            not key
            or request.method not in WRITE_METHODS
            or not request.path.startswith("/api/")
            or request.content_type == "multipart/form-data"  # uploads: not replayed
        ):
            return self.get_response(request)
        if len(key) > 200:
            return JsonResponse(
                {
                    "message": _("The Idempotency-Key is too long (200 characters at most)."),
                    "fields": {HEADER: [_("At most 200 characters.")]},
                },
                status=400,
            )
        user = _api_user(request)
        if user is None:
            return self.get_response(request)
        digest = hashlib.sha256(
            request.method.encode() + b" " + request.path.encode() + b"\n" + request.body
        ).hexdigest()
        horizon = timezone.now() - timedelta(hours=getattr(settings, "DMS_IDEMPOTENCY_HOURS", 24))
        IdempotencyRecord.objects.filter(user=user, key=key, created_at__lt=horizon).delete()
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    user=user,
                    key=key,
                    method=request.method,
                    path=request.path[:300],
                    request_hash=digest,
                )
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(user=user, key=key).first()
            if existing is None:  # expired between the two statements: treat as new
                return self.get_response(request)
            if existing.request_hash != digest:
                return JsonResponse(
                    {
                        "message": _(
                            "This Idempotency-Key was already used for a different request."
                        ),
                        "fields": {HEADER: [_("Use a new key for a new request.")]},
                    },
                    status=422,
                )
            if existing.status_code is None and _take_over(existing):
                return self._run(request, existing)
            if existing.status_code is None:
                return JsonResponse(
                    {
                        "message": _(
                            "The first request with this Idempotency-Key is still running; retry shortly."
                        ),
                        "fields": {},
                    },
                    status=409,
                )
            replay = HttpResponse(
                bytes(existing.body or b""),
                status=existing.status_code,
                content_type=existing.content_type or "application/json",
            )
            replay["Idempotent-Replayed"] = "true"
            return replay
        return self._run(request, record)

    def _run(self, request, record: IdempotencyRecord):
        response = self.get_response(request)
        if response.status_code >= 500:
            record.delete()  # a server error is not an answer: let the retry run again
        else:
            content = getattr(response, "content", b"")
            IdempotencyRecord.objects.filter(pk=record.pk).update(
                status_code=response.status_code,
                body=content,
                content_type=response.get("Content-Type", "application/json"),
            )
        return response
