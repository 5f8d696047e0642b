from importlib import import_module

from django.urls import URLResolver, path
from drf_spectacular.views import SpectacularSwaggerSplitView

from .tokens import TokenListView, TokenRevokeView, TokenRotateView
from .views import ApiRootView, SchemaView, TokenView

app_name = "api"


def _opened(patterns) -> list:
    """`patterns` with every include mounted at "" (an app's API module, a router's URLs)
    replaced by its own patterns, in the same order: the same URLs, names and first match.

    A request walks the patterns in order; an include at "" matches every path, and each one
    that holds no match raises and hands its parent the list of what it tried (for Django's
    404 page). With seven apps' modules and two routers included at "", resolving
    `/api/v1/complaints/` took 78 us and `/api/v1/kpis/` 93 us against 8 us for a route
    near the top; opened, 56 us and 64 us (docs/benchmarks.md, 2026-12-07 10:30). What is
    left is the walk itself: the patterns before a list are each tried in turn."""
    opened = []
    for pattern in patterns:
        if (
            isinstance(pattern, URLResolver)
            and str(pattern.pattern) == ""
            and not pattern.namespace
            and not pattern.app_name
            and not pattern.default_kwargs
        ):
            opened.extend(_opened(pattern.url_patterns))
        else:
            opened.append(pattern)
    return opened


# each app's API endpoints, in the order they are tried
API_MODULES = (
    "customers.apis",
    "appointments.apis",
    "workorders.apis",
    "workshop.apis",
    "followups.apis",
    "care.apis",
    "kpis.apis",
)


urlpatterns = [
    path("", ApiRootView.as_view(), name="root"),
    path("auth/token/", TokenView.as_view(), name="token"),
    path("auth/tokens/", TokenListView.as_view(), name="tokens"),
    path("auth/tokens/rotate/", TokenRotateView.as_view(), name="token_rotate"),
    path("auth/tokens/<int:user_id>/", TokenRevokeView.as_view(), name="token_revoke"),
    path("schema/", SchemaView.as_view(), name="schema"),
    # the split view serves its script as a file: no inline script (Content-Security-Policy)
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    *(p for module in API_MODULES for p in _opened(import_module(module).urlpatterns)),
]
