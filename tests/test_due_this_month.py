"""One "due this month": the archive's vehicle list (`?due_month=`), proactive care's due list
and the KPI tile show the same vehicles — those whose next service falls due in the month by date
or by the mileage projected from their history, first services included
(`customers.service_due`, stored on the vehicle as `service_due_on`).

Before, the three read three rules: the archive the next-service date or its own km estimate,
care the projection, the KPI tile the next-service date only. Each vehicle below is one where
they used to differ. The KPI's first-service capture asks the same rule when a new car's first
service fell due (it used the purchase date plus the car's service interval, not the site's
first-service rule)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from care.selectors import due_this_month as care_due
from customers import services as archive
from customers.models import Vehicle
from customers.tests.factories import CustomerFactory, VehicleFactory, make_vin
from dms.models import Role
from dms.tests.factories import SiteFactory
from kpis.selectors import kpi_records, kpis_compute, make_scope
from workorders import services as workorders
from workorders.tests.factories import RepairOrderFactory

pytestmark = pytest.mark.django_db

JUNE = date(2026, 6, 1)


def _vehicle(site, **fields):
    return VehicleFactory(owner=CustomerFactory(site=site), **fields)


@pytest.fixture
def fleet(site):
    v = {}
    # by the next-service date: every screen already showed it
    v["by_date"] = _vehicle(site, next_service_due_date=date(2026, 6, 10))
    # by mileage: 2,000 km to go at 40 km a day from 1 May is 20 June, the date is September
    # (was: the archive and care, not the KPI tile)
    v["by_km"] = _vehicle(
        site,
        mileage_km=18000,
        mileage_read_at=date(2026, 5, 1),
        next_service_due_km=20000,
        next_service_due_date=date(2026, 9, 1),
    )
    # a new car sold here, bought 5 March, not yet back: its first service is due 5 June
    # (was: care only)
    v["first_service"] = _vehicle(site, sold_by_site=True, purchase_date=date(2026, 3, 5))
    # serviced 12 December with no next-service date kept: six months later, 12 June
    # (was: care only)
    v["from_history"] = _vehicle(site, mileage_km=30000)
    RepairOrderFactory(
        vehicle=v["from_history"],
        status="delivered",
        odometer_km=30000,
        opened_day=date(2025, 12, 12),
        delivered_day=date(2025, 12, 12),
    )
    archive.vehicle_estimates_update(vehicle=v["from_history"])  # the history written directly
    # the date says 25 June, but its service km was passed in March: due in March, not June
    # (was: the archive and the KPI tile, not care)
    v["overdue_by_km"] = _vehicle(
        site,
        mileage_km=21000,
        mileage_read_at=date(2026, 4, 1),
        next_service_due_km=20000,
        next_service_due_date=date(2026, 6, 25),
    )
    # another site's car due the same month shows on no screen of this site
    _vehicle(SiteFactory(), next_service_due_date=date(2026, 6, 10))
    return v


def _archive_list(api_as, site, month: date) -> set[int]:
    response = api_as(Role.MANAGER).get(
        "/api/v1/vehicles/", {"due_month": f"{month:%Y-%m}"}, HTTP_X_SITE=str(site.pk)
    )
    assert response.status_code == 200
    return {row["id"] for row in response.json()["results"]}


def _care_list(site, month: date) -> set[int]:
    return {row.vehicle.pk for row in care_due(site=site, month=month)}


def _kpi_tile(site, month: date) -> tuple[int, set[int]]:
    end = month.replace(day=28)
    figures = kpis_compute(site_ids=[site.pk], start=month, end=end)
    scope = make_scope(site_ids=[site.pk], start=month, end=end)
    _records, vehicles = kpi_records("due_this_month", scope)
    return figures["due_this_month"], set(vehicles.values_list("pk", flat=True))


def test_the_archive_care_and_the_kpi_tile_list_the_same_vehicles(site, api_as, fleet):
    due = {fleet[k].pk for k in ("by_date", "by_km", "first_service", "from_history")}
    assert _archive_list(api_as, site, JUNE) == due
    assert _care_list(site, JUNE) == due
    assert _kpi_tile(site, JUNE) == (len(due), due)
    march = date(2026, 3, 1)  # the car whose service km was passed shows in March everywhere
    overdue = {fleet["overdue_by_km"].pk}
    assert _archive_list(api_as, site, march) == overdue
    assert _care_list(site, march) == overdue
    assert _kpi_tile(site, march) == (1, overdue)


def test_each_due_day_and_reason_on_the_care_list(site, fleet):
    rows = {row.vehicle.pk: row for row in care_due(site=site, month=JUNE)}
    assert {k: rows[fleet[k].pk].due.due_on for k in ("by_date", "by_km", "first_service")} == {
        "by_date": date(2026, 6, 10),
        "by_km": date(2026, 6, 20),
        "first_service": date(2026, 6, 5),
    }
    assert rows[fleet["by_km"].pk].due.reason == "km"
    assert rows[fleet["first_service"].pk].due.first_service
    assert rows[fleet["from_history"].pk].due.due_on == date(2026, 6, 12)


def test_the_stored_due_day_follows_the_history_where_it_is_written(site, make_user):
    """Opening a repair order with the odometer, delivering it and cancelling one move the
    vehicle's next service; so do its details and readings at the desk."""
    advisor = make_user(Role.ADVISOR)
    today = timezone.localdate()
    vehicle = archive.vehicle_create(
        site=site,
        owner=CustomerFactory(site=site),
        actor=advisor,
        vin=make_vin(99999),
        plate="沪A99999",
        next_service_due_date=today + timedelta(days=300),
        next_service_due_km=30000,
        mileage_km=10000,
        mileage_read_at=today - timedelta(days=100),
    )
    # by date in 300 days; by mileage 20,000 km to go at the default 40 km a day (one reading)
    assert vehicle.service_due_on == today + timedelta(days=300)
    ro = workorders.repair_order_open(
        site=site,
        customer=vehicle.owner,
        vehicle=vehicle,
        advisor=advisor,
        actor=advisor,
        odometer_km=25000,  # 15,000 km in 100 days: 150 km a day, 5,000 km to go
    )
    vehicle.refresh_from_db()
    assert vehicle.km_per_day == Decimal("150.0")
    assert vehicle.service_due_on == today + timedelta(days=34)  # ceil(5000 / 150)
    workorders.ro_cancel(repair_order_id=ro.pk, actor=advisor, reason="wrong car")
    vehicle.refresh_from_db()
    assert vehicle.service_due_on == today + timedelta(days=300)  # the odometer no longer counts
    archive.vehicle_update(vehicle=vehicle, actor=advisor, next_service_due_date=today)
    assert Vehicle.objects.get(pk=vehicle.pk).service_due_on == today


def test_a_vehicle_left_with_a_merged_away_owner_is_on_no_list(site, api_as):
    kept = _vehicle(site, next_service_due_date=date(2026, 6, 10))
    stray = _vehicle(site, next_service_due_date=date(2026, 6, 11))
    # its owner was merged into another customer (a merge moves the vehicles; this one stayed)
    stray.owner.merged_into = kept.owner
    stray.owner.save(update_fields=["merged_into"])
    assert _archive_list(api_as, site, JUNE) == {kept.pk}
    assert _care_list(site, JUNE) == {kept.pk}
    assert _kpi_tile(site, JUNE) == (1, {kept.pk})


def test_the_nightly_refresh_catches_history_written_in_bulk(site):
    vehicle = _vehicle(site, next_service_due_date=date(2026, 6, 10))
    Vehicle.objects.filter(pk=vehicle.pk).update(next_service_due_date=date(2026, 7, 10))
    archive.vehicle_estimates_refresh(site=site)
    vehicle.refresh_from_db()
    assert vehicle.service_due_on == date(2026, 7, 10)


# --- the site's first-service rule: the due lists and the care calls count from the same figures
def _new_cars(site) -> dict[str, Vehicle]:
    """Two new cars sold by the site on 5 March 2026, neither back for its first service."""
    return {
        # no reading since the purchase: 40 km a day, so the date comes first
        "by_date": _vehicle(site, sold_by_site=True, purchase_date=date(2026, 3, 5)),
        # 2,400 km in its first 30 days: 80 km a day, so the mileage comes first
        "by_km": _vehicle(
            site,
            sold_by_site=True,
            purchase_date=date(2026, 3, 5),
            mileage_km=2400,
            mileage_read_at=date(2026, 4, 4),
        ),
    }


def _first_service_only(site, **figures):
    from care.models import ReminderRule, RuleKind
    from care.services import rules_ensure

    rules_ensure(site=site)
    ReminderRule.objects.filter(site=site).exclude(kind=RuleKind.FIRST_SERVICE).update(
        enabled=False
    )
    rule = ReminderRule.objects.get(site=site, kind=RuleKind.FIRST_SERVICE)
    ReminderRule.objects.filter(pk=rule.pk).update(lead_days=7, window_days=30, **figures)
    return rule


def _first_service_calls(site, days) -> dict[int, str]:
    """Run the site's reminder rules on each day: {vehicle id: the due day its call is about}."""
    from care.services import run_reminder_rules
    from outreach.models import CallTask, TaskKind

    for day in days:
        run_reminder_rules(site=site, today=day)
    tasks = CallTask.objects.filter(site=site, kind=TaskKind.FIRST_SERVICE)
    return {t.vehicle_id: t.data["due_date"] for t in tasks}


def _kpi_first_service(site, day: date) -> set[int]:
    """The cars the KPI's first-service capture counts as due on `day` (a one-day period)."""
    scope = make_scope(site_ids=[site.pk], start=day, end=day)
    _records, vehicles = kpi_records("first_service_due", scope)
    assert kpis_compute(site_ids=[site.pk], start=day, end=day)["first_service_due"] == len(
        vehicles
    )
    return set(vehicles.values_list("pk", flat=True))


def _assert_lists_and_calls_agree(api_as, site, cars, due: dict[str, date]):
    """Every screen shows each car due on `due[name]`, the KPI's first-service capture counts it
    due that day, and care calls about that day from 7 days before it (the rule's lead time)."""
    for name, day in due.items():
        car = Vehicle.objects.get(pk=cars[name].pk)
        assert car.service_due_on == day, name
        assert car.first_service_due_on == day, name
        assert car.pk in _kpi_first_service(site, day), name
        month = day.replace(day=1)
        assert cars[name].pk in _archive_list(api_as, site, month), name
        rows = {row.vehicle.pk: row for row in care_due(site=site, month=month)}
        assert rows[car.pk].due.due_on == day, name
        assert rows[car.pk].due.first_service, name
        assert car.pk in _kpi_tile(site, month)[1], name
    calls = _first_service_calls(site, [d - timedelta(days=7) for d in sorted(due.values())])
    assert calls == {cars[name].pk: day.isoformat() for name, day in due.items()}


def test_a_site_first_service_rule_sets_the_due_lists_and_the_care_calls_alike(site, api_as):
    # the site's first service is at 2 months or 3,000 km (the defaults: 3 months, 5,000 km)
    _first_service_only(site, interval_months=2, interval_km=3000)
    cars = _new_cars(site)
    # by date: 5 March + 2 months; by km: 600 km to go at 80 km a day from 4 April
    _assert_lists_and_calls_agree(
        api_as, site, cars, {"by_date": date(2026, 5, 5), "by_km": date(2026, 4, 12)}
    )
    # nothing is listed or called by the default figures (5 June; 2,600 km to go: 7 May)
    assert _archive_list(api_as, site, JUNE) == set()
    assert _care_list(site, JUNE) == set()
    # nor counted due by the KPI by the default figures or the cars' service interval (6 months)
    for day in (date(2026, 6, 5), date(2026, 5, 7), date(2026, 9, 5)):
        assert _kpi_first_service(site, day) == set()


def test_the_first_service_capture_keeps_the_due_day_after_the_car_came(site, make_user):
    # given a new car due for its first service on 5 May by the site's rule (2 months)
    _first_service_only(site, interval_months=2, interval_km=3000)
    car = _new_cars(site)["by_date"]
    # when it comes for it on 3 May and is delivered
    RepairOrderFactory(
        vehicle=car,
        status="delivered",
        is_first_service=True,
        odometer_km=2500,
        opened_day=date(2026, 5, 3),
        delivered_day=date(2026, 5, 3),
    )
    archive.vehicle_estimates_update(vehicle=car)
    car.refresh_from_db()
    # then the due lists move on to its next service, while the KPI still counts the first
    # service as due on 5 May, and captured
    assert car.service_due_on != date(2026, 5, 5)
    assert car.first_service_due_on == date(2026, 5, 5)
    assert _kpi_first_service(site, date(2026, 5, 5)) == {car.pk}
    figures = kpis_compute(site_ids=[site.pk], start=date(2026, 5, 1), end=date(2026, 5, 31))
    assert (figures["first_service_due"], figures["first_service_capture_rate"]) == (1, 1.0)


def test_changing_the_first_service_rule_moves_the_stored_due_days_of_the_site(
    site, api_as, make_user, monkeypatch, django_capture_on_commit_callbacks
):
    from care import services as care
    from customers import tasks

    rule = _first_service_only(site)  # the defaults: 3 months or 5,000 km
    cars = _new_cars(site)
    elsewhere = _vehicle(SiteFactory(), sold_by_site=True, purchase_date=date(2026, 3, 5))
    assert elsewhere.service_due_on == date(2026, 6, 5)
    assert Vehicle.objects.get(pk=cars["by_km"].pk).service_due_on == date(2026, 5, 7)

    # the manager sets 2 months or 3,000 km; the site's vehicles are refreshed once committed
    queued = []
    monkeypatch.setattr(tasks.refresh_service_due, "delay", queued.append)
    client = api_as(user=make_user(Role.MANAGER))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.patch(
            f"/api/v1/reminder-rules/{rule.pk}/",
            {"interval_months": 2, "interval_km": 3000},
            format="json",
            HTTP_X_SITE=str(site.pk),
        )
    assert response.status_code == 200, response.json()
    assert queued == [site.pk]
    assert tasks.refresh_service_due(site.pk) == 2  # the worker, for this site only

    _assert_lists_and_calls_agree(
        api_as, site, cars, {"by_date": date(2026, 5, 5), "by_km": date(2026, 4, 12)}
    )
    elsewhere.refresh_from_db()
    assert elsewhere.service_due_on == date(2026, 6, 5)  # another site's rule is its own

    # a change that does not move the first service refreshes nothing
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        care.rule_update(rule=rule, actor=make_user(Role.MANAGER), lead_days=20)
    assert queued == []
