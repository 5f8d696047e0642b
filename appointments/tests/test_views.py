from datetime import datetime, time, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from appointments import services
from appointments.models import AppointmentStatus, ServiceOffering
from customers.tests.factories import CustomerFactory, VehicleFactory
from dms.models import OpeningHours
from dms.tests.factories import SiteFactory, make_staff

from .conftest import TZ

pytestmark = pytest.mark.django_db


def _open_day(offset: int):
    day = timezone.localdate(timezone.now(), TZ) + timedelta(days=offset)
    while day.weekday() == 6:
        day += timedelta(days=1)
    return day


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def desk(advisor):
    return _client(advisor)


@pytest.fixture
def tomorrow_booking(book, advisor):
    day = _open_day(1)
    return book(datetime.combine(day, time(10, 0), tzinfo=TZ), now=timezone.now())


def test_front_desk_shows_two_days_by_advisor_with_buffers(desk, tomorrow_booking):
    day = tomorrow_booking.day
    r = desk.get("/appointments/", {"date": str(day - timedelta(days=1))})
    assert r.status_code == 200
    html = r.content.decode()
    assert "李娜" in html
    assert "沪A12345" in html
    assert "walk-ins" in html  # free buffer slots are visible
    assert html.count('class="dayboard"') == 2
    # the tablet layout: the lookup and the booking panel come before the day boards
    assert html.index('id="lookup-q"') < html.index('id="panel"') < html.index('class="dayboard"')


def test_front_desk_needs_the_advisor_role(make_user):
    r = _client(make_user("technician")).get("/appointments/")
    assert r.status_code == 403
    assert Client().get("/appointments/").status_code == 302  # to the login


def test_lookup_then_book_from_the_panel(desk, vehicle, advisor, site):
    ServiceOffering.objects.create(site=site, code="oil", name="常规保养", standard_hours="1.0")
    r = desk.get("/appointments/lookup/", {"q": "王建国"}, HTTP_HX_REQUEST="true")
    assert "沪A12345" in r.content.decode()
    day = _open_day(2)
    panel = desk.get("/appointments/book/", {"vehicle": vehicle.pk, "date": str(day)})
    assert 'name="slot"' in panel.content.decode()
    start = datetime.combine(day, time(9, 15), tzinfo=TZ)
    r = desk.post(
        "/appointments/book/",
        {
            "vehicle": vehicle.pk,
            "slot": f"{start.isoformat()}|{advisor.pk}",
            "services": ["oil"],
            "source": "customer",
            "channel": "front_desk",
        },
        HTTP_HX_REQUEST="true",
    )
    html = r.content.decode()
    assert "沪A12345 booked" in html
    assert "Your service advisor 李娜 will receive you" in html
    assert r["HX-Trigger"] == "appointments-changed"
    # the same slot again: the panel says why, nothing is booked
    r = desk.post(
        "/appointments/book/",
        {
            "vehicle": vehicle.pk,
            "slot": f"{start.isoformat()}|{advisor.pk}",
            "source": "customer",
            "channel": "front_desk",
        },
        HTTP_HX_REQUEST="true",
    )
    assert "already has an appointment" in r.content.decode()
    # a refused booking keeps the slot the advisor chose
    later = start + timedelta(minutes=15)
    r = desk.post(
        "/appointments/book/",
        {
            "vehicle": vehicle.pk,
            "slot": f"{later.isoformat()}|{advisor.pk}",
            "estimated_hours": "99",
            "source": "customer",
            "channel": "front_desk",
        },
        HTTP_HX_REQUEST="true",
    )
    html = r.content.decode()
    assert "Please correct the highlighted fields." in html
    assert f'value="{later.isoformat()}|{advisor.pk}" required checked' in html


def test_buffer_booking_without_reason_is_explained(desk, vehicle, advisor):
    day = _open_day(2)
    start = datetime.combine(day, time(9, 45), tzinfo=TZ)
    r = desk.post(
        "/appointments/book/",
        {
            "vehicle": vehicle.pk,
            "slot": f"{start.isoformat()}|{advisor.pk}",
            "source": "customer",
            "channel": "front_desk",
        },
        HTTP_HX_REQUEST="true",
    )
    assert "buffer slot kept for walk-ins" in r.content.decode()
    assert "Say why this buffer slot is used." in r.content.decode()


def test_confirm_and_cancel_from_the_board(desk, tomorrow_booking):
    pk = tomorrow_booking.pk
    r = desk.post(f"/appointments/{pk}/confirm/", HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    assert "confirmed" in r.content.decode()
    r = desk.post(f"/appointments/{pk}/cancel/", {"reason": ""}, HTTP_HX_REQUEST="true")
    assert r.status_code == 400
    r = desk.post(f"/appointments/{pk}/cancel/", {"reason": "改期"})
    assert r.status_code == 302
    tomorrow_booking.refresh_from_db()
    assert tomorrow_booking.status == AppointmentStatus.CANCELLED


def test_detail_shows_confirmation_and_history(desk, tomorrow_booking):
    r = desk.get(f"/appointments/{tomorrow_booking.pk}/")
    html = r.content.decode()
    assert "will receive you" in html
    assert "Booked" in html  # the history's first entry
    assert "Reminder calls" in html


def test_other_sites_appointment_is_404(tomorrow_booking):
    stranger = make_staff(role="advisor", site=SiteFactory())
    assert _client(stranger).get(f"/appointments/{tomorrow_booking.pk}/").status_code == 404
    r = _client(stranger).post(f"/appointments/{tomorrow_booking.pk}/confirm/")
    assert r.status_code == 404


def test_welcome_board_respects_privacy(site, advisor, desk):
    today = timezone.localdate(timezone.now(), TZ)
    # the test site is closed on Sundays: open it today whatever the day
    OpeningHours.objects.get_or_create(
        site=site, weekday=today.weekday(), defaults={"opens": time(8, 30), "closes": time(17, 30)}
    )
    midnight = datetime.combine(today, time(0, 0), tzinfo=TZ)
    people = [
        ("王建国", "mr", "surname", "沪A00001"),
        ("李秀英", "ms", "full", "沪A00002"),
        ("张伟", "mr", "plate", "沪A00003"),
    ]
    for i, (name, title, display, plate) in enumerate(people):
        customer = CustomerFactory(site=site, name=name, title=title, board_display=display)
        vehicle = VehicleFactory(owner=customer, plate=plate)
        services.appointment_book(
            site=site,
            customer=customer,
            vehicle=vehicle,
            start=datetime.combine(today, time(9 + i, 0), tzinfo=TZ),
            actor=advisor,
            estimated_hours="1",
            now=midnight,
        )
    html = desk.get("/appointments/board/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Mr Wang" in html
    assert "王建国" not in html  # surname only
    assert "李秀英" in html  # full name by choice
    assert "张伟" not in html  # plate only
    assert "Mr Zhang" not in html
    assert "沪A00003" in html


def test_pick_list_and_reservation(site, make_user, book):
    ServiceOffering.objects.create(
        site=site,
        code="oil",
        name="保养",
        parts=[{"part_number": "06L115562B", "name": "机油滤清器", "quantity": 2}],
    )
    day = _open_day(1)
    appointment = book(
        datetime.combine(day, time(11, 0), tzinfo=TZ), services=["oil"], now=timezone.now()
    )
    clerk = _client(make_user("parts_clerk"))
    html = clerk.get("/appointments/parts/", {"date": str(day)}).content.decode()
    assert "06L115562B" in html
    assert "机油滤清器" in html
    row = appointment.part_reservations.get()
    r = clerk.post(
        f"/appointments/parts/{row.pk}/reserve/", {"reserved": "1"}, HTTP_HX_REQUEST="true"
    )
    assert "reserved" in r.content.decode()
    row.refresh_from_db()
    assert row.reserved_at is not None
    # an advisor cannot reserve parts
    advisor_client = _client(make_user("advisor"))
    assert advisor_client.post(f"/appointments/parts/{row.pk}/reserve/").status_code == 403


def test_week_load_page(desk, tomorrow_booking):
    r = desk.get("/appointments/week/")
    assert r.status_code == 200
    assert "38.4" in r.content.decode()


def test_a_far_off_or_malformed_date_falls_back_to_today(desk, advisor):
    for value in ("9999-12-31", "soon"):
        assert desk.get("/appointments/", {"date": value}).status_code == 200
        assert desk.get("/appointments/day/", {"date": value}).status_code == 200


def test_one_form_for_a_new_customer_and_car_prefilled_from_the_lookup(desk, site):
    # given a plate typed on a Chinese keyboard that finds nobody
    r = desk.get("/appointments/lookup/", {"q": "沪Ｑ５０３２Ｅ"}, HTTP_HX_REQUEST="true")
    assert "New customer and car" in r.content.decode()
    # when the advisor opens the one form from there
    r = desk.get("/appointments/new-customer/", {"q": "沪Ｑ５０３２Ｅ"}, HTTP_HX_REQUEST="true")
    html = r.content.decode()
    # then the plate is filled in, and name, phone and VIN are marked required
    assert 'name="plate" value="沪Q5032E"' in html
    assert html.count('class="req"') == 3
    for field in ("name", "phone", "vin"):
        assert f'name="{field}"' in html
    # a missing phone is refused next to the phone field, and nothing is saved
    from customers.models import Customer, Vehicle
    from customers.tests.factories import make_vin

    data = {"name": "赵敏", "phone": "", "plate": "沪Q5032E", "vin": make_vin(5032)}
    r = desk.post("/appointments/new-customer/", data, HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    assert "field-error" in r.content.decode()
    assert not Customer.objects.filter(name="赵敏").exists()
    # with the phone both are saved and the booking panel opens for the new car
    data["phone"] = "13912345032"
    r = desk.post("/appointments/new-customer/", data, HTTP_HX_REQUEST="true")
    html = r.content.decode()
    customer = Customer.objects.get(site=site, name="赵敏")
    vehicle = Vehicle.objects.get(owner=customer)
    assert vehicle.plate == "沪Q5032E"
    assert "Customer 赵敏 and car 沪Q5032E added" in html
    assert 'id="booking"' in html
    assert f'name="vehicle" value="{vehicle.pk}"' in html


def test_a_second_visit_the_same_day_needs_the_checkbox(desk, vehicle, advisor, advisor2):
    from appointments.models import Appointment

    day = _open_day(2)
    first = datetime.combine(day, time(9, 15), tzinfo=TZ)
    services.appointment_book(
        site=vehicle.site, customer=vehicle.owner, vehicle=vehicle, start=first, actor=advisor
    )
    later = datetime.combine(day, time(14, 0), tzinfo=TZ)
    form = {
        "vehicle": vehicle.pk,
        "slot": f"{later.isoformat()}|{advisor2.pk}",
        "source": "customer",
        "channel": "front_desk",
    }
    # without the tick the panel says the car is already booked that day
    r = desk.post("/appointments/book/", form, HTTP_HX_REQUEST="true")
    assert "already has an appointment that day at" in r.content.decode()
    assert Appointment.objects.filter(vehicle=vehicle).count() == 1
    # with it the second visit is booked
    r = desk.post("/appointments/book/", {**form, "allow_same_day": "on"}, HTTP_HX_REQUEST="true")
    assert "booked" in r.content.decode()
    assert Appointment.objects.filter(vehicle=vehicle).count() == 2
