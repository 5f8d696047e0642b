import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import tokens
from .exceptions import ApplicationError
from .models import Role
from .permissions import current_site, has_role, site_ids_of

logger = logging.getLogger(__name__)

# Where each role starts its day, in order of precedence.
HOME_BY_ROLE = [
    (Role.MANAGER, "kpis:dashboard"),
    (Role.ADVISOR, "appointments:front_desk"),
    (Role.DISPATCHER, "workshop:board"),
    (Role.TECHNICIAN, "workshop:technician"),
    (Role.QC_INSPECTOR, "workshop:qc"),
    (Role.FOLLOWUP_AGENT, "followups:desk"),
    (Role.PARTS_CLERK, "appointments:pick_list"),
]


@login_required
def home(request):
    site = current_site(request)
    for role, url_name in HOME_BY_ROLE:
        if has_role(request.user, site, role):
            try:
                return redirect(url_name)
            except NoReverseMatch:
                continue
    return render(request, "home.html", {"site": site})


@login_required
@require_POST
def switch_site(request):
    try:
        site_id = int(request.POST.get("site", ""))
    except ValueError:
        site_id = None
    if site_id not in site_ids_of(request.user):
        messages.error(request, _("You do not work at that site."))
    else:
        request.session["site_id"] = site_id
    nxt = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}):
        nxt = "/"
    return redirect(nxt)


# --- API tokens: the page over dms.tokens (the same rules as /api/v1/auth/tokens/) ------------
def _token_page(request, *, new_token=None, status=200):
    rows = [tokens.describe(t) for t in tokens.tokens_visible_to(request.user)]
    mine = next((r for r in rows if r.user_id == request.user.pk), None)
    others = [r for r in rows if r.user_id != request.user.pk]
    response = render(
        request,
        "account/tokens.html",
        {
            "mine": mine,
            "others": others,
            "new_token": new_token,
            "new_expires_at": tokens.expires_at(new_token) if new_token else None,
            "days": settings.API_TOKEN_DAYS,
        },
        status=status,
    )
    response["Cache-Control"] = "no-store"  # a new token is shown once, never cached
    return response


@login_required
def api_tokens(request):
    """Your API token (its first characters, when it expires) and, as a manager, those of the
    people at your sites; revoke any of them, or issue yourself a new one."""
    return _token_page(request)


@login_required
@require_POST
def api_token_rotate(request):
    """A new token for yourself, shown once on the answer; the old one stops working."""
    return _token_page(request, new_token=tokens.token_rotate(user=request.user))


@login_required
@require_POST
def api_token_revoke(request, user_id: int):
    try:
        tokens.token_revoke(actor=request.user, user_id=user_id)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The token was revoked; it no longer works."))
    return redirect("api_tokens")


# --- error pages: JSON under /api/, HTML elsewhere -------------------------------------------
def _wants_json(request) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request, exception=None):
    if _wants_json(request):
        return JsonResponse({"message": _("Not found."), "fields": {}}, status=404)
    return render(request, "404.html", status=404)


def server_error(request):
    if _wants_json(request):
        return JsonResponse(
            {"message": _("Something went wrong on the server; nothing was saved."), "fields": {}},
            status=500,
        )
    return render(request, "500.html", status=500)


def permission_denied(request, exception=None):
    if _wants_json(request):
        return JsonResponse(
            {"message": _("You do not have permission to do this."), "fields": {}}, status=403
        )
    return render(request, "403.html", status=403)


def bad_request(request, exception=None):
    if _wants_json(request):
        return JsonResponse({"message": _("Bad request."), "fields": {}}, status=400)
    return render(request, "400.html", status=400)


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset by e-mail; the link in the mail points at the public address
    (DMS_PUBLIC_BASE_URL), never at whatever host the request named."""

    @property
    def extra_email_context(self):
        return {"base_url": settings.DMS_PUBLIC_BASE_URL.rstrip("/")}


@csrf_exempt
@require_POST
def csp_report(request):
    """Browsers report Content-Security-Policy violations here; they are logged, not stored."""
    body = request.body[:4096].decode("utf-8", "replace")
    logger.warning("CSP violation: %s", body)
    return HttpResponse(status=204)
