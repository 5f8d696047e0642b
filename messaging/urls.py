from django.urls import path

from . import callbacks

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
]
