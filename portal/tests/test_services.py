"""The customer pages' services: links, one-time codes with their limits, the online booking
through the front desk's rules, and the customer's answers audited with their link."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from appointments.models import Appointment, AppointmentStatus
from customers.models import Customer, Vehicle
from customers.tests.factories import make_vin
from dms.exceptions import ApplicationError, ConflictError, NotFoundError
from dms.models import AuditEntry
from portal import services
from portal.models import CustomerLink, OneTimeCode
from portal.selectors import STATUS_TAG_FIELDS
from workorders.tests.factories import RepairOrderFactory

from .conftest import local, next_open_day

pytestmark = pytest.mark.django_db


def _ask(shop, *, phone="13800138000", plate="沪A12345", start=None, address="10.0.0.1"):
    site = shop["site"]
    start = start or local(site, next_open_day(site), 9, 0)
    return services.code_request(
        site=site,
        phone=phone,
        plate=plate,
        pending={"services": ["oil"], "start": start.isoformat()},
        address=address,
    )


# --- links -----------------------------------------------------------------------------------
def test_a_link_is_stored_only_as_a_hash_and_resolves_while_valid(shop):
    link, token = services.link_create(
        site=shop["site"], purpose="status", expires_at=timezone.now() + timedelta(days=1)
    )
    assert token not in {link.token_hash, link.nonce}
    assert not CustomerLink.objects.filter(token_hash=token).exists()
    assert services.link_resolve(token=token, purpose="status") == link


@pytest.mark.parametrize("case", ["wrong", "expired", "revoked", "other_purpose", "short"])
def test_wrong_expired_revoked_and_never_made_links_get_the_same_answer(shop, case):
    link, token = services.link_create(
        site=shop["site"], purpose="status", expires_at=timezone.now() + timedelta(days=1)
    )
    purpose = "status"
    if case == "wrong":
        token = token[:-1] + ("0" if token[-1] != "0" else "1")
    elif case == "expired":
        CustomerLink.objects.filter(pk=link.pk).update(expires_at=timezone.now())
    elif case == "revoked":
        CustomerLink.objects.filter(pk=link.pk).update(revoked_at=timezone.now())
    elif case == "other_purpose":
        purpose = "survey"
    else:
        token = "abc"
    with pytest.raises(NotFoundError) as exc:
        services.link_resolve(token=token, purpose=purpose)
    assert exc.value.message == "This link is not valid."
    # the poll's read of a few values answers the same
    with pytest.raises(NotFoundError) as exc:
        services.link_values(token=token, purpose=purpose, fields=STATUS_TAG_FIELDS)
    assert exc.value.message == "This link is not valid."


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "through-the-queryset"])
def test_the_polls_link_values_are_the_querysets_in_one_query(shop, compiled):
    site = shop["site"]
    ro = RepairOrderFactory(site=site, customer=shop["customer"], vehicle=shop["vehicle"])
    link, token = services.link_create(
        site=site,
        purpose="status",
        expires_at=timezone.now() + timedelta(days=1),
        repair_order=ro,
    )
    # another purpose's link of the same RO is not the status link's row
    services.link_create(site=site, purpose="survey", expires_at=link.expires_at, repair_order=ro)
    read = services._link_values_read("status", STATUS_TAG_FIELDS)
    assert read.compiled("default") == (connection.vendor == "postgresql")
    if not compiled:
        read._compiled["default"] = None  # as where the statement cannot be compiled
    try:
        with CaptureQueriesContext(connection) as ctx:
            values = services.link_values(token=token, purpose="status", fields=STATUS_TAG_FIELDS)
    finally:
        read._compiled.clear()
    assert len(ctx.captured_queries) == 1
    expected = (
        CustomerLink.objects.filter(pk=link.pk)
        .values("token_hash", "revoked_at", "expires_at", *STATUS_TAG_FIELDS)
        .get()
    )
    assert values == expected
    assert (values["repair_order_id"], values["repair_order__status"]) == (ro.pk, ro.status)
    assert values["repair_order__updated_at"] == ro.updated_at


# --- codes -----------------------------------------------------------------------------------
def test_a_code_holds_no_slot_and_is_stored_hashed(shop):
    row, code = _ask(shop)
    assert len(code) == 6
    assert code.isdigit()
    assert code not in row.code_hash
    assert not Appointment.objects.exists()  # nothing held before the code is confirmed
    with pytest.raises(ConflictError):
        services.booking_complete(site=shop["site"], request_key=row.request_key)
    assert not Appointment.objects.exists()


def test_codes_are_limited_per_mobile_number(shop):
    for i in range(3):
        _ask(shop, address=f"10.0.1.{i}")
    with pytest.raises(ApplicationError) as exc:
        _ask(shop, address="10.0.1.9")
    assert exc.value.status_code == 429
    assert OneTimeCode.objects.count() == 3
    _ask(shop, phone="13900139000", address="10.0.1.9")  # another number is not held back


def test_codes_are_limited_per_address(shop):
    for i in range(10):
        _ask(shop, phone=f"1390013{i:04d}", address="10.9.9.9")
    with pytest.raises(ApplicationError) as exc:
        _ask(shop, phone="13700137000", address="10.9.9.9")
    assert exc.value.status_code == 429


def test_a_buffer_slot_or_a_past_time_is_refused_before_a_code_is_sent(shop):
    site = shop["site"]
    day = next_open_day(site)
    for start in (local(site, day, 9, 45), timezone.now() - timedelta(hours=1)):
        with pytest.raises(ApplicationError) as exc:
            _ask(shop, start=start)
        assert "start" in exc.value.fields
    assert not OneTimeCode.objects.exists()


def test_wrong_codes_count_and_lock_the_code_after_five_tries(shop):
    row, code = _ask(shop)
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        with pytest.raises(ApplicationError) as exc:
            services.code_confirm(site=shop["site"], request_key=row.request_key, code=wrong)
        assert exc.value.extra["left"] == left
    with pytest.raises(ApplicationError):
        services.code_confirm(site=shop["site"], request_key=row.request_key, code=wrong)
    # the right code no longer helps
    with pytest.raises(ApplicationError) as exc:
        services.code_confirm(site=shop["site"], request_key=row.request_key, code=code)
    assert exc.value.extra["left"] == 0
    assert AuditEntry.objects.filter(action="code_wrong").count() == 5


def test_an_expired_code_is_refused(shop):
    row, code = _ask(shop)
    OneTimeCode.objects.filter(pk=row.pk).update(expires_at=timezone.now())
    with pytest.raises(ApplicationError):
        services.code_confirm(site=shop["site"], request_key=row.request_key, code=code)


# --- booking ---------------------------------------------------------------------------------
def test_a_known_car_is_booked_online_with_an_advisor_after_the_code(shop):
    row, code = _ask(shop, phone="138 0013 8000")
    services.code_confirm(site=shop["site"], request_key=row.request_key, code=code)
    assert services.vehicle_known(site=shop["site"], row=OneTimeCode.objects.get(pk=row.pk))
    appointment, token = services.booking_complete(site=shop["site"], request_key=row.request_key)
    assert appointment.vehicle == shop["vehicle"]
    assert appointment.customer == shop["customer"]
    assert appointment.channel == Appointment.BookingChannel.ONLINE
    assert appointment.source == Appointment.Source.CUSTOMER
    assert appointment.advisor in shop["advisors"]
    assert not appointment.to_confirm
    assert [s["code"] for s in appointment.services] == ["oil"]
    assert appointment.part_reservations.get().name == "Oil filter"  # the desk's parts list
    link = services.link_resolve(token=token, purpose="booking")
    assert link.appointment == appointment
    entry = AuditEntry.objects.get(action="booked_online")
    assert entry.data["link"] == link.pk
    assert entry.data["code"] == row.pk
    # the code is used: a second booking with it is refused
    with pytest.raises(ConflictError):
        services.booking_complete(site=shop["site"], request_key=row.request_key)
    assert Appointment.objects.count() == 1


def test_an_unknown_car_becomes_a_new_customer_and_vehicle_to_confirm(shop):
    row, code = _ask(shop, phone="13911112222", plate="沪B54321")
    services.code_confirm(site=shop["site"], request_key=row.request_key, code=code)
    with pytest.raises(ApplicationError) as exc:
        services.booking_complete(site=shop["site"], request_key=row.request_key)
    assert set(exc.value.fields) == {"name", "vin"}
    appointment, _token = services.booking_complete(
        site=shop["site"], request_key=row.request_key, name="刘洋", vin=make_vin(777)
    )
    assert appointment.to_confirm
    customer = Customer.objects.get(phone="+8613911112222")
    assert customer.name == "刘洋"
    assert appointment.customer == customer
    assert Vehicle.objects.get(plate="沪B54321").owner == customer


def test_a_known_plate_from_another_number_is_flagged_for_check_in(shop):
    row, code = _ask(shop, phone="13933334444")
    services.code_confirm(site=shop["site"], request_key=row.request_key, code=code)
    appointment, _token = services.booking_complete(site=shop["site"], request_key=row.request_key)
    assert appointment.vehicle == shop["vehicle"]
    assert appointment.to_confirm
    assert "+8613933334444" in appointment.notes


def test_a_full_day_is_refused_online_with_no_override(shop):
    site = shop["site"]
    site.technicians_on_duty = 1
    site.technician_hours_per_day = 1
    site.bookable_share = 1
    site.save()
    first, code = _ask(shop)
    services.code_confirm(site=site, request_key=first.request_key, code=code)
    services.booking_complete(site=site, request_key=first.request_key)
    day = next_open_day(site)
    second, code = _ask(shop, phone="13955556666", plate="沪D22222", start=local(site, day, 10, 0))
    services.code_confirm(site=site, request_key=second.request_key, code=code)
    with pytest.raises(ConflictError) as exc:
        services.booking_complete(
            site=site, request_key=second.request_key, name="赵六", vin=make_vin(778)
        )
    assert exc.value.extra["code"] == "capacity"
    assert Appointment.objects.count() == 1
    assert not Customer.objects.filter(name="赵六").exists()  # nothing half-saved


def test_the_customer_moves_and_cancels_from_the_link_and_each_is_audited(shop):
    site = shop["site"]
    row, code = _ask(shop)
    services.code_confirm(site=site, request_key=row.request_key, code=code)
    appointment, token = services.booking_complete(site=site, request_key=row.request_key)
    link = services.link_resolve(token=token, purpose="booking")
    new_start = local(site, next_open_day(site, after_days=2), 11, 0)
    moved = services.booking_reschedule(link=link, start=new_start)
    assert moved.start == new_start
    assert moved.reschedule_count == 1
    link.refresh_from_db()
    assert link.expires_at == new_start + timedelta(days=1)  # the link follows the booking
    with pytest.raises(ApplicationError):  # a buffer slot stays out of reach
        services.booking_reschedule(link=link, start=local(site, new_start.date(), 11, 45))
    services.booking_cancel(link=link, reason="")
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED
    actions = list(
        AuditEntry.objects.filter(object_id=appointment.pk, data__link=link.pk).values_list(
            "action", flat=True
        )
    )
    assert sorted(actions) == ["booked_online", "cancelled_online", "rescheduled_online"]


def test_old_codes_are_purged_and_recent_ones_kept(shop):
    from portal.tasks import purge_codes

    old, _code = _ask(shop)
    recent, _code = _ask(shop, phone="13900000001")
    OneTimeCode.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    assert purge_codes() == 1
    assert list(OneTimeCode.objects.values_list("pk", flat=True)) == [recent.pk]
    assert purge_codes() == 0  # a second run is a no-op
