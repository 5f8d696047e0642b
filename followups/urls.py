from django.urls import path

from . import views

app_name = "followups"

urlpatterns = [
    path("", views.desk, name="desk"),
    path("tasks/<int:pk>/", views.task_panel, name="task"),
    path("tasks/<int:pk>/outcome/", views.task_outcome, name="outcome"),
    path("tasks/<int:pk>/take/", views.task_take, name="take"),
    path("complaints/", views.complaints, name="complaints"),
    path("complaints/new/", views.complaint_new, name="complaint_new"),
    path("complaints/<int:pk>/", views.complaint_detail, name="complaint"),
    path("complaints/<int:pk>/<slug:step>/", views.complaint_step, name="complaint_step"),
]
