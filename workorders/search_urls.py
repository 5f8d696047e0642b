"""The top bar's search page (customers, cars and repair orders), wired by the root URLconf with
include() like every app's pages, so the foundation never imports this app."""

from django.urls import path

from .views import global_search

urlpatterns = [path("", global_search, name="search")]
