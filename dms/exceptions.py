"""The one error type for rule violations. The API turns it into JSON, pages into a message."""

from typing import Any


class ApplicationError(Exception):
    """A rule was broken or the input is wrong. `fields` maps a field name to its messages."""

    status_code = 400

    def __init__(
        self,
        message: str,
        *,
        fields: dict[str, list[str] | str] | None = None,
        extra: dict[str, Any] | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = str(message)
        self.fields = {
            k: [str(m) for m in (v if isinstance(v, list | tuple) else [v])]
            for k, v in (fields or {}).items()
        }
        self.extra = extra or {}
        if status_code is not None:
            self.status_code = status_code


class ConflictError(ApplicationError):
    """The request is valid but loses to the record's current state (HTTP 409)."""

    status_code = 409


class PermissionDeniedError(ApplicationError):
    status_code = 403


class NotFoundError(ApplicationError):
    status_code = 404
