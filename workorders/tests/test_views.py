"""The advisor's pages and the customer's private approval page."""

import base64
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from customers.tests.factories import VehicleFactory
from dms.models import Role
from dms.tests.factories import make_staff
from workorders.models import ApprovalLink, JobLine, RepairOrder
from workorders.models import ROStatus as S
from workorders.tests.factories import PNG_1PX, ro_in_state

pytestmark = pytest.mark.django_db


def _as(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_list_detail_and_scoping():
    ro = ro_in_state(S.DRAFT)
    adv = _as(ro.advisor)
    r = adv.get(reverse("workorders:list"))
    assert r.status_code == 200
    assert ro.number in r.content.decode()
    r = adv.get(reverse("workorders:detail", args=[ro.pk]))
    page = r.content.decode()
    assert "Customer authorization (sign)" in page  # the next action
    assert 'aria-current="step"' in page  # the timeline
    other = ro_in_state(S.DRAFT)
    assert adv.get(reverse("workorders:detail", args=[other.pk])).status_code == 404
    assert Client().get(reverse("workorders:list")).status_code == 302  # login first


def test_search_finds_a_delivered_ro_and_shows_its_state():
    # given a delivered RO (not in the default "open" tab)
    ro = ro_in_state(S.DELIVERED)
    adv = _as(ro.advisor)
    # when the advisor searches its number, in full width as a Chinese keyboard may type it
    r = adv.get(reverse("workorders:list"), {"q": ro.number.replace("RO", "ＲＯ")})
    # then it is found, with its state
    page = r.content.decode()
    assert f">{ro.number}</a>" in page
    assert ">Delivered</span>" in page
    # an explicitly chosen tab still narrows the search
    r = adv.get(reverse("workorders:list"), {"q": ro.number, "tab": "open"})
    assert f">{ro.number}</a>" not in r.content.decode()


def test_technician_cannot_open_advisor_pages():
    ro = ro_in_state(S.DRAFT)
    tech = _as(make_staff(role=Role.TECHNICIAN, site=ro.site))
    assert tech.get(reverse("workorders:intake", args=[ro.pk])).status_code == 403
    r = tech.post(reverse("workorders:action", args=[ro.pk, "cancel"]), {"reason": "x"})
    assert r.status_code == 302
    ro.refresh_from_db()
    assert ro.status == S.DRAFT


def test_walk_in_open_then_intake_with_vin_warning():
    vehicle = VehicleFactory()
    advisor = make_staff(role=Role.ADVISOR, site=vehicle.site)
    c = _as(advisor)
    r = c.get(reverse("workorders:open"), {"q": vehicle.plate})
    assert vehicle.vin in r.content.decode()
    r = c.post(reverse("workorders:open"), {"vehicle": vehicle.pk, "concern": "Noise"})
    ro = RepairOrder.objects.get(vehicle=vehicle)
    assert r.url == reverse("workorders:intake", args=[ro.pk])
    wrong = vehicle.vin[:-1] + ("1" if vehicle.vin[-1] != "1" else "2")
    data = {"covers_fitted": "on", "vin_read": wrong, "odometer_km": vehicle.mileage_km + 10}
    r = c.post(reverse("workorders:intake", args=[ro.pk]), data)
    assert r.status_code == 200
    assert "differs from the archive" in r.content.decode()
    r = c.post(
        reverse("workorders:intake", args=[ro.pk]), {**data, "vin_mismatch_acknowledged": "on"}
    )
    assert r.status_code == 302
    assert ro.intake.__class__.objects.get(repair_order=ro).vin_mismatch


def test_estimate_editor_and_signature_authorization():
    ro = ro_in_state(S.DRAFT)
    c = _as(ro.advisor)
    r = c.post(
        reverse("workorders:estimate", args=[ro.pk]),
        {
            "op": "add-line",
            "description": "Wheel alignment",
            "standard_hours": "1",
            "part_name": "Valve",
            "part_quantity": "4",
            "part_price": "5",
            "part_stock": "in_stock",
        },
    )
    assert r.status_code == 302
    assert ro.lines.filter(description="Wheel alignment").exists()
    r = c.post(
        reverse("workorders:estimate", args=[ro.pk]),
        {"op": "add-line", "description": "", "standard_hours": "-2"},
    )
    assert r.status_code == 200
    assert ro.lines.count() == 2
    promised = (timezone.localtime() + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M")
    r = c.post(
        reverse("workorders:authorize", args=[ro.pk]),
        {
            "channel": "signature",
            "customer_name": "王先生",
            "promised_at": promised,
            "signature": "data:image/png;base64," + base64.b64encode(PNG_1PX).decode(),
        },
    )
    assert r.status_code == 302
    ro.refresh_from_db()
    assert ro.status == S.AUTHORIZED
    sig = ro.approvals.get()
    r = c.get(reverse("workorders:signature", args=[sig.pk]))
    assert b"".join(r.streaming_content).startswith(b"\x89PNG")
    page = c.get(reverse("workorders:print", args=[ro.pk])).content.decode()
    assert "王先生" in page
    assert ro.advisor.get_full_name() in page
    assert "Wheel alignment" in page


def test_private_link_page_without_login():
    ro = ro_in_state(S.WAITING_APPROVAL)
    _as(ro.advisor).post(reverse("workorders:action", args=[ro.pk, "request-approval"]))
    link = ro.approval_links.get()
    proposed = ro.lines.get(approval=JobLine.Approval.PROPOSED)
    anon = Client()
    url = reverse("workorders:approval_link", args=[link.token])
    page = anon.get(url).content.decode()
    assert proposed.description in page
    assert f"{proposed.amount:.2f}" in page
    r = anon.post(url, {f"decision_{proposed.pk}": "declined", f"reason_{proposed.pk}": "Later"})
    assert r.status_code == 302
    proposed.refresh_from_db()
    assert proposed.approval == JobLine.Approval.DECLINED
    assert "your answer has been recorded" in anon.get(url).content.decode()
    assert anon.get(url[:-3] + "zz/").status_code == 404


def test_expired_link_page_says_so():
    ro = ro_in_state(S.WAITING_APPROVAL)
    _as(ro.advisor).post(reverse("workorders:action", args=[ro.pk, "request-approval"]))
    link = ro.approval_links.get()
    ApprovalLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    page = Client().get(reverse("workorders:approval_link", args=[link.token])).content.decode()
    assert "expired" in page


def test_delivery_screen_explains_settlement_and_delivers():
    ro = ro_in_state(S.READY)
    c = _as(ro.advisor)
    r = c.post(reverse("workorders:action", args=[ro.pk, "invoice"]))
    assert r.url == reverse("workorders:deliver", args=[ro.pk])
    page = c.get(r.url).content.decode()
    assert "Labour: 1.5 h" in page
    assert "Brake pad set" in page
    ro.refresh_from_db()
    assert str(ro.grand_total) in page
    assert str(ro.odometer_km + ro.vehicle.service_interval_km) in page  # pre-filled km
    due = (timezone.localdate() + timedelta(days=180)).isoformat()
    data = {
        "payment_method": "card",
        "next_service_due_date": due,
        "next_service_due_km": "40000",
        **dict.fromkeys(
            [
                "work_explained",
                "bill_explained",
                "old_parts_offered",
                "usage_advice",
                "next_service_told",
                "covers_removed",
            ],
            "on",
        ),
    }
    r = c.post(reverse("workorders:deliver", args=[ro.pk]), {**data, "usage_advice": ""})
    assert r.status_code == 200
    assert "Usage advice given" in r.content.decode()
    r = c.post(reverse("workorders:deliver", args=[ro.pk]), data)
    assert r.status_code == 302
    ro.refresh_from_db()
    assert ro.status == S.DELIVERED
    assert ro.next_service_due_km == 40000


def test_approvals_pending_and_ready_lists():
    waiting = ro_in_state(S.WAITING_APPROVAL)
    ready = ro_in_state(S.READY, vehicle=VehicleFactory(owner__site=waiting.site))
    c = _as(waiting.advisor)
    assert waiting.number in c.get(reverse("workorders:approvals")).content.decode()
    assert ready.number in c.get(reverse("workorders:ready")).content.decode()


def test_declined_work_comes_back_on_the_next_ro():
    from workorders import services

    ro = ro_in_state(S.WAITING_APPROVAL)
    proposed = ro.lines.get(approval=JobLine.Approval.PROPOSED)
    services.ro_answer_approval(
        repair_order_id=ro.pk,
        actor=ro.advisor,
        channel="phone",
        answers=[{"job_id": proposed.pk, "decision": "declined", "reason": "Next time"}],
    )
    services.ro_cancel(repair_order_id=ro.pk, actor=ro.advisor, reason="Customer left early")
    again = services.repair_order_open(
        site=ro.site,
        customer=ro.customer,
        vehicle=ro.vehicle,
        advisor=ro.advisor,
        actor=ro.advisor,
    )
    page = _as(ro.advisor).get(reverse("workorders:detail", args=[again.pk])).content.decode()
    assert "Work declined on earlier visits" in page
    assert "Replace brake fluid" in page
    assert "Next time" in page


def test_global_search_finds_customers_vehicles_and_ros_in_every_state():
    # given a delivered RO
    ro = ro_in_state(S.DELIVERED)
    adv = _as(ro.advisor)
    # when its plate is searched from the top bar
    r = adv.get("/search/", {"q": ro.vehicle.plate})
    page = r.content.decode()
    # then the customer, the car and the RO with its state are listed
    assert ro.customer.name in page
    assert f">{ro.number}</a>" in page
    assert ">Delivered</span>" in page
    # an exact RO number goes straight to the RO
    r = adv.get("/search/", {"q": ro.number.lower()})
    assert r.status_code == 302
    assert r["Location"] == reverse("workorders:detail", args=[ro.pk])
    # the box is in the top bar of every staff page
    assert 'id="top-q"' in adv.get(reverse("workorders:list")).content.decode()


def test_the_next_step_of_a_new_ro_follows_the_flow():
    # given a new walk-in RO with nothing recorded yet
    vehicle = VehicleFactory()
    advisor = make_staff(role=Role.ADVISOR, site=vehicle.owner.site)
    from workorders import services

    ro = services.repair_order_open(
        site=vehicle.site,
        customer=vehicle.owner,
        vehicle=vehicle,
        advisor=advisor,
        actor=advisor,
    )
    adv = _as(advisor)
    # then the next step is the walk-around, and the signature pad is not offered
    page = adv.get(reverse("workorders:detail", args=[ro.pk])).content.decode()
    assert "Walk-around (intake)" in page
    assert "Customer authorization (sign)" not in page
    page = adv.get(reverse("workorders:authorize", args=[ro.pk])).content.decode()
    assert 'id="not-ready-to-sign"' in page
    assert 'id="pad"' not in page


def test_the_settlement_printout_has_the_invoice_number_and_payment_method():
    # given a delivered RO
    ro = ro_in_state(S.DELIVERED)
    adv = _as(ro.advisor)
    # when its settlement is printed
    page = adv.get(reverse("workorders:settlement_print", args=[ro.pk])).content.decode()
    # then it is a settlement, with the invoice number and how the customer paid
    assert "<h1>Settlement</h1>" in page
    assert ro.invoice_number
    assert f'<strong id="invoice-number">{ro.invoice_number}</strong>' in page
    assert f'<td id="payment-method">{ro.get_payment_method_display()}</td>' in page
    # and the delivery page's "Print settlement" prints it (not the RO)
    deliver = adv.get(reverse("workorders:deliver", args=[ro.pk])).content.decode()
    assert reverse("workorders:settlement_print", args=[ro.pk]) in deliver


def test_the_printed_ro_title_is_not_doubled_in_chinese():
    ro = ro_in_state(S.DRAFT)
    adv = _as(ro.advisor)
    adv.cookies["django_language"] = "zh-hans"
    page = adv.get(reverse("workorders:print", args=[ro.pk])).content.decode()
    assert page.count("维修委托书 维修委托书") == 0
    assert "<h1>维修委托书</h1>" in page


def test_an_action_says_what_happened_to_which_ro():
    # given a draft RO
    ro = ro_in_state(S.DRAFT)
    adv = _as(ro.advisor)
    # when the advisor cancels it
    r = adv.post(
        reverse("workorders:action", args=[ro.pk, "cancel"]),
        {"reason": "Customer left"},
        follow=True,
    )
    # then the message names the RO, the car, what was done and its state now
    page = r.content.decode()
    assert f"{ro.number} ({ro.vehicle.plate}): Cancelled. Now: Cancelled." in page
    assert "Done." not in page
