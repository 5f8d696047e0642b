from django.urls import path

from . import views

app_name = "care"

urlpatterns = [
    path("", views.due_this_month, name="due_this_month"),
    path("due.csv", views.due_this_month_csv, name="due_this_month_csv"),
    path("first-service/", views.first_service, name="first_service"),
    path("tasks/<int:task_id>/book/", views.book, name="book"),
    path("rules/", views.rules, name="rules"),
    path("rules/run/", views.run_now, name="run_now"),
]
