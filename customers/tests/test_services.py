from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from customers import services
from customers.models import Customer, MileageReading, Vehicle, VehicleOwnership
from customers.tests.factories import CustomerFactory, VehicleFactory, make_vin
from dms.audit import history
from dms.exceptions import ApplicationError, PermissionDeniedError
from dms.models import Role

pytestmark = pytest.mark.django_db


def bad_vin(n: int) -> str:
    vin = make_vin(n)
    wrong = "1" if vin[8] != "1" else "2"
    return vin[:8] + wrong + vin[9:]


class TestCustomerCreate:
    def test_phone_stored_in_e164_and_consents_stamped(self, site, make_user):
        advisor = make_user(Role.ADVISOR)
        c = services.customer_create(
            site=site,
            actor=advisor,
            name="  张  伟 ",
            phone="138 0013 8000",
            phone2="021 6888 6666",
        )
        assert c.name == "张 伟"
        assert c.phone == "+8613800138000"
        assert c.phone2 == "+862168886666"
        assert c.consent_call_at is not None
        assert c.consent_marketing_at is not None
        assert [e.action for e in history(c)] == ["customer_created"]

    def test_every_problem_reported_by_field_nothing_saved(self, site):
        with pytest.raises(ApplicationError) as err:
            services.customer_create(site=site, actor=None, name="", phone="123", email="x@")
        assert set(err.value.fields) >= {"name", "phone"}
        assert err.value.fields["name"] == ["Enter the customer's name."]
        assert Customer.objects.count() == 0

    def test_phone_required(self, site):
        with pytest.raises(ApplicationError) as err:
            services.customer_create(site=site, actor=None, name="李娜", phone="")
        assert err.value.fields["phone"] == ["Enter a phone number so the customer can be reached."]

    def test_bad_email_and_choice(self, site):
        with pytest.raises(ApplicationError) as err:
            services.customer_create(
                site=site,
                actor=None,
                name="李娜",
                phone="13800138000",
                email="nope",
                preferred_channel="fax",
            )
        assert "email" in err.value.fields
        assert "preferred_channel" in err.value.fields

    def test_quiet_hours_need_both_ends(self, site):
        from datetime import time

        with pytest.raises(ApplicationError, match="both ends of the quiet hours"):
            services.customer_create(
                site=site,
                actor=None,
                name="李娜",
                phone="13800138000",
                quiet_hours_start=time(21, 0),
            )

    def test_unknown_field_refused(self, site):
        with pytest.raises(ApplicationError, match="Unknown field"):
            services.customer_create(
                site=site, actor=None, name="李娜", phone="13800138000", abc_class="A"
            )


class TestConsent:
    def test_opt_out_recorded_at_once_with_new_timestamp(self, site):
        c = services.customer_create(site=site, actor=None, name="李娜", phone="13800138000")
        before_sms = c.consent_sms_at
        before_call = c.consent_call_at
        c = services.customer_set_consent(customer=c, actor=None, channel="sms", allowed=False)
        c.refresh_from_db()
        assert c.consent_sms is False
        assert c.consent_sms_at > before_sms
        assert c.consent_call_at == before_call


class TestVehicleCreate:
    def test_creates_with_owner_history_and_reading(self, site):
        owner = CustomerFactory(site=site)
        v = services.vehicle_create(
            site=site,
            owner=owner,
            actor=None,
            vin=make_vin(1).lower(),
            plate="沪a 12345",
            mileage_km=12000,
        )
        assert v.vin == make_vin(1)
        assert v.plate == "沪A12345"
        v.refresh_from_db()
        assert v.vin_last6 == make_vin(1)[-6:]
        assert VehicleOwnership.objects.get(vehicle=v, until__isnull=True).customer == owner
        assert MileageReading.objects.get(vehicle=v).km == 12000
        assert v.mileage_read_at == timezone.localdate()

    def test_wrong_check_digit_is_a_warning_to_acknowledge(self, site):
        owner = CustomerFactory(site=site)
        with pytest.raises(services.VinCheckDigitWarning) as err:
            services.vehicle_create(site=site, owner=owner, actor=None, vin=bad_vin(2))
        assert "check digit" in err.value.message
        assert err.value.extra["code"] == "vin_check_digit"
        assert Vehicle.objects.count() == 0
        v = services.vehicle_create(
            site=site, owner=owner, actor=None, vin=bad_vin(2), acknowledge_vin_warning=True
        )
        assert v.vin_check_digit_ok is False
        assert history(v)[0].data == {"vin_check_digit_acknowledged": True}

    def test_vin_already_on_another_vehicle_names_it(self, site):
        other = VehicleFactory(owner=CustomerFactory(site=site, name="王芳"), plate="沪B88888")
        with pytest.raises(ApplicationError) as err:
            services.vehicle_create(
                site=site, owner=CustomerFactory(site=site), actor=None, vin=other.vin
            )
        assert err.value.fields["vin"] == [
            f"VIN {other.vin} is already on vehicle 沪B88888 (王芳)."
        ]

    def test_plate_already_on_another_vehicle_names_it(self, site):
        VehicleFactory(owner=CustomerFactory(site=site, name="王芳"), plate="沪B88888")
        with pytest.raises(ApplicationError) as err:
            services.vehicle_create(
                site=site,
                owner=CustomerFactory(site=site),
                actor=None,
                vin=make_vin(99),
                plate="沪b 88888",
            )
        assert err.value.fields["plate"] == [
            "Plate 沪B88888 is already on vehicle 沪B88888 (王芳)."
        ]

    def test_bad_plate_and_year_reported_together(self, site):
        with pytest.raises(ApplicationError) as err:
            services.vehicle_create(
                site=site,
                owner=CustomerFactory(site=site),
                actor=None,
                vin=make_vin(5),
                plate="XX",
                year=1900,
            )
        assert set(err.value.fields) == {"plate", "year"}

    def test_warranty_before_purchase_refused(self, site):
        with pytest.raises(ApplicationError) as err:
            services.vehicle_create(
                site=site,
                owner=CustomerFactory(site=site),
                actor=None,
                vin=make_vin(6),
                purchase_date=date(2024, 5, 1),
                warranty_end=date(2023, 5, 1),
            )
        assert err.value.fields["warranty_end"] == [
            "The warranty cannot end before the purchase date."
        ]

    def test_owner_of_another_site_refused(self, site):
        from dms.tests.factories import SiteFactory

        with pytest.raises(ApplicationError, match="another site"):
            services.vehicle_create(
                site=site, owner=CustomerFactory(site=SiteFactory()), actor=None, vin=make_vin(7)
            )


class TestVehicleUpdateAndMileage:
    def test_mileage_never_goes_down(self, site):
        v = VehicleFactory(owner__site=site, mileage_km=20000, mileage_read_at=date(2026, 1, 1))
        with pytest.raises(ApplicationError) as err:
            services.vehicle_record_mileage(vehicle=v, km=15000, read_on=date(2026, 2, 1))
        assert "cannot go back: 20,000 km was read on 2026-01-01" in err.value.fields["km"][0]
        assert not MileageReading.objects.filter(vehicle=v, km=15000).exists()
        services.vehicle_record_mileage(vehicle=v, km=23000, read_on=date(2026, 3, 1))
        v.refresh_from_db()
        assert (v.mileage_km, v.mileage_read_at) == (23000, date(2026, 3, 1))

    def test_a_reading_higher_than_a_later_one_is_refused(self, site):
        v = VehicleFactory(owner__site=site, mileage_km=0, mileage_read_at=None)
        services.vehicle_record_mileage(vehicle=v, km=30000, read_on=date(2026, 3, 1))
        with pytest.raises(ApplicationError) as err:
            services.vehicle_record_mileage(vehicle=v, km=170366, read_on=date(2026, 2, 1))
        assert "later reading is lower: 30,000 km on 2026-03-01" in err.value.fields["km"][0]
        # an earlier, lower reading fits and is kept
        services.vehicle_record_mileage(vehicle=v, km=20000, read_on=date(2026, 2, 1))
        assert MileageReading.objects.filter(vehicle=v).count() == 2

    @pytest.mark.parametrize(
        ("read_on", "message"),
        [
            (timezone.localdate() + timedelta(days=1), "cannot be in the future"),
            (date(9999, 12, 31), "cannot be in the future"),
            (date(1, 1, 1), "after 1950-01-01"),
        ],
    )
    def test_a_reading_date_out_of_range_is_refused(self, site, read_on, message):
        v = VehicleFactory(owner__site=site, mileage_km=1000, mileage_read_at=date(2025, 1, 1))
        with pytest.raises(ApplicationError) as err:
            services.vehicle_record_mileage(vehicle=v, km=2000, read_on=read_on)
        assert message in err.value.fields["read_on"][0]
        assert not MileageReading.objects.filter(vehicle=v, km=2000).exists()

    def test_an_absurd_odometer_is_refused(self, site):
        v = VehicleFactory(owner__site=site)
        with pytest.raises(ApplicationError) as err:
            services.vehicle_record_mileage(
                vehicle=v, km=2_147_483_647, read_on=timezone.localdate()
            )
        assert "0 to 2,000,000" in err.value.fields["km"][0]

    def test_a_lower_odometer_on_a_delivered_repair_order_is_not_a_reading(self, site):
        v = VehicleFactory(owner__site=site, mileage_km=170366, mileage_read_at=date(2026, 1, 1))
        services.vehicle_record_mileage(vehicle=v, km=5, read_on=date(2026, 2, 1), strict=False)
        v.refresh_from_db()
        assert v.mileage_km == 170366
        assert not MileageReading.objects.filter(vehicle=v, km=5).exists()

    def test_edit_form_refuses_a_lower_odometer(self, site):
        v = VehicleFactory(owner__site=site, mileage_km=20000)
        with pytest.raises(ApplicationError) as err:
            services.vehicle_update(vehicle=v, actor=None, mileage_km=100)
        assert err.value.fields["mileage_km"] == [
            "The odometer cannot go back: the last reading is 20,000 km."
        ]

    def test_update_plate_checks_duplicates(self, site):
        VehicleFactory(owner__site=site, plate="沪C00001")
        v = VehicleFactory(owner__site=site)
        with pytest.raises(ApplicationError, match="already on vehicle"):
            services.vehicle_update(vehicle=v, actor=None, plate="沪C00001")
        services.vehicle_update(vehicle=v, actor=None, plate="沪C 00002", colour="白")
        v.refresh_from_db()
        assert (v.plate, v.colour) == ("沪C00002", "白")

    def test_change_owner_keeps_history(self, site):
        v = VehicleFactory(owner__site=site)
        VehicleOwnership.objects.create(vehicle=v, customer=v.owner, since=date(2020, 1, 1))
        first = v.owner
        buyer = CustomerFactory(site=site)
        services.vehicle_change_owner(
            vehicle=v, new_owner=buyer, actor=None, since=date(2026, 1, 5)
        )
        v.refresh_from_db()
        assert v.owner == buyer
        rows = list(v.ownerships.order_by("since"))
        assert [(r.customer, r.until) for r in rows] == [(first, date(2026, 1, 5)), (buyer, None)]


class TestMerge:
    def test_manager_merges_moving_vehicles_and_history(self, site, make_user):
        from workorders.tests.factories import RepairOrderFactory

        manager = make_user(Role.MANAGER)
        keep = CustomerFactory(site=site, name="王建国", email="")
        dup = CustomerFactory(site=site, name="王建国", email="wang@example.com")
        v = VehicleFactory(owner=dup)
        ro = RepairOrderFactory(vehicle=v)
        services.customers_merge(keep=keep, merge=dup, actor=manager)
        v.refresh_from_db()
        ro.refresh_from_db()
        dup.refresh_from_db()
        keep.refresh_from_db()
        assert v.owner == keep
        assert ro.customer == keep
        assert dup.merged_into == keep
        assert keep.email == "wang@example.com"
        assert keep.phone2 == dup.phone
        entry = next(e for e in history(keep) if e.action == "customer_merged")
        assert entry.actor == manager
        assert entry.data["moved"]["workorders.repairorder.customer"] == 1

    def test_only_a_manager_may_merge(self, site, make_user):
        keep, dup = CustomerFactory(site=site), CustomerFactory(site=site)
        with pytest.raises(PermissionDeniedError):
            services.customers_merge(keep=keep, merge=dup, actor=make_user(Role.ADVISOR))
        dup.refresh_from_db()
        assert dup.merged_into is None

    def test_same_customer_or_merged_twice_refused(self, site, make_user):
        manager = make_user(Role.MANAGER)
        keep, dup = CustomerFactory(site=site), CustomerFactory(site=site)
        with pytest.raises(ApplicationError, match="two different"):
            services.customers_merge(keep=keep, merge=keep, actor=manager)
        services.customers_merge(keep=keep, merge=dup, actor=manager)
        with pytest.raises(ApplicationError, match="already merged"):
            services.customers_merge(keep=keep, merge=dup, actor=manager)


class TestSegments:
    def _deliver(self, vehicle, days_ago, total, today):
        from workorders.tests.factories import RepairOrderFactory

        when = timezone.make_aware(
            timezone.datetime.combine(
                today - timedelta(days=days_ago), timezone.datetime.min.time()
            )
        ).replace(hour=12)
        return RepairOrderFactory(
            vehicle=vehicle,
            status="delivered",
            delivered_at=when,
            delivered_day=when.date(),
            grand_total=Decimal(total),
        )

    def test_recompute_buckets_and_abc_then_second_run_changes_nothing(self, site):
        today = date(2026, 11, 15)
        frequent = VehicleFactory(owner__site=site)
        for days in (10, 100, 200):
            self._deliver(frequent, days, "500", today)
        once = VehicleFactory(owner__site=site)
        self._deliver(once, 100, "300", today)
        big_spender = VehicleFactory(owner__site=site)
        self._deliver(big_spender, 200, "9000", today)
        nobody = CustomerFactory(site=site)
        for i in range(6):  # more one-visit customers so top 20% is meaningful
            self._deliver(VehicleFactory(owner__site=site), 20 + i, "100", today)

        assert services.segments_recompute(site=site, today=today) == 9
        get = lambda v: Customer.objects.get(pk=v.owner_id)  # noqa: E731
        assert (get(frequent).abc_class, get(frequent).retention) == ("A", "active")
        assert (get(once).abc_class, get(once).retention) == ("B", "at_risk")
        assert (get(big_spender).abc_class, get(big_spender).retention) == ("A", "nearly_lost")
        nobody.refresh_from_db()
        assert (nobody.abc_class, nobody.retention) == ("C", "new")
        assert get(frequent).visits_12m == 3
        assert get(frequent).spend_12m == Decimal("1500.00")
        assert services.segments_recompute(site=site, today=today) == 0
