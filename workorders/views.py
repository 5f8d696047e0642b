"""The advisor's pages: RO list, open (walk-in), detail with timeline and next actions, intake,
estimate editor, authorization (signature), approvals pending, ready for delivery, delivery,
printable RO, and the customer's private approval page (no login)."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import FileResponse, Http404, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST

from customers.models import Vehicle
from dms.exceptions import ApplicationError
from dms.models import Role
from dms.permissions import has_role, role_required, site_ids_of
from messaging.selectors import messages_for_source

from . import documents, hooks, selectors, services
from . import forms as f
from .models import (
    DAMAGE_PANELS,
    FINAL_CHECK_ITEMS,
    HANDOVER_ITEMS,
    QC_ITEMS,
    Approval,
    Intake,
    JobLine,
    Photo,
    RepairOrder,
    ROStatus,
)
from .promise import promise_risks, ro_promise_risk
from .transitions import EDITABLE

STAFF = tuple(Role.values)
ADVISOR = (Role.ADVISOR,)


def _fail(request, exc: ApplicationError, form=None) -> None:
    """Show a service error: on the form's fields when it has them, else as a message."""
    placed = False
    if form is not None:
        for name, msgs in exc.fields.items():
            key = name if name in form.fields else None
            if key:
                for m in msgs:
                    form.add_error(key, m)
                placed = True
    if not placed or not exc.fields:
        details = [m for name, msgs in exc.fields.items() for m in msgs if m != exc.message]
        messages.error(request, " ".join([exc.message, *details]))


def _ro_or_404(request, pk) -> RepairOrder:
    try:
        return selectors.repair_order_get(user=request.user, pk=pk)
    except ApplicationError:
        raise Http404 from None


# --- lists -----------------------------------------------------------------------------------
STATUS_TABS = [
    (
        "open",
        pgettext_lazy("repair orders", "Open"),
        [s for s in ROStatus.values if s not in ("delivered", "cancelled")],
    ),
    ("draft", ROStatus.DRAFT.label, [ROStatus.DRAFT]),
    (
        "workshop",
        gettext_lazy("In the workshop"),
        [
            ROStatus.AUTHORIZED,
            ROStatus.IN_PROGRESS,
            ROStatus.WAITING_PARTS,
            ROStatus.WORK_DONE,
            ROStatus.QC,
            ROStatus.REWORK,
            ROStatus.WASHING,
        ],
    ),
    ("waiting_approval", ROStatus.WAITING_APPROVAL.label, [ROStatus.WAITING_APPROVAL]),
    ("ready", gettext_lazy("Ready / invoiced"), [ROStatus.READY, ROStatus.INVOICED]),
    ("delivered", ROStatus.DELIVERED.label, [ROStatus.DELIVERED]),
    ("cancelled", ROStatus.CANCELLED.label, [ROStatus.CANCELLED]),
    ("all", pgettext_lazy("repair orders", "All"), []),
]


@role_required(*STAFF)
def ro_list(request):
    q = request.GET.get("q", "")[:60]
    # a search looks in every state (a delivered RO is found by its number too) unless a tab
    # was chosen; the list shows each RO's state
    tab = request.GET.get("tab") or ("all" if q.strip() else "open")
    statuses = next((s for key, _label, s in STATUS_TABS if key == tab), STATUS_TABS[0][2])
    qs = selectors.repair_order_list(
        user=request.user,
        site=request.site,
        status=statuses or None,
        q=q,
        advisor_id=request.user.pk if request.GET.get("mine") else None,
    )
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    risks = promise_risks(page.object_list)
    for ro in page:
        ro.risk = risks[ro.pk]
    return render(
        request,
        "workorders/list.html",
        {"page": page, "tabs": STATUS_TABS, "tab": tab, "q": q},
    )


@role_required(*STAFF)
def global_search(request):
    """The top bar's search box on every staff page: customers and vehicles (plate, VIN, phone
    or its last 4 digits, name) and repair orders in every state (number, plate, VIN, name,
    phone). An exact RO number goes straight to that RO."""
    from customers.selectors import lookup
    from customers.validators import nfkc

    q = nfkc(request.GET.get("q", "")).strip()[:60]
    hits, ros = [], []
    if q:
        ros = list(selectors.repair_order_list(user=request.user, site=request.site, q=q)[:25])
        exact = [ro for ro in ros if ro.number.upper() == q.upper()]
        if len(exact) == 1:
            return redirect("workorders:detail", pk=exact[0].pk)
        hits = lookup(site_ids=[request.site.pk], q=q, limit=20)
    return render(
        request,
        "workorders/search.html",
        {
            "q": q,
            "top_q": q,
            "hits": hits,
            "ros": ros,
            "can_open_customers": has_role(
                request.user, request.site, Role.ADVISOR, Role.FOLLOWUP_AGENT
            ),
        },
    )


@role_required(*ADVISOR)
def approvals_pending(request):
    ros = list(selectors.approvals_pending(site=request.site))
    now = timezone.now()
    for ro in ros:
        ro.link = next(
            (
                link
                for link in ro.approval_links.all()
                if link.answered_at is None
                and link.expires_at > now
                and link.estimate_version == ro.estimate_version
            ),
            None,
        )
    return render(request, "workorders/approvals.html", {"ros": ros})


@role_required(*ADVISOR)
def ready_list(request):
    ros = list(selectors.ready_for_delivery(site=request.site))
    return render(request, "workorders/ready.html", {"ros": ros})


# --- open ------------------------------------------------------------------------------------
@role_required(*ADVISOR)
def ro_open(request):
    q = request.GET.get("q", "").strip()[:60]
    vehicles = []
    if q:
        compact = "".join(q.split()).upper()
        vehicles = (
            Vehicle.objects.filter(site=request.site)
            .filter(
                Q(plate__icontains=compact)
                | Q(vin__endswith=compact)
                | Q(owner__phone__contains=q)
                | Q(owner__name__icontains=q)
            )
            .select_related("owner")[:20]
        )
    if request.method == "POST":
        vehicle = Vehicle.objects.filter(
            site=request.site, pk=request.POST.get("vehicle") or 0
        ).first()
        if vehicle is None:
            messages.error(request, _("Choose a vehicle."))
            return redirect(reverse("workorders:open"))
        try:
            odo = request.POST.get("odometer_km") or None
            ro = services.repair_order_open(
                site=request.site,
                customer=vehicle.owner,
                vehicle=vehicle,
                advisor=request.user,
                actor=request.user,
                concern=request.POST.get("concern", "")[:2000],
                is_first_service=bool(request.POST.get("is_first_service")),
                odometer_km=int(odo) if odo and odo.isdigit() else None,
            )
        except ApplicationError as exc:
            _fail(request, exc)
            return redirect(reverse("workorders:open") + f"?q={q}")
        messages.success(request, _("Repair order %(n)s opened.") % {"n": ro.number})
        if ro.comeback_of_id:
            messages.warning(
                request,
                _("Possible comeback of %(n)s: confirm or clear it on the RO.")
                % {"n": ro.comeback_of.number},
            )
        return redirect("workorders:intake", pk=ro.pk)
    return render(request, "workorders/open.html", {"q": q, "vehicles": vehicles})


# --- detail ----------------------------------------------------------------------------------
@role_required(*STAFF)
def ro_detail(request, pk):
    ro = _ro_or_404(request, pk)
    from dms.audit import history

    actions = selectors.next_actions(ro, request.user)
    ctx = {
        "ro": ro,
        "intake": getattr(ro, "intake", None),
        "timeline": selectors.timeline(ro),
        "history": list(history(ro)),
        "actions": actions,
        "settle": selectors.settlement(ro),
        "risk": ro_promise_risk(ro),
        "cancel_form": f.CancelForm(),
        "wait_form": f.WaitPartsForm(),
        "qc_form": f.QcForm(),
        "qc_fail_form": f.QcFailForm(),
        "final_form": f.FinalCheckForm(),
        "delay_form": f.DelayForm(),
        "answer_form": f.AnswerForm(initial={"estimate_version": ro.estimate_version}),
        "total_form": f.ApproveTotalForm(),
        "proposed": [line for line in ro.lines.all() if line.approval == JobLine.Approval.PROPOSED],
        "link": ro.approval_links.filter(
            answered_at=None, expires_at__gt=timezone.now(), estimate_version=ro.estimate_version
        ).first(),
        "is_advisor": has_role(request.user, ro.site_id, Role.ADVISOR),
        "declined_before": [
            line
            for line in selectors.declined_lines_for_vehicle(vehicle=ro.vehicle)
            if line.repair_order_id != ro.pk
        ][:10],
        "needs_delay": ro.status == ROStatus.REWORK
        and services._rework_needs_delay_notice(ro, timezone.now()),
        "documents": documents.documents_of(ro),
        "panels": hooks.detail_panels(request, ro),
        "messages_sent": messages_for_source(site=ro.site, prefix=f"ro:{ro.pk}:"),
        "message_buttons": _message_buttons(ro)
        if has_role(request.user, ro.site_id, Role.ADVISOR)
        else [],
    }
    return render(request, "workorders/detail.html", ctx)


def _message_buttons(ro) -> list[tuple[str, str]]:
    """What the advisor can send now, with one click each."""
    buttons = []
    if any(line.approval == JobLine.Approval.PROPOSED for line in ro.lines.all()):
        buttons.append(("additional_work", _("Send the approval link")))
    if ro.promised_at and ro.status not in (
        ROStatus.READY,
        ROStatus.INVOICED,
        ROStatus.DELIVERED,
        ROStatus.CANCELLED,
    ):
        buttons.append(("delay_notice", _("Send the delay notice")))
    if ro.status in (ROStatus.READY, ROStatus.INVOICED):
        buttons.append(("car_ready", _("Send the ready notice")))
    return buttons


def _checklist(post, items) -> dict:
    return {key: bool(post.get(key)) for key in items}


@require_POST
@role_required(*STAFF)
def ro_action(request, pk, action):
    """One POST endpoint per action of the page; each calls exactly one service."""
    ro = _ro_or_404(request, pk)
    post, user, rid = request.POST, request.user, ro.pk
    done = ""  # by default: what was done to which RO, and its state now (below)
    try:
        if action == "start":
            services.ro_start(repair_order_id=rid, actor=user)
        elif action == "request-approval":
            services.ro_request_approval(repair_order_id=rid, actor=user)
            done = _("The customer's private link is ready below; send it or phone them.")
        elif action == "send-message":
            message = services.ro_message_send(
                repair_order_id=rid, actor=user, kind=post.get("kind", "")
            )
            done = _("%(kind)s queued by %(channel)s to %(to)s.") % {
                "kind": message.get_kind_display(),
                "channel": message.get_channel_display(),
                "to": message.to,
            }
        elif action == "approval-link":
            services.approval_link_create(repair_order_id=rid, actor=user)
        elif action == "answer-approval":
            form = f.AnswerForm(post)
            if not form.is_valid():
                raise ApplicationError(_("Please correct the answer."), fields=form.errors)
            answers = [
                {
                    "job_id": line.pk,
                    "decision": post.get(f"decision_{line.pk}"),
                    "reason": post.get(f"reason_{line.pk}", ""),
                }
                for line in ro.lines.all()
                if line.approval == JobLine.Approval.PROPOSED and post.get(f"decision_{line.pk}")
            ]
            services.ro_answer_approval(
                repair_order_id=rid, actor=user, answers=answers, **form.cleaned_data
            )
            done = _("The customer's answer is recorded.")
        elif action == "wait-parts":
            form = f.WaitPartsForm(post)
            if not form.is_valid():
                raise ApplicationError(_("Name the part."), fields=form.errors)
            services.ro_wait_parts(repair_order_id=rid, actor=user, **form.cleaned_data)
        elif action == "resume":
            services.ro_resume(repair_order_id=rid, actor=user)
        elif action == "complete-work":
            services.ro_complete_work(repair_order_id=rid, actor=user)
        elif action == "qc-pass":
            services.ro_qc_pass(
                repair_order_id=rid, actor=user, checklist=_checklist(post, QC_ITEMS)
            )
        elif action == "qc-fail":
            services.ro_qc_fail(
                repair_order_id=rid,
                actor=user,
                reason=post.get("reason", "")[:300],
                checklist=_checklist(post, QC_ITEMS),
            )
        elif action == "wash-done":
            services.ro_wash_done(repair_order_id=rid, actor=user)
        elif action == "final-check":
            services.ro_final_check(
                repair_order_id=rid, actor=user, checklist=_checklist(post, FINAL_CHECK_ITEMS)
            )
        elif action == "invoice":
            services.ro_invoice(repair_order_id=rid, actor=user)
            return redirect("workorders:deliver", pk=rid)
        elif action == "notify-ready":
            services.ro_notify_ready(repair_order_id=rid, actor=user, channel="phone")
            return redirect("workorders:deliver", pk=rid)
        elif action == "cancel":
            services.ro_cancel(repair_order_id=rid, actor=user, reason=post.get("reason", "")[:200])
        elif action == "record-delay":
            form = f.DelayForm(post)
            if not form.is_valid():
                raise ApplicationError(_("Set the new promised time."), fields=form.errors)
            services.ro_record_delay(repair_order_id=rid, actor=user, **form.cleaned_data)
        elif action == "approve-total":
            form = f.ApproveTotalForm(post)
            if not form.is_valid():
                raise ApplicationError(_("Enter the agreed total."), fields=form.errors)
            services.ro_approve_total(repair_order_id=rid, actor=user, **form.cleaned_data)
            if request.POST.get("next") == "deliver":
                return redirect("workorders:deliver", pk=rid)
        elif action in ("comeback-confirm", "comeback-clear"):
            services.ro_comeback_decide(
                repair_order_id=rid, actor=user, confirmed=action == "comeback-confirm"
            )
        else:
            raise Http404
    except ApplicationError as exc:
        _fail(request, exc)
        if request.POST.get("next") == "deliver":
            return redirect("workorders:deliver", pk=rid)
    else:
        if not done:
            audit_key = ACTION_AUDIT_KEYS.get(action, action)
            done = _("%(n)s (%(plate)s): %(what)s. Now: %(state)s.") % {
                "n": ro.number,
                "plate": ro.vehicle.plate or ro.vehicle.vin,
                "what": selectors.AUDIT_LABELS.get(audit_key, audit_key),
                "state": ROStatus(
                    RepairOrder.objects.values_list("status", flat=True).get(pk=rid)
                ).label,
            }
        messages.success(request, done)
    return redirect("workorders:detail", pk=rid)


# the audit entry (and its readable label) each page action writes
ACTION_AUDIT_KEYS = {
    "approval-link": "approval_link_created",
    "record-delay": "delay_notified",
    "approve-total": "total_approved",
    "comeback-confirm": "comeback_confirmed",
    "comeback-clear": "comeback_cleared",
}


# --- intake ----------------------------------------------------------------------------------
@role_required(*ADVISOR)
def ro_intake(request, pk):
    ro = _ro_or_404(request, pk)
    intake = Intake.objects.filter(repair_order=ro).first() or Intake(repair_order=ro)
    if request.method == "POST":
        form = f.IntakeForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                services.intake_record(
                    repair_order_id=ro.pk, actor=request.user, **form.service_kwargs()
                )
            except ApplicationError as exc:
                _fail(request, exc, form)
            else:
                messages.success(request, _("Walk-around recorded."))
                return redirect("workorders:estimate", pk=ro.pk)
    else:
        initial = {
            name: getattr(intake, name)
            for name in f.IntakeForm.base_fields
            if hasattr(intake, name) and name != "concern"
        }
        initial["concern"] = ro.concern
        initial["odometer_km"] = intake.odometer_km or ro.odometer_km
        initial.update({f"damage_{k}": v for k, v in intake.damage.items()})
        initial.update({f"interior_{k}": v for k, v in intake.interior.items()})
        form = f.IntakeForm(initial=initial)
    photos = {}
    for photo in ro.photos.filter(job=None):
        photos.setdefault(photo.panel, []).append(photo)
    rows = [
        {
            "key": key,
            "damage": form[f"damage_{key}"],
            "photo": form[f"photo_{key}"],
            "photos": photos.get(key, []),
        }
        for key in DAMAGE_PANELS
    ]
    return render(
        request,
        "workorders/intake.html",
        {"ro": ro, "form": form, "rows": rows, "intake": intake},
    )


# --- estimate --------------------------------------------------------------------------------
@role_required(*ADVISOR)
def ro_estimate(request, pk):
    ro = _ro_or_404(request, pk)
    line_form = f.LineForm()
    est_form = f.EstimateForm(
        initial={
            "not_to_exceed": ro.not_to_exceed,
            "promised_at": timezone.localtime(ro.promised_at) if ro.promised_at else None,
        }
    )
    if request.method == "POST":
        op = request.POST.get("op")
        try:
            if op == "add-line":
                line_form = f.LineForm(request.POST)
                if line_form.is_valid():
                    d = line_form.cleaned_data
                    services.job_line_add(
                        repair_order_id=ro.pk,
                        actor=request.user,
                        description=d["description"],
                        operation_code=d.get("operation_code") or "",
                        standard_hours=d["standard_hours"],
                        discount=d.get("discount") or 0,
                        parts=line_form.parts(),
                    )
                    return redirect("workorders:estimate", pk=ro.pk)
            elif op == "edit-line":
                form = f.LineEditForm(request.POST)
                if not form.is_valid():
                    raise ApplicationError(_("Please correct the line."), fields=form.errors)
                services.job_line_update(
                    job_id=_line_id(ro, request.POST.get("job")),
                    actor=request.user,
                    **form.cleaned_data,
                )
                return redirect("workorders:estimate", pk=ro.pk)
            elif op == "remove-line":
                services.job_line_remove(
                    job_id=_line_id(ro, request.POST.get("job")), actor=request.user
                )
                return redirect("workorders:estimate", pk=ro.pk)
            elif op == "add-part":
                form = f.PartForm(request.POST)
                if not form.is_valid():
                    raise ApplicationError(_("Please correct the part."), fields=form.errors)
                services.part_line_add(
                    job_id=_line_id(ro, request.POST.get("job")),
                    actor=request.user,
                    **form.cleaned_data,
                )
                return redirect("workorders:estimate", pk=ro.pk)
            elif op == "remove-part":
                part_id = request.POST.get("part", "")
                if not ro.lines.filter(parts__pk=part_id if part_id.isdigit() else 0).exists():
                    raise Http404
                services.part_line_remove(part_id=int(part_id), actor=request.user)
                return redirect("workorders:estimate", pk=ro.pk)
            elif op == "estimate":
                est_form = f.EstimateForm(request.POST)
                if est_form.is_valid():
                    services.ro_update_estimate(
                        repair_order_id=ro.pk, actor=request.user, **est_form.cleaned_data
                    )
                    messages.success(request, _("Estimate saved."))
                    return redirect("workorders:estimate", pk=ro.pk)
        except ApplicationError as exc:
            _fail(
                request,
                exc,
                line_form if op == "add-line" else est_form if op == "estimate" else None,
            )
        ro = _ro_or_404(request, pk)
    return render(
        request,
        "workorders/estimate.html",
        {
            "ro": ro,
            "line_form": line_form,
            "est_form": est_form,
            "part_form": f.PartForm(),
            "settle": selectors.settlement(ro),
            "editable": ro.status in EDITABLE,
        },
    )


def _line_id(ro: RepairOrder, raw) -> int:
    if not str(raw).isdigit() or not ro.lines.filter(pk=int(raw)).exists():
        raise Http404
    return int(raw)


# --- authorization ---------------------------------------------------------------------------
@role_required(*ADVISOR)
def ro_authorize(request, pk):
    ro = _ro_or_404(request, pk)
    if request.method == "POST":
        form = f.AuthorizeForm(request.POST)
        if form.is_valid():
            try:
                services.ro_authorize(
                    repair_order_id=ro.pk, actor=request.user, **form.cleaned_data
                )
            except ApplicationError as exc:
                _fail(request, exc, form)
            else:
                messages.success(
                    request,
                    _("%(n)s authorized by %(who)s. The car can go to the workshop.")
                    % {
                        "n": ro.number,
                        "who": form.cleaned_data.get("customer_name") or ro.customer.name,
                    },
                )
                return redirect("workorders:detail", pk=ro.pk)
    else:
        form = f.AuthorizeForm(
            initial={
                "customer_name": ro.customer.name,
                "promised_at": timezone.localtime(ro.promised_at) if ro.promised_at else None,
                "not_to_exceed": ro.not_to_exceed,
            }
        )
    return render(
        request,
        "workorders/authorize.html",
        {
            "ro": ro,
            "form": form,
            "settle": selectors.settlement(ro),
            # nothing to sign yet: the page sends the advisor to the step that is missing
            "missing": selectors.before_signing(ro) if ro.status == ROStatus.DRAFT else None,
        },
    )


# --- delivery --------------------------------------------------------------------------------
@role_required(*ADVISOR)
def ro_deliver(request, pk):
    ro = _ro_or_404(request, pk)
    defaults = services.next_service_defaults(ro)
    if request.method == "POST":
        form = f.DeliverForm(request.POST)
        if form.is_valid():
            d = form.cleaned_data
            book = None
            if d.get("book_next"):
                book = {"start": d["book_start"], "estimated_hours": d.get("book_hours") or 1}
            try:
                services.ro_deliver(
                    repair_order_id=ro.pk,
                    actor=request.user,
                    payment_method=d["payment_method"],
                    handover=_checklist(request.POST, HANDOVER_ITEMS),
                    next_service_due_date=d["next_service_due_date"],
                    next_service_due_km=d["next_service_due_km"],
                    book_next=book,
                )
            except ApplicationError as exc:
                _fail(request, exc, form)
            else:
                messages.success(request, _("Delivered. The follow-up call is scheduled."))
                return redirect("workorders:detail", pk=ro.pk)
    else:
        form = f.DeliverForm(initial=defaults)
    return render(
        request,
        "workorders/deliver.html",
        {
            "ro": ro,
            "form": form,
            "settle": selectors.settlement(ro),
            "total_form": f.ApproveTotalForm(),
            "handover_fields": [form[k] for k in HANDOVER_ITEMS],
            "actions": selectors.next_actions(ro, request.user),
        },
    )


@role_required(*STAFF)
def ro_print(request, pk):
    """The printed RO: once authorised, the estimate version the customer signed (not today's
    lines), then each later answer on additional work with the version it approved."""
    ro = _ro_or_404(request, pk)
    return render(
        request,
        "workorders/print.html",
        {
            "ro": ro,
            "intake": getattr(ro, "intake", None),
            "settle": selectors.settlement(ro),
            **selectors.signed_versions(ro),
        },
    )


@role_required(*STAFF)
def ro_settlement_print(request, pk):
    """The printed settlement (结算单) handed over at delivery: the actual lines, totals and tax,
    the invoice number and how the customer paid."""
    ro = _ro_or_404(request, pk)
    return render(
        request, "workorders/settlement_print.html", {"ro": ro, "settle": selectors.settlement(ro)}
    )


@role_required(*STAFF)
def document(request, pk, kind, approval_id):
    """A signed document of the RO as PDF (made on its first download, then kept)."""
    ro = _ro_or_404(request, pk)
    try:
        doc = documents.document_get_or_make(
            repair_order_id=ro.pk, kind=kind, approval_id=approval_id or None
        )
    except ApplicationError:
        raise Http404 from None
    return FileResponse(
        doc.file.open("rb"),
        content_type="application/pdf",
        filename=f"{ro.number}-{kind}-{approval_id or 0}.pdf",
    )


# --- files (staff) ---------------------------------------------------------------------------
@role_required(*STAFF)
def photo(request, photo_id):
    obj = Photo.objects.filter(
        pk=photo_id, repair_order__site_id__in=site_ids_of(request.user)
    ).first()
    if obj is None:
        raise Http404
    return FileResponse(obj.image.open("rb"))


@role_required(*STAFF)
def signature(request, approval_id):
    obj = Approval.objects.filter(
        pk=approval_id, repair_order__site_id__in=site_ids_of(request.user)
    ).first()
    if obj is None or not obj.signature:
        raise Http404
    return FileResponse(obj.signature.open("rb"), content_type="image/png")


# --- the customer's private page (no login) --------------------------------------------------
@never_cache
@csrf_protect
def approval_link(request, token):
    try:
        link = services.approval_link_get(token=token)
    except ApplicationError:
        return render(request, "workorders/link_invalid.html", status=404)
    ro = RepairOrder.objects.select_related("site", "vehicle", "customer", "advisor").get(
        pk=link.repair_order_id
    )
    lines = list(ro.lines.prefetch_related("parts", "photos"))
    proposed = [line for line in lines if line.approval == JobLine.Approval.PROPOSED]
    state = "open"
    if link.answered_at:
        state = "answered"
    elif link.expires_at <= timezone.now():
        state = "expired"
    elif link.estimate_version != ro.estimate_version:
        state = "changed"
    form = f.LinkAnswerForm(initial={"customer_name": ro.customer.name})
    if request.method == "POST":
        if state != "open":
            return HttpResponseNotAllowed(["GET"])
        form = f.LinkAnswerForm(request.POST)
        answers = [
            {
                "job_id": line.pk,
                "decision": request.POST.get(f"decision_{line.pk}"),
                "reason": request.POST.get(f"reason_{line.pk}", "")[:200],
            }
            for line in proposed
            if request.POST.get(f"decision_{line.pk}")
        ]
        if form.is_valid():
            try:
                services.approval_link_answer(
                    token=token,
                    answers=answers,
                    customer_name=form.cleaned_data["customer_name"],
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                return redirect("workorders:approval_link", token=token)
    return render(
        request,
        "workorders/link.html",
        {
            "ro": ro,
            "link": link,
            "state": state,
            "proposed": proposed,
            "answered": [
                line
                for line in lines
                if line.approval != JobLine.Approval.PROPOSED and line.is_additional
            ],
            "form": form,
            "token": token,
        },
    )


def approval_link_photo(request, token, photo_id):
    try:
        link = services.approval_link_get(token=token)
    except ApplicationError:
        raise Http404 from None
    obj = Photo.objects.filter(pk=photo_id, repair_order_id=link.repair_order_id).first()
    if obj is None or link.expires_at <= timezone.now():
        raise Http404
    return FileResponse(obj.image.open("rb"))
