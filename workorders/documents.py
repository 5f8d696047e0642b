"""Signed documents of a repair order as PDF (WeasyPrint, Noto CJK fonts for Chinese).

Each document is made once, from frozen data only — the estimate version the customer signed or
answered, the answer with its signature, the settlement stored at invoicing and the payment at
delivery — and kept with the RO (`SignedDocument`, a random file name). Asking again returns the
stored file, so a document is the same whenever it is downloaded."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from dms.exceptions import NotFoundError
from dms.names import person_name

from .models import (
    AGREED_APPROVALS,
    Approval,
    EstimateVersion,
    RepairOrder,
    ROStatus,
    SignedDocument,
)

K = SignedDocument.Kind


@dataclass(frozen=True)
class DocumentRef:
    """A document an RO has (made already or to be made on first download)."""

    kind: str
    approval_id: int | None
    label: str
    version: int | None

    @property
    def key(self) -> str:
        return f"{self.kind}-{self.approval_id or 0}"


def documents_of(ro: RepairOrder) -> list[DocumentRef]:
    """The signed documents an RO has now: the authorised work order, one per answer on
    additional work, and the settlement once delivered. No query where the RO's approvals were
    loaded with it (the RO page's `repair_order_get`), else one."""
    refs = []
    signed = (Approval.Kind.AUTHORIZATION, Approval.Kind.ADDITIONAL)
    # in the order they were answered (Approval's ordering: answered_at, id)
    for approval in ro.approvals.all():
        if approval.kind not in signed:
            continue
        if approval.kind == Approval.Kind.AUTHORIZATION:
            label = _("Work order as authorised (version %(v)s)") % {"v": approval.estimate_version}
            refs.append(DocumentRef(K.WORK_ORDER, approval.pk, label, approval.estimate_version))
        else:
            label = _("Additional work approval (version %(v)s)") % {"v": approval.estimate_version}
            refs.append(DocumentRef(K.ADDITIONAL, approval.pk, label, approval.estimate_version))
    if ro.status == ROStatus.DELIVERED:
        refs.append(DocumentRef(K.SETTLEMENT, None, _("Settlement"), None))
    return refs


def _signature_uri(approval: Approval) -> str:
    if not approval.signature:
        return ""
    with approval.signature.open("rb") as fh:
        data = fh.read()
    return "data:image/png;base64," + base64.b64encode(data).decode()


def _local(ro: RepairOrder, dt):
    return timezone.localtime(dt, ro.site.tzinfo) if dt else None


def _context(ro: RepairOrder, kind: str, approval: Approval | None) -> dict:
    ctx = {
        "ro": ro,
        "kind": kind,
        "advisor": person_name(ro.advisor),
        "opened_at": _local(ro, ro.opened_at),
        "tax_percent": (ro.site.tax_rate * 100).normalize(),
    }
    if approval is not None:
        version = EstimateVersion.objects.filter(
            repair_order=ro, version=approval.estimate_version
        ).first()
        ctx.update(
            approval=approval,
            version=version,
            answered_at=_local(ro, approval.answered_at),
            recorded_by=person_name(approval.recorded_by) if approval.recorded_by else "",
            signature=_signature_uri(approval),
            promised_at=_local(ro, version.promised_at) if version else None,
            answers=list(approval.lines.select_related("job").order_by("job__position", "job_id")),
        )
    if kind == K.SETTLEMENT:
        lines = [
            line
            for line in ro.lines.prefetch_related("parts").order_by("position", "id")
            if line.approval in AGREED_APPROVALS
        ]
        ctx.update(
            lines=lines,
            net_total=ro.labour_total + ro.parts_total - ro.discount_total,
            invoiced_at=_local(ro, ro.invoiced_at),
            delivered_at=_local(ro, ro.delivered_at),
        )
    return ctx


def render_pdf(ro: RepairOrder, kind: str, approval: Approval | None) -> bytes:
    """The PDF bytes of one document, in the site's language."""
    from weasyprint import HTML

    with translation.override(settings.LANGUAGE_CODE):
        html = render_to_string(f"workorders/pdf/{kind}.html", _context(ro, kind, approval))
    return HTML(string=html).write_pdf()


def document_get_or_make(*, repair_order_id, kind: str, approval_id=None) -> SignedDocument:
    """The stored document, made now from the frozen data if it is its first download.
    NotFoundError for a document the RO does not have (yet)."""
    ro = (
        RepairOrder.objects.select_related("site", "customer", "vehicle", "advisor")
        .filter(pk=repair_order_id)
        .first()
    )
    if ro is None:
        raise NotFoundError(_("No such document."))
    wanted = {(r.kind, r.approval_id) for r in documents_of(ro)}
    approval_id = int(approval_id) if approval_id else None
    if (kind, approval_id) not in wanted:
        raise NotFoundError(_("No such document."))
    found = SignedDocument.objects.filter(repair_order=ro, kind=kind, approval_id=approval_id)
    doc = found.first()
    if doc is not None:
        return doc
    approval = (
        Approval.objects.select_related("recorded_by").get(pk=approval_id) if approval_id else None
    )
    pdf = render_pdf(ro, kind, approval)
    doc = SignedDocument(
        repair_order=ro,
        kind=kind,
        approval=approval,
        estimate_version=approval.estimate_version if approval else None,
        sha256=hashlib.sha256(pdf).hexdigest(),
    )
    doc.file.save("document.pdf", ContentFile(pdf), save=False)
    try:
        with transaction.atomic():
            doc.save()
    except IntegrityError:  # made by a parallel download meanwhile: keep that one
        doc.file.delete(save=False)
        return found.get()
    return doc
