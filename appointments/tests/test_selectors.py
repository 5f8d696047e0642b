from datetime import date, time
from decimal import Decimal

import pytest

from appointments import selectors
from customers.models import Customer
from customers.tests.factories import CustomerFactory, VehicleFactory
from dms.models import ClosedDate, OpeningHours

from .conftest import NOW, TZ, at

pytestmark = pytest.mark.django_db
TUESDAY = date(2026, 11, 24)


def test_slot_pattern_keeps_the_fourth_quarter_hour_as_buffer(site):
    # given the default pattern (15 min, 4 per cycle, 1 buffer) and 08:30–17:30
    grid = selectors.slot_grid(site, TUESDAY)
    # then the first slots are 08:30, 08:45 (buffer), 09:00, 09:15, 09:30, 09:45 (buffer), 10:00
    times = [(s.start.strftime("%H:%M"), s.is_buffer) for s in grid[:7]]
    assert times == [
        ("08:30", False),
        ("08:45", True),
        ("09:00", False),
        ("09:15", False),
        ("09:30", False),
        ("09:45", True),
        ("10:00", False),
    ]
    # the last reception ends at closing time
    assert grid[-1].start.strftime("%H:%M") == "17:15"
    assert grid[-1].end.strftime("%H:%M") == "17:30"
    assert grid[0].start.tzinfo is not None
    assert grid[0].start.utcoffset().total_seconds() == 8 * 3600


def test_slot_pattern_follows_the_site_setting_and_odd_opening(site):
    # given 20-minute slots, 3 per cycle, 1 buffer, opening at 08:10
    site.slot_minutes, site.slots_per_cycle, site.buffer_slots_per_cycle = 20, 3, 1
    site.save()
    OpeningHours.objects.filter(site=site, weekday=1).update(opens=time(8, 10), closes=time(10, 0))
    grid = selectors.slot_grid(site, TUESDAY)
    # then slots start on the 20-minute clock grid inside opening hours
    assert [(s.start.strftime("%H:%M"), s.is_buffer) for s in grid] == [
        ("08:20", False),
        ("08:40", True),
        ("09:00", False),
        ("09:20", False),
        ("09:40", True),
    ]


def test_closed_days_have_no_slots(site):
    # Sunday has no opening hours; a holiday is a closed date
    ClosedDate.objects.create(site=site, date=TUESDAY, reason="元旦")
    assert selectors.slot_grid(site, date(2026, 11, 29)) == []
    assert selectors.slot_grid(site, TUESDAY) == []
    assert selectors.closed_reason(site, TUESDAY) == "元旦"
    assert "Sunday" in selectors.closed_reason(site, date(2026, 11, 29))


def test_capacity_arithmetic(site, book):
    # given 6 technicians × 8 h × 80 % = 38.4 h bookable
    assert site.daily_bookable_hours == Decimal("38.4")
    book(at(24, 9), estimated_hours="2.5")
    book(at(24, 9, 15), estimated_hours="1.5")
    load = selectors.day_load(site=site, day=TUESDAY)
    assert load["capacity_hours"] == Decimal("38.4")
    assert load["booked_hours"] == Decimal("4.0")
    assert load["remaining_hours"] == Decimal("34.4")
    assert load["load_percent"] == 10
    assert load["appointments"] == 2


def test_availability_lists_free_non_buffer_slots_with_advisor(site, advisor, advisor2, book):
    book(at(24, 9), advisor=advisor)
    result = selectors.availability(site=site, day=TUESDAY, hours="1", now=NOW)
    assert result["fits"] is True
    free = {(s["start"].strftime("%H:%M"), s["advisor_id"]) for s in result["slots"]}
    assert ("09:00", advisor.pk) not in free  # taken
    assert ("09:00", advisor2.pk) in free
    assert not any(s["is_buffer"] for s in result["slots"])  # buffers are not offered
    assert ("09:45", advisor2.pk) not in free
    assert result["remaining_hours"] == Decimal("37.4")
    assert result["suggestions"] == []  # a quiet day needs no levelling


def test_availability_of_a_full_day_proposes_the_emptiest_nearby_days(site, advisor, book):
    # given Tuesday nearly full (capacity 4 h) and Wednesday half full
    site.technicians_on_duty, site.technician_hours_per_day, site.bookable_share = 1, 4, 1
    site.save()
    book(at(24, 9), estimated_hours="3.5")
    book(at(25, 9), estimated_hours="2.0")
    result = selectors.availability(site=site, day=TUESDAY, hours="1.0", now=NOW)
    # then no slot on Tuesday, and the suggestions start with the emptiest near days
    assert result["fits"] is False
    assert result["slots"] == []
    days = [s["date"] for s in result["suggestions"]]
    assert TUESDAY not in days
    assert days[0] == date(2026, 11, 23)  # today, still empty, nearest
    assert date(2026, 11, 25) not in days[:2]  # the half-full day ranks after empty ones
    assert all(s["slots"] for s in result["suggestions"])


def test_availability_excludes_past_slots_today(site, advisor):
    now = at(23, 10, 5)
    result = selectors.availability(site=site, day=date(2026, 11, 23), hours="1", now=now)
    assert min(s["start"] for s in result["slots"]).strftime("%H:%M") == "10:15"


def test_availability_of_closed_day_says_so(site, advisor):
    result = selectors.availability(site=site, day=date(2026, 11, 29), hours="1", now=NOW)
    assert result["open"] is False
    assert result["slots"] == []
    assert result["closed_reason"]
    assert result["suggestions"]


def test_week_load_query_count_does_not_grow(site, book, django_assert_max_num_queries):
    for minute in (0, 15, 30):
        book(at(24, 9, minute))
    with django_assert_max_num_queries(4):
        week = selectors.week_load(site=site, start=date(2026, 11, 23))
    assert [d["appointments"] for d in week][:2] == [0, 3]
    assert week[6]["open"] is False  # Sunday


@pytest.mark.parametrize(
    ("choice", "title", "lang", "expected"),
    [
        ("full", "mr", "zh-hans", "王建国"),
        ("surname", "mr", "zh-hans", "王先生"),
        ("surname", "ms", "zh-hans", "王女士"),
        ("surname", "mr", "en", "Mr Wang"),
        ("surname", "ms", "en", "Ms Wang"),
        ("plate", "mr", "en", ""),
    ],
)
def test_welcome_board_greeting_follows_privacy_choice(site, choice, title, lang, expected):
    from django.utils import translation

    customer = CustomerFactory(site=site, name="王建国", title=title, board_display=choice)
    with translation.override(lang):
        assert selectors.board_name(customer) == expected


def test_compound_surname(site):
    from django.utils import translation

    customer = CustomerFactory(site=site, name="欧阳娜娜", title="ms", board_display="surname")
    with translation.override("zh-hans"):
        assert selectors.board_name(customer) == "欧阳女士"
    assert Customer.BoardDisplay.SURNAME == "surname"


def test_confirmation_names_the_advisor(site, book):
    appointment = book(at(24, 9))
    text = selectors.confirmation_text(appointment)
    assert "李娜" in text
    assert "2026-11-24" in text
    assert "09:00" in text
    assert "沪A12345" in text


def test_day_board_shows_buffers_and_appointments(site, advisor, advisor2, book):
    appointment = book(at(24, 9), advisor=advisor2)
    board = selectors.day_board(site=site, day=TUESDAY, now=NOW)
    names = [a["name"] for a in board["advisors"]]
    assert names == ["李娜", "王磊"]
    row = next(r for r in board["rows"] if r["slot"].start == at(24, 9))
    assert row["cells"][1]["appointment"] == appointment
    assert row["cells"][0]["appointment"] is None
    assert any(r["slot"].is_buffer for r in board["rows"])
    assert board["rows"][0]["slot"].start.tzinfo == TZ or board["rows"][0]["slot"].start.utcoffset()


def test_day_board_load_counts_as_the_days_load(site, advisor, advisor2, book):
    """The front desk's day header: the booked hours and count of the active appointments, as
    day_load gives them (a cancelled booking frees its hours)."""
    from appointments.services import appointment_cancel

    book(at(24, 9), advisor=advisor, estimated_hours="2.5")
    book(at(24, 9, 15), advisor=advisor2, estimated_hours="1.5")
    gone = book(at(24, 10), advisor=advisor, estimated_hours="3.0")
    appointment_cancel(appointment_id=gone.pk, actor=advisor, reason="customer called")
    board = selectors.day_board(site=site, day=TUESDAY, now=NOW)
    assert board["load"] == selectors.day_load(site=site, day=TUESDAY)
    assert board["load"]["booked_hours"] == Decimal("4.0")
    assert board["load"]["appointments"] == 2
    assert len(board["appointments"]) == 3  # the cancelled one still shows in its slot


def test_day_board_and_availability_queries_do_not_grow(
    site, advisor, advisor2, book, customer, django_assert_max_num_queries
):
    from customers.tests.factories import VehicleFactory

    for minute in (0, 15, 30):
        for who in (advisor, advisor2):
            book(at(24, 10, minute), advisor=who, vehicle=VehicleFactory(owner=customer))
    # the calendar (hours, closed dates), the advisors on duty, the day's appointments
    with django_assert_max_num_queries(4):
        board = selectors.day_board(site=site, day=TUESDAY, now=NOW)
        # rendering touches customer, vehicle and advisor of each cell: all prefetched
        names = [
            c["appointment"].vehicle.plate
            for r in board["rows"]
            for c in r["cells"]
            if c["appointment"]
        ]
    assert len(names) == 6
    with django_assert_max_num_queries(8):
        selectors.availability(site=site, day=TUESDAY, hours="1", now=NOW)


def test_welcome_board_shows_who_is_due_next(site, book, advisor):
    # given guests at 09:15, 17:00 and 17:15
    early = book(at(24, 9, 15))
    for hour, minute in ((17, 0), (17, 15)):
        other = VehicleFactory(owner=CustomerFactory(site=site))
        book(at(24, hour, minute), customer=other.owner, vehicle=other)
    # when the board is read at 16:55
    rows = selectors.welcome_board(site=site, day=at(24, 0).date(), now=at(24, 16, 55))
    # then the 09:15 guest is an earlier one, the 17:00 and 17:15 guests are next
    assert [(r["time"].strftime("%H:%M"), r["earlier"]) for r in rows] == [
        ("09:15", True),
        ("17:00", False),
        ("17:15", False),
    ]
    assert rows[0]["appointment"] == early


def test_advisors_on_duty_are_the_sites_active_advisors_on_duty_by_name(
    site, advisor, advisor2, make_user, django_assert_num_queries
):
    from dms.models import Role, StaffRole
    from dms.tests.factories import SiteFactory

    off_duty = make_user("advisor", first_name="芳", last_name="张")
    StaffRole.objects.filter(user=off_duty).update(on_duty=False)
    left = make_user("advisor", first_name="强", last_name="赵", is_active=False)
    make_user("technician", first_name="伟", last_name="陈")
    elsewhere = make_user("advisor", first_name="静", last_name="刘", at_site=SiteFactory())
    # an advisor here who is also a technician here is listed once
    StaffRole.objects.create(user=advisor2, site=site, role=Role.TECHNICIAN)
    with django_assert_num_queries(1):
        advisors = selectors.advisors_on_duty(site)
        names = [(a.last_name, a.first_name) for a in advisors]
    assert [a.pk for a in advisors] == [advisor.pk, advisor2.pk]  # 李, 王 by last name
    assert names == [("李", "娜"), ("王", "磊")]
    assert {off_duty.pk, left.pk, elsewhere.pk}.isdisjoint(a.pk for a in advisors)
