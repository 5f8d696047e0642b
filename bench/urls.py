"""The product's URLs plus one bare API endpoint: same middleware, authentication, permission
check and JSON renderer as every list endpoint, but no query and no serializer. The throughput
benchmark compares a list endpoint to it."""

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from dms.urls import urlpatterns as product_urls


class BareView(APIView):
    @extend_schema(exclude=True)
    def get(self, request):
        return Response({"ok": True})


urlpatterns = [path("bench/bare/", BareView.as_view(), name="bench-bare"), *product_urls]
