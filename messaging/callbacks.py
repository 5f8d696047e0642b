"""Provider endpoints: status callbacks (receipts) and customers' replies. Each verifies the
provider's signature (Twilio: X-Twilio-Signature) or the secret in its URL (Alibaba Cloud's
HTTP push carries none) before anything is read; a forged request gets 403 and changes
nothing."""

import logging
from xml.etree.ElementTree import ParseError

from django.http import (
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseForbidden,
    JsonResponse,
)
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from . import backends, services
from .models import MessageChannel, SiteChannel

log = logging.getLogger(__name__)
# A body that verified but cannot be read (not JSON/XML, wrong shapes) is a 400, never a 500.
UNREADABLE = (ValueError, TypeError, AttributeError, KeyError, ParseError)


def _backend(provider: str, account: str):
    if provider not in backends.BACKENDS:
        return None
    account = "" if account == "-" else account
    return backends.backend_for(provider=provider, account=account)


def _ok(provider: str):
    if provider == "aliyun":
        return JsonResponse({"code": 0, "msg": "成功"})
    if provider == "twilio":
        return HttpResponse("<Response/>", content_type="text/xml")
    if provider == "wechat":
        return HttpResponse("success", content_type="text/plain")
    return HttpResponse("ok")


@csrf_exempt
@require_POST
def status_callback(request, provider: str, account: str, token: str):
    backend = _backend(provider, account)
    if backend is None:
        return HttpResponseForbidden()
    try:
        reports = backend.callback_reports(request, token=token)
    except backends.ForgedRequest as exc:
        log.warning("Refused a %s status callback: %s", provider, exc)
        return HttpResponseForbidden()
    except UNREADABLE:
        return HttpResponseBadRequest()
    for report in reports:
        services.status_report_apply(provider=provider, report=report)
    return _ok(provider)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def inbound(request, provider: str, account: str, token: str):
    """Customers' replies. WeChat pushes everything to this one URL: its server check (GET with
    `echostr`), replies, and the template messages' delivery events."""
    backend = _backend(provider, account)
    if backend is None:
        return HttpResponseForbidden()
    try:
        if request.method == "GET":
            if provider != "wechat":
                return HttpResponseForbidden()
            backend.verify(request)
            return HttpResponse(request.GET.get("echostr", ""), content_type="text/plain")
        replies = backend.inbound(request, token=token)
        statuses = backend.callback_reports(request, token=token) if provider == "wechat" else []
    except backends.ForgedRequest as exc:
        log.warning("Refused a %s reply: %s", provider, exc)
        return HttpResponseForbidden()
    except UNREADABLE:
        return HttpResponseBadRequest()
    for report in statuses:
        services.status_report_apply(provider=provider, report=report)
    account = "" if account == "-" else account
    configs = SiteChannel.objects.filter(provider=provider, account=account)
    site_ids = list(configs.values_list("site_id", flat=True))
    channel = configs.values_list("channel", flat=True).first() or MessageChannel.SMS
    for reply in replies:
        services.inbound_receive(
            site_ids=site_ids, channel=channel, provider=provider, report=reply
        )
    return _ok(provider)
