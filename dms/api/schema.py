"""OpenAPI pieces every app's API shares: the one error body, the headers, the statuses.

Every error the API answers has the shape `{"message": …, "fields": {field: [messages]}}`
(dms/api/errors.py renders it); a refused state move adds `state`, `allowed` and (repair orders)
`actions`. `AutoSchema` describes on every operation the headers and error answers the server
really gives it, worked out from the view, so an app declares only its own extra statuses
(`error_responses(404)` for an id read from the body, say):

- 400 bad input: a request body, query parameters, an `X-Site` header or an `Idempotency-Key`;
- 401 without a valid token (every operation but the token exchange);
- 403 a role is missing (every site-scoped operation);
- 404 an id in the path that is not at your sites (an id in a body that is not is a 400, except
  where the view says `not_found_from_body = True`);
- 409 for writes: a refused state move, or the first request with the same `Idempotency-Key`
  still running;
- 415 a request body that is not JSON (uploads: not multipart);
- 422 an `Idempotency-Key` already used with another body.
"""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers

from dms.permissions import SITE_HEADER, HasRole

from .idempotency import HEADER as IDEMPOTENCY_HEADER


@extend_schema_field(
    {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}
)
class _FieldMessages(serializers.DictField):
    pass


@extend_schema_serializer(component_name="Error")
class ErrorSerializer(serializers.Serializer):
    """The body of every error answer. `message` and `fields` are always there; the others
    only where they apply."""

    message = serializers.CharField(help_text="What went wrong, for a person to read.")
    fields = _FieldMessages(
        help_text="Each field (or header, or query parameter) that is wrong, with its messages "
        "(empty when no field is at fault)."
    )
    code = serializers.CharField(
        required=False,
        help_text="A machine-readable reason where one helps: `slot_taken`, `capacity`, "
        "`not_today`, `vin_check_digit`.",
    )
    state = serializers.CharField(
        required=False, help_text="409 on a state move: the record's current state."
    )
    allowed = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="409 on a state move: the states the record may move to from `state`.",
    )
    actions = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="409 on a repair order: the actions (URL path of the move) possible now.",
    )


ERROR_DESCRIPTIONS = {
    400: "Bad input: `fields` maps each wrong field, query parameter or header to its "
    "messages; nothing was saved.",
    401: "Not logged in: send `Authorization: Token …`.",
    403: "Not allowed: the message says which role is needed.",
    404: "No such record at your sites.",
    409: "Refused in the current state (`state`, `allowed`, `actions` say what is possible), "
    "or the first request with this Idempotency-Key is still running; nothing changed.",
    415: "Unsupported request body type: send JSON.",
    422: "The Idempotency-Key was already used for a different request.",
}

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    str,
    OpenApiParameter.HEADER,
    description="Any unique string (a UUID), at most 200 characters. A retry with the same key "
    "and body gets the first answer again (header `Idempotent-Replayed: true`) instead of "
    "running twice; the same key with another body is a 422.",
)
SITE_PARAMETER = OpenApiParameter(
    SITE_HEADER,
    int,
    OpenApiParameter.HEADER,
    description="The id of the site to work on when you work at several (see `GET /api/v1/`); "
    "default: your first site. A site that is not yours is a 400 naming `X-Site`.",
)


def error_response(code: int, description: str = "") -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description or ERROR_DESCRIPTIONS[code])


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """`responses={200: Out, **error_responses(404)}` in an `extend_schema`."""
    return {code: error_response(code) for code in codes}


def site_scoped(view) -> bool:
    """Whether the view works on one site chosen by `X-Site` (it checks roles with HasRole)."""
    return any(
        isinstance(p, type) and issubclass(p, HasRole)
        for p in getattr(view, "permission_classes", ())
    )


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's schema, plus the headers and error answers of every operation."""

    def _is_list_action(self) -> bool:
        return getattr(self.view, "action", "list") == "list"

    def get_filter_backends(self):
        # only a viewset's `list` filters (dms/api/filters.py); its other GETs read their own
        # parameters
        return super().get_filter_backends() if self._is_list_action() else []

    def _get_paginator(self):
        # only a viewset's `list` pages; another GET answering an array answers all of it
        return super()._get_paginator() if self._is_list_action() else None

    def _is_public(self) -> bool:
        return self.get_auth() in ([], [{}])

    def _idempotent(self) -> bool:
        """Writes honour `Idempotency-Key` (dms/api/idempotency.py) when authenticated and not
        an upload."""
        if self.method not in WRITE_METHODS or self._is_public():
            return False
        return "multipart/form-data" not in self.map_parsers()

    def get_override_parameters(self):
        params = list(super().get_override_parameters())
        if site_scoped(self.view):
            params.append(SITE_PARAMETER)
        if self._idempotent():
            params.append(IDEMPOTENCY_PARAMETER)
        return params

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation["responses"]
        declared = {int(c) for c in responses if c.isdigit() and int(c) >= 400}
        has_body = "requestBody" in operation
        has_query = any(p["in"] == "query" for p in operation.get("parameters", ()))
        has_path = any(p["in"] == "path" for p in operation.get("parameters", ()))
        scoped = site_scoped(self.view)
        idempotent = self._idempotent()
        codes = set()
        if has_body or has_query or scoped or idempotent:
            codes.add(400)
        if not self._is_public():
            codes.add(401)
        if scoped:
            codes.add(403)
        if has_path:
            codes.add(404)
        if idempotent:
            codes.update((409, 422))
        if has_body and "multipart/form-data" not in operation["requestBody"]["content"]:
            codes.add(415)
        if self.method == "GET":
            declared.discard(409)  # a read refuses nothing
            responses.pop("409", None)
        if not has_path and not getattr(self.view, "not_found_from_body", False):
            declared.discard(404)  # no id in the path: an unknown id in a body is a 400
            responses.pop("404", None)
        for code in sorted(codes | declared):
            if str(code) not in responses:
                responses[str(code)] = self._get_response_for_code(ErrorSerializer, str(code))
                responses[str(code)]["description"] = ERROR_DESCRIPTIONS[code]
        operation["responses"] = dict(sorted(responses.items()))
        return operation


def add_links(result, generator, request, public):
    """OpenAPI links from an answer to the operations on the record it names (a postprocessing
    hook): a created record (201, `id`) and a list page's first row (`results[0].id`) lead to
    every operation on `…/{id}/…` under the same path. A client (or Schemathesis' stateful
    phase) can follow them from one call to the next."""
    paths = result.get("paths", {})
    for path, item in paths.items():
        if "{" in path:
            continue
        for method, status, pointer in (
            ("post", "201", "$response.body#/id"),
            ("get", "200", "$response.body#/results/0/id"),
        ):
            operation = item.get(method)
            if not operation or status not in operation["responses"]:
                continue
            response = operation["responses"][status]
            ref = response.get("content", {}).get("application/json", {}).get("schema", {})
            if status == "200" and not ref.get("$ref", "").split("/")[-1].startswith("Paginated"):
                continue
            links = {}
            for target_path, target in paths.items():
                rest = target_path[len(path) :]
                if not target_path.startswith(path) or not rest.startswith("{"):
                    continue
                name = rest[1 : rest.index("}")]
                if "{" in rest[rest.index("}") :]:
                    continue  # a second id (a line of the record) is not in this answer
                for target_method, target_op in target.items():
                    if target_method in ("get", "post", "put", "patch", "delete"):
                        links[target_op["operationId"]] = {
                            "operationId": target_op["operationId"],
                            "parameters": {name: pointer},
                        }
            if links:
                response["links"] = dict(sorted(links.items()))
    # the records one answer opens elsewhere: check-in opens the repair order, a new line is a
    # job of the workshop
    for source, method, status, pointer, prefix in (
        (
            "/api/v1/appointments/{id}/check-in/",
            "post",
            "200",
            "repair_order_id",
            "/api/v1/repair-orders/{id}/",
        ),
        ("/api/v1/repair-orders/{id}/lines/", "post", "201", "id", "/api/v1/jobs/{job_id}/"),
    ):
        response = paths.get(source, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            continue
        name = prefix[prefix.rindex("{") + 1 : prefix.rindex("}")]
        for target_path, target in paths.items():
            if target_path.startswith(prefix) and target_path.count("{") == 1:
                for target_op in (
                    o for m, o in target.items() if m in ("get", "post", "put", "patch", "delete")
                ):
                    response.setdefault("links", {})[target_op["operationId"]] = {
                        "operationId": target_op["operationId"],
                        "parameters": {name: f"$response.body#/{pointer}"},
                    }
        if "links" in response:
            response["links"] = dict(sorted(response["links"].items()))
    return result
