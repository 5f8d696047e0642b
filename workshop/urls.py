from django.urls import path

from . import views

app_name = "workshop"

urlpatterns = [
    path("board/", views.board, name="board"),
    path("board/assign/", views.board_assign, name="board_assign"),
    path("technician/", views.technician, name="technician"),
    path("jobs/<int:job_id>/clock-on/", views.clock_on, name="clock_on"),
    path("jobs/<int:job_id>/clock-off/", views.clock_off, name="clock_off"),
    path("jobs/<int:job_id>/parts/", views.request_parts, name="request_parts"),
    path("jobs/<int:job_id>/parts-arrived/", views.parts_arrived, name="parts_arrived"),
    path("jobs/<int:job_id>/finding/", views.report_finding, name="report_finding"),
    path("jobs/<int:job_id>/sign-off/", views.sign_off, name="sign_off"),
    path("qc/", views.qc, name="qc"),
    path("qc/<int:repair_order_id>/", views.qc_decide, name="qc_decide"),
]
