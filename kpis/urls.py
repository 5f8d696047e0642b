from django.urls import path

from . import views

app_name = "kpis"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("export.csv", views.export, name="export"),
    path("records/<slug:key>/", views.records, name="records"),
]
