"""The API's URLconf is one flat list: the apps' API modules and their routers are opened into
it (dms.api.urls._opened), in order, so a request walks patterns, not nested includes that each
raise and hand back what they tried (docs/benchmarks.md, 2026-12-07)."""

from importlib import import_module

from django.urls import URLPattern, URLResolver, resolve, reverse

from dms.api import urls as api_urls


def _walk(patterns, prefix=""):
    """(route, pattern) of every endpoint under `patterns`, as Django would try them."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def test_no_include_mounted_at_the_empty_route():
    nested = [
        p for p in api_urls.urlpatterns if isinstance(p, URLResolver) and str(p.pattern) == ""
    ]
    assert nested == []
    assert all(isinstance(p, URLPattern) for p in api_urls.urlpatterns)


def test_the_same_endpoints_in_the_same_order_as_the_modules_hold():
    expected = []
    for module in api_urls.API_MODULES:
        expected += [
            (route, p.name, p.callback) for route, p in _walk(import_module(module).urlpatterns)
        ]
    opened = [(route, p.name, p.callback) for route, p in _walk(api_urls.urlpatterns)]
    assert opened[-len(expected) :] == expected


def test_a_list_resolves_and_reverses_as_before():
    match = resolve("/api/v1/complaints/")
    assert match.view_name == "api:complaint-list"
    assert reverse("api:complaint-detail", args=[5]) == "/api/v1/complaints/5/"
    assert resolve("/api/v1/kpis/").view_name == "api:kpis"
    assert resolve("/api/v1/customers/import/").view_name == "api:customers-import"
