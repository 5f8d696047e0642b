from django.urls import path

from . import callbacks, views

app_name = "messaging"

urlpatterns = [
    path(
        "callbacks/<slug:provider>/<str:account>/<str:token>/status/",
        callbacks.status_callback,
        name="status_callback",
    ),
    path(
        "callbacks/<slug:provider>/<str:account>/<str:token>/inbound/",
        callbacks.inbound,
        name="inbound",
    ),
    path("templates/", views.templates, name="templates"),
    path("templates/new/", views.template_edit, name="template_new"),
    path("templates/<int:pk>/", views.template_edit, name="template_edit"),
    path("replies/", views.inbox, name="inbox"),
    path("replies/<int:pk>/read/", views.inbox_read, name="inbox_read"),
]
