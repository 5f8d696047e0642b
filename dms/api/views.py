from django.contrib.auth import authenticate
from django.utils import translation
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from dms import tokens
from dms.exceptions import ApplicationError
from dms.models import Role
from dms.permissions import roles_of, sites_of

from .schema import error_response


class TokenInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class TokenOutput(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`.")


class ApiRootSite(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    roles = serializers.ListField(
        child=serializers.ChoiceField(Role.choices), help_text="Your roles at this site."
    )


class ApiRootLinks(serializers.Serializer):
    schema = serializers.URLField(help_text="This OpenAPI schema.")
    docs = serializers.URLField(help_text="The schema, browsable (Swagger UI).")


class ApiRoot(serializers.Serializer):
    user = serializers.CharField(help_text="Your username.")
    user_id = serializers.IntegerField()
    sites = ApiRootSite(many=True, help_text="The sites you work at; send one's id as `X-Site`.")
    links = ApiRootLinks()


class TokenView(APIView):
    """Exchange a username and password for an API token (header `Authorization: Token …`)."""

    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        request=TokenInput,
        responses={
            200: TokenOutput,
            400: error_response(400, "`username` or `password` missing or too long."),
            401: error_response(401, "Wrong username or password (`fields.password`)."),
            429: error_response(
                429, "Too many failed sign-ins for this username or address: locked for a while."
            ),
        },
        auth=[],
    )
    def post(self, request):
        data = TokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        # Django's request, so the sign-in lockout (django-axes) sees and marks this attempt
        user = authenticate(
            request._request,
            username=data.validated_data["username"],
            password=data.validated_data["password"],
        )
        if user is None or not user.is_active:
            raise ApplicationError(
                _("Wrong username or password."),
                fields={"password": [_("Wrong username or password.")]},
                status_code=401,
            )
        token = tokens.token_for_sign_in(user=user)
        return Response({"token": token.key})


class ApiRootView(APIView):
    """Who am I, where I work, and where the resources are."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=ApiRoot)
    def get(self, request):
        sites = [
            {"id": s.pk, "code": s.code, "name": s.name, "roles": sorted(roles_of(request.user, s))}
            for s in sites_of(request.user)
        ]
        return Response(
            {
                "user": request.user.get_username(),
                "user_id": request.user.pk,
                "sites": sites,
                "links": {
                    "schema": reverse("api:schema", request=request),
                    "docs": reverse("api:docs", request=request),
                },
            }
        )


class SchemaView(SpectacularAPIView):
    """The schema, in English whatever the requester's language: the texts in it describe the
    interface; the messages a client shows come in the error bodies, in the user's language."""

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def dispatch(self, request, *args, **kwargs):
        with translation.override("en"):
            return super().dispatch(request, *args, **kwargs)
