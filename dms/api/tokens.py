"""API tokens: list (own, and a manager's people), revoke, and rotate (a new one for oneself)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from dms import tokens

from .schema import error_responses


class TokenInfoOutput(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField()
    created = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    expired = serializers.BooleanField()
    hint = serializers.CharField(help_text="The token's first 4 characters.")


class RotatedTokenOutput(serializers.Serializer):
    token = serializers.CharField(help_text="The new token; the old one no longer works.")
    expires_at = serializers.DateTimeField()


class TokenListView(APIView):
    """Your API token and, as a manager, those of the people at your sites (never the secret
    itself, only its first 4 characters)."""

    permission_classes = [IsAuthenticated]
    pagination_class = None

    @extend_schema(responses={200: TokenInfoOutput(many=True), **error_responses(400, 401)})
    def get(self, request):
        rows = [tokens.describe(t) for t in tokens.tokens_visible_to(request.user)]
        return Response(TokenInfoOutput(rows, many=True).data)


class TokenRevokeView(APIView):
    """Revoke the token of a person (yourself, or as a manager someone at your sites)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={204: None, **error_responses(400, 401, 403, 404, 409, 422)})
    def delete(self, request, user_id: int):
        tokens.token_revoke(actor=request.user, user_id=user_id)
        return Response(status=204)


class TokenRotateView(APIView):
    """Issue yourself a new token; the one used so far stops working."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None, responses={200: RotatedTokenOutput, **error_responses(400, 401, 409, 422)}
    )
    def post(self, request):
        token = tokens.token_rotate(user=request.user)
        return Response({"token": token.key, "expires_at": tokens.expires_at(token)})
