"""Signed documents as PDF: the work order as authorised (the frozen version and the signature),
each answer on additional work with its version, the settlement at delivery; kept with the RO,
the same on every download; the printed RO shows the signed version, not today's lines."""

import io
import re

import pytest
from pypdf import PdfReader

from dms.models import Role
from dms.tests.factories import make_staff
from workorders import documents
from workorders import services as s
from workorders.models import Approval, JobLine, ROStatus, SignedDocument
from workorders.tests.factories import ro_in_state

pytestmark = pytest.mark.django_db


def _pdf(doc) -> PdfReader:
    with doc.file.open("rb") as fh:
        return PdfReader(io.BytesIO(fh.read()))


def _text(reader: PdfReader) -> str:
    return "\n".join(page.extract_text() for page in reader.pages)


def test_the_work_order_pdf_has_the_signed_lines_and_the_signature(client):
    ro = ro_in_state(ROStatus.WAITING_APPROVAL)
    auth = ro.approvals.get(kind=Approval.Kind.AUTHORIZATION)
    doc = documents.document_get_or_make(
        repair_order_id=ro.pk, kind="work_order", approval_id=auth.pk
    )
    reader = _pdf(doc)
    text = _text(reader)
    assert "Replace front brake pads" in text  # the signed line
    assert "Replace brake fluid" not in text  # proposed later, never signed with the RO
    assert ro.number in text
    assert "Brake pad set" in text
    images = [img for page in reader.pages for img in page.images]
    assert len(images) == 1  # the customer's signature
    assert doc.file.name.startswith(f"documents/{ro.pk}/")
    assert len(doc.file.name.rsplit("/", 1)[-1]) > 20  # a random name
    # the same document on every later download, also for staff
    again = documents.document_get_or_make(
        repair_order_id=ro.pk, kind="work_order", approval_id=auth.pk
    )
    assert again.pk == doc.pk
    assert SignedDocument.objects.count() == 1
    # and made again from the recorded data, it is the same file byte for byte
    import hashlib

    remade = documents.render_pdf(ro, "work_order", auth)
    assert hashlib.sha256(remade).hexdigest() == doc.sha256
    client.force_login(ro.advisor)
    answer = client.get(f"/ro/{ro.pk}/documents/work_order/{auth.pk}/")
    assert answer["Content-Type"] == "application/pdf"
    assert b"".join(answer.streaming_content).startswith(b"%PDF")


def test_each_additional_answer_and_the_settlement_have_their_pdf():
    ro = ro_in_state(ROStatus.WAITING_APPROVAL)
    line = ro.lines.get(approval=JobLine.Approval.PROPOSED)
    s.ro_answer_approval(
        repair_order_id=ro.pk,
        actor=ro.advisor,
        channel="phone",
        answers=[{"job_id": line.pk, "decision": "approved"}],
        customer_name="王先生",
        estimate_version=ro.estimate_version,
    )
    answer = ro.approvals.get(kind=Approval.Kind.ADDITIONAL)
    text = _text(
        _pdf(
            documents.document_get_or_make(
                repair_order_id=ro.pk, kind="additional", approval_id=answer.pk
            )
        )
    )
    assert "Replace brake fluid" in text
    assert f"{answer.estimate_version}" in text
    assert "王先生" in text
    # no settlement before delivery
    with pytest.raises(Exception, match="No such document"):
        documents.document_get_or_make(repair_order_id=ro.pk, kind="settlement")


def test_the_settlement_pdf_has_lines_tax_payment_and_invoice_number():
    ro = ro_in_state(ROStatus.DELIVERED)
    assert ro.invoice_number == "INV-" + ro.number.removeprefix("RO-")
    doc = documents.document_get_or_make(repair_order_id=ro.pk, kind="settlement")
    text = _text(_pdf(doc))
    assert ro.invoice_number in text
    assert "Replace front brake pads" in text
    assert str(ro.grand_total) in text
    assert str(ro.tax_total) in text
    assert "微信支付" in text or "WeChat Pay" in text


def test_another_sites_staff_cannot_download_a_document(client):
    ro = ro_in_state(ROStatus.AUTHORIZED)
    auth = ro.approvals.get()
    from dms.tests.factories import SiteFactory

    stranger = make_staff(role=Role.ADVISOR, site=SiteFactory())
    client.force_login(stranger)
    assert client.get(f"/ro/{ro.pk}/documents/work_order/{auth.pk}/").status_code == 404


def test_the_printed_ro_shows_the_signed_version_not_lines_added_later(client):
    ro = ro_in_state(ROStatus.WAITING_APPROVAL)
    client.force_login(ro.advisor)
    html = client.get(f"/ro/{ro.pk}/print/").content.decode()
    signed = html.split('class="signed-lines"', 1)[1].split("</table>", 1)[0]
    assert "Replace front brake pads" in signed
    assert "Replace brake fluid" not in signed  # proposed after the signature
    assert "estimate version 1" in html


def test_a_consent_to_a_higher_total_is_not_a_signed_document(client):
    """The documents are the authorisation and the answers on additional work, in the order
    they were answered; a recorded consent to a total above the limit is an approval but no
    document: neither on the RO page (approvals loaded with the RO) nor read on its own."""
    from workorders.selectors import repair_order_get

    ro = ro_in_state(ROStatus.IN_PROGRESS)
    auth = ro.approvals.get(kind=Approval.Kind.AUTHORIZATION)
    consent = s.ro_approve_total(
        repair_order_id=ro.pk, actor=ro.advisor, amount="9999.00", channel="phone"
    )
    assert consent.kind == Approval.Kind.OVER_LIMIT
    expected = [("work_order", auth.pk)]
    fresh = ro.__class__.objects.get(pk=ro.pk)
    assert [(d.kind, d.approval_id) for d in documents.documents_of(fresh)] == expected
    loaded = repair_order_get(user=ro.advisor, pk=ro.pk)
    assert [(d.kind, d.approval_id) for d in documents.documents_of(loaded)] == expected
    client.force_login(ro.advisor)
    html = client.get(f"/ro/{ro.pk}/").content.decode()
    assert f"/documents/work_order/{auth.pk}/" in html
    # no document link of any kind names the consent (a bare "/<pk>/" could be any link's id)
    assert not re.search(rf"/documents/[a-z_]+/{consent.pk}/", html)
