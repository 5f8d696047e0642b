from django.urls import include, path
from drf_spectacular.views import SpectacularSwaggerSplitView

from .tokens import TokenListView, TokenRevokeView, TokenRotateView
from .views import ApiRootView, SchemaView, TokenView

app_name = "api"

urlpatterns = [
    path("", ApiRootView.as_view(), name="root"),
    path("auth/token/", TokenView.as_view(), name="token"),
    path("auth/tokens/", TokenListView.as_view(), name="tokens"),
    path("auth/tokens/rotate/", TokenRotateView.as_view(), name="token_rotate"),
    path("auth/tokens/<int:user_id>/", TokenRevokeView.as_view(), name="token_revoke"),
    path("schema/", SchemaView.as_view(), name="schema"),
    # the split view serves its script as a file: no inline script (Content-Security-Policy)
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("", include("customers.apis")),
    path("", include("appointments.apis")),
    path("", include("workorders.apis")),
    path("", include("workshop.apis")),
    path("", include("followups.apis")),
    path("", include("care.apis")),
    path("", include("kpis.apis")),
]
