from django.contrib.auth import authenticate
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from dms.exceptions import ApplicationError
from dms.permissions import roles_of, sites_of


class TokenInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class TokenView(APIView):
    """Exchange a username and password for an API token (header `Authorization: Token …`)."""

    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        request=TokenInput,
        responses={200: inline_serializer("TokenOutput", {"token": serializers.CharField()})},
        auth=[],
    )
    def post(self, request):
        data = TokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request,
            username=data.validated_data["username"],
            password=data.validated_data["password"],
        )
        if user is None or not user.is_active:
            raise ApplicationError(
                _("Wrong username or password."),
                fields={"password": [_("Wrong username or password.")]},
            )
        token, _created = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


class ApiRootView(APIView):
    """Who am I, where I work, and where the resources are."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses=inline_serializer(
            "ApiRoot",
            {
                "user": serializers.CharField(),
                "user_id": serializers.IntegerField(),
                "sites": serializers.ListField(child=serializers.DictField()),
                "links": serializers.DictField(child=serializers.CharField()),
            },
        )
    )
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
