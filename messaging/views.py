"""The manager's message templates (edit with a preview on a real customer) and the replies
waiting on the staff's queue."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from customers.models import Customer
from dms.exceptions import ApplicationError
from dms.models import Role
from dms.permissions import role_required

from . import selectors, services
from .defaults import DEFAULT_BODIES
from .forms import TemplateForm
from .models import InboundMessage, MessageKind, MessageTemplate


@role_required(Role.MANAGER)
def templates(request):
    site = request.site
    own = list(selectors.templates_of(site=site))
    covered = {t.kind for t in own}
    builtin = [
        {"kind": kind, "label": label, "body": str(DEFAULT_BODIES[kind])}
        for kind, label in MessageKind.choices
        if kind not in covered
    ]
    channels = services.site_channels(site)
    return render(
        request,
        "messaging/templates.html",
        {"templates": own, "builtin": builtin, "channels": channels.values()},
    )


@role_required(Role.MANAGER)
def template_edit(request, pk=None):
    site = request.site
    template = get_object_or_404(MessageTemplate, pk=pk, site=site) if pk else None
    customers = Customer.objects.filter(site=site).order_by("-id")[:20]
    preview = error = None
    if request.method == "POST":
        form = TemplateForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            customer = Customer.objects.filter(site=site, pk=data["customer"]).first()
            try:
                if customer is None:
                    raise ApplicationError(
                        _("Choose a customer of this site."), fields={"customer": _("Unknown.")}
                    )
                preview = services.template_preview(
                    site=site,
                    kind=data["kind"],
                    subject=data["subject"],
                    body=data["body"],
                    customer=customer,
                )
                if "save" in request.POST:
                    saved = services.template_save(
                        site=site,
                        actor=request.user,
                        template_id=template.pk if template else None,
                        customer=customer,
                        **{k: v for k, v in data.items() if k != "customer"},
                    )
                    messages.success(request, _("Template saved."))
                    return redirect("messaging:template_edit", pk=saved.pk)
            except ApplicationError as exc:
                error = exc.message
                for field, errs in exc.fields.items():
                    if field in form.fields:
                        for e in errs if isinstance(errs, list) else [errs]:
                            form.add_error(field, e)
    else:
        initial = {"customer": customers[0].pk if customers else None}
        if template:
            initial.update(
                {
                    f: getattr(template, f)
                    for f in ("kind", "channel", "language", "subject", "body", "provider_template")
                }
            )
        else:
            kind = request.GET.get("kind", MessageKind.REMINDER_DAY_BEFORE)
            initial.update(
                {
                    "kind": kind,
                    "channel": request.GET.get("channel", "sms"),
                    "language": request.LANGUAGE_CODE,
                    "body": str(DEFAULT_BODIES.get(kind, "")),
                }
            )
        form = TemplateForm(initial=initial)
    kind = form["kind"].value() or MessageKind.REMINDER_DAY_BEFORE
    return render(
        request,
        "messaging/template_edit.html",
        {
            "form": form,
            "template": template,
            "customers": customers,
            "preview": preview,
            "error": error,
            "placeholders": services.allowed_placeholders(kind),
        },
        status=400 if error else 200,
    )


@role_required(Role.FOLLOWUP_AGENT, Role.ADVISOR)
def inbox(request):
    replies = list(selectors.inbox(site=request.site)[:200])
    return render(request, "messaging/inbox.html", {"replies": replies})


@require_POST
@role_required(Role.FOLLOWUP_AGENT, Role.ADVISOR)
def inbox_read(request, pk):
    reply = get_object_or_404(InboundMessage, pk=pk, site=request.site)
    services.inbound_mark_read(inbound_id=reply.pk, actor=request.user)
    return redirect("messaging:inbox")
