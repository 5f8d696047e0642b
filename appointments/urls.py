from django.urls import path

from . import views

app_name = "appointments"

urlpatterns = [
    path("", views.front_desk, name="front_desk"),
    path("day/", views.day_fragment, name="day"),
    path("week/", views.week, name="week"),
    path("lookup/", views.lookup, name="lookup"),
    path("book/", views.book, name="book"),
    path("walk-in/", views.walk_in, name="walk_in"),
    path("new-customer/", views.new_customer, name="new_customer"),
    path("board/", views.welcome_board, name="welcome_board"),
    path("parts/", views.pick_list, name="pick_list"),
    path("parts/<int:pk>/reserve/", views.part_reserve, name="part_reserve"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/<slug:action>/", views.act, name="act"),
]
