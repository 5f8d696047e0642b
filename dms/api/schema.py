"""OpenAPI pieces every app's API shares: the one error body and its documented responses.

Every error the API answers has the shape `{"message": …, "fields": {field: [messages]}}`
(dms/api/errors.py renders it). Apps describe their errors with `error_responses(400, 404, 409)`;
`AutoSchema` adds the errors every operation can answer (bad input, not logged in, wrong role,
another site's id, and for writes a refused state move) where an operation does not list them,
so the schema never misses a status code the server can send.
"""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse, extend_schema_serializer
from rest_framework import serializers


@extend_schema_serializer(component_name="Error")
class ErrorSerializer(serializers.Serializer):
    """The body of every error answer."""

    message = serializers.CharField(help_text="What went wrong, for a person to read.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Each field that is wrong, with its messages (empty when no field is at fault).",
    )


ERROR_DESCRIPTIONS = {
    400: "Bad input: `fields` maps each wrong field to its messages; nothing was saved.",
    401: "Not logged in: send `Authorization: Token …`.",
    403: "Not allowed: the message says which role is needed.",
    404: "No such record at your sites.",
    409: "Refused in the current state (the message lists what is possible); nothing changed.",
    415: "Unsupported request body type: send JSON.",
    422: "The Idempotency-Key was already used for a different request.",
}


def error_response(code: int, description: str = "") -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description or ERROR_DESCRIPTIONS[code])


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """`responses={200: Out, **error_responses(400, 404, 409)}` in an `extend_schema`."""
    return {code: error_response(code) for code in codes}


READ_ERRORS = (400, 401, 403, 404)
WRITE_ERRORS = (400, 401, 403, 404, 409, 415)


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's schema, plus the error answers every operation can give."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        codes = READ_ERRORS if self.method in ("GET", "HEAD", "OPTIONS") else WRITE_ERRORS
        if self.get_auth() == []:  # a public operation cannot answer "not logged in"
            codes = tuple(c for c in codes if c != 401)
        for code in codes:
            if str(code) in responses:
                continue
            responses[str(code)] = self._get_response_for_code(
                ErrorSerializer, str(code), direction=direction
            )
            responses[str(code)]["description"] = ERROR_DESCRIPTIONS[code]
        return dict(sorted(responses.items()))
