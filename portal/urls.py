from django.urls import path

from . import views

app_name = "portal"

urlpatterns = [
    path("book/<slug:site_code>/", views.book, name="book"),
    path("book/<slug:site_code>/times/", views.book_times, name="book_times"),
    path("book/<slug:site_code>/code/", views.book_code, name="book_code"),
    path("book/<slug:site_code>/confirm/", views.book_confirm, name="book_confirm"),
    path("book/<slug:site_code>/details/", views.book_details, name="book_details"),
    path("b/<str:token>/", views.booking, name="booking"),
    path("b/<str:token>/reschedule/", views.booking_reschedule, name="booking_reschedule"),
    path("b/<str:token>/cancel/", views.booking_cancel, name="booking_cancel"),
    path("b/<str:token>/wechat/", views.booking_wechat, name="booking_wechat"),
    path("s/<str:token>/", views.status, name="status"),
    path("s/<str:token>/live/", views.status_live, name="status_live"),
    path("s/<str:token>/approve/", views.status_approve, name="status_approve"),
    path("s/<str:token>/wechat/", views.status_wechat, name="status_wechat"),
    path("s/<str:token>/photo/<int:photo_id>/", views.status_photo, name="status_photo"),
    path(
        "s/<str:token>/doc/<slug:kind>/<int:approval_id>/",
        views.status_document,
        name="status_document",
    ),
    path("f/<str:token>/", views.survey, name="survey"),
    path("wechat/back/", views.wechat_callback, name="wechat_callback"),
    path("wechat/consent/", views.wechat_consent, name="wechat_consent"),
    path("staff/ro/<int:pk>/status-link/", views.staff_status_link, name="staff_status_link"),
]
