from django.utils.functional import SimpleLazyObject

from .permissions import current_site


class SiteMiddleware:
    """Puts the site the user works on at `request.site` (lazily) for pages."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.site = SimpleLazyObject(lambda: current_site(request))
        return self.get_response(request)
