from django.urls import path

from . import views

app_name = "workorders"

urlpatterns = [
    path("", views.ro_list, name="list"),
    path("open/", views.ro_open, name="open"),
    path("approvals/", views.approvals_pending, name="approvals"),
    path("ready/", views.ready_list, name="ready"),
    path("<int:pk>/", views.ro_detail, name="detail"),
    path("<int:pk>/intake/", views.ro_intake, name="intake"),
    path("<int:pk>/estimate/", views.ro_estimate, name="estimate"),
    path("<int:pk>/authorize/", views.ro_authorize, name="authorize"),
    path("<int:pk>/deliver/", views.ro_deliver, name="deliver"),
    path("<int:pk>/print/", views.ro_print, name="print"),
    path("<int:pk>/settlement/", views.ro_settlement_print, name="settlement_print"),
    path("<int:pk>/documents/<slug:kind>/<int:approval_id>/", views.document, name="document"),
    path("<int:pk>/do/<slug:action>/", views.ro_action, name="action"),
    path("photo/<int:photo_id>/", views.photo, name="photo"),
    path("signature/<int:approval_id>/", views.signature, name="signature"),
    # the customer's private approval page: no login, unguessable token
    path("a/<str:token>/", views.approval_link, name="approval_link"),
    path("a/<str:token>/photo/<int:photo_id>/", views.approval_link_photo, name="link_photo"),
]
