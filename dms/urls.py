from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import media, views

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="registration/login.html"),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # password change (signed in) and reset by e-mail: Django's views, the site's templates
    path("password/change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password/change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("password/reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("site/", views.switch_site, name="switch_site"),
    path("account/tokens/", views.api_tokens, name="api_tokens"),
    path("account/tokens/new/", views.api_token_rotate, name="api_token_rotate"),
    path("account/tokens/<int:user_id>/revoke/", views.api_token_revoke, name="api_token_revoke"),
    path("csp-report/", views.csp_report, name="csp_report"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("dms.api.urls")),
    path("customers/", include("customers.urls")),
    path("messaging/", include("messaging.urls")),
    path("appointments/", include("appointments.urls")),
    path("ro/", include("workorders.urls")),
    path("search/", include("workorders.search_urls")),
    path("workshop/", include("workshop.urls")),
    path("followups/", include("followups.urls")),
    path("care/", include("care.urls")),
    path("dashboard/", include("kpis.urls")),
    path("p/", include("portal.urls")),
    path("media/<path:path>", media.protected_media, name="media"),
]

handler400 = "dms.views.bad_request"
handler403 = "dms.views.permission_denied"
handler404 = "dms.views.page_not_found"
handler500 = "dms.views.server_error"
