import pytest

from customers.models import Customer, Vehicle
from customers.tests.factories import CustomerFactory, VehicleFactory, make_vin
from dms.models import Role
from dms.tests.factories import SiteFactory

pytestmark = pytest.mark.django_db


def test_create_customer_and_vehicle_then_read_history(api_as):
    api = api_as(Role.ADVISOR)
    r = api.post("/api/v1/customers/", {"name": "赵敏", "phone": "139 1111 2222"}, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["phone"] == "+8613911112222"
    assert r.json()["phone_display"] == "139 1111 2222"
    r = api.post(
        "/api/v1/vehicles/",
        {"owner": r.json()["id"], "vin": make_vin(5), "plate": "沪a12345", "mileage_km": 5000},
        format="json",
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["plate"] == "沪A12345"
    assert body["owner"]["name"] == "赵敏"
    r = api.get(f"/api/v1/vehicles/{body['id']}/history/")
    assert r.status_code == 200
    assert r.json() == []


def test_bad_input_gives_field_messages(api_as):
    api = api_as(Role.ADVISOR)
    r = api.post("/api/v1/customers/", {"name": "", "phone": "12"}, format="json")
    assert r.status_code == 400
    body = r.json()
    assert body["fields"]["name"] == ["Enter the customer's name."]
    assert "is not a valid phone number" in body["fields"]["phone"][0]
    assert Customer.objects.count() == 0


def test_vin_warning_then_acknowledged(api_as, site):
    api = api_as(Role.ADVISOR)
    owner = CustomerFactory(site=site)
    vin = make_vin(8)
    vin = vin[:8] + ("1" if vin[8] != "1" else "2") + vin[9:]
    r = api.post("/api/v1/vehicles/", {"owner": owner.pk, "vin": vin}, format="json")
    assert r.status_code == 400
    assert r.json()["code"] == "vin_check_digit"
    assert "check digit" in r.json()["fields"]["vin"][0]
    r = api.post(
        "/api/v1/vehicles/",
        {"owner": owner.pk, "vin": vin, "acknowledge_vin_warning": True},
        format="json",
    )
    assert r.status_code == 201
    assert r.json()["vin_check_digit_ok"] is False


def test_lookup_endpoint(api_as, site):
    car = VehicleFactory(owner=CustomerFactory(site=site, name="孙悟空"), plate="沪C55555")
    api = api_as(Role.FOLLOWUP_AGENT)
    r = api.get("/api/v1/lookup/", {"q": "沪c 55555"})
    assert r.status_code == 200
    hit = r.json()[0]
    assert hit["customer"]["name"] == "孙悟空"
    assert hit["matched_on"] == ["plate"]
    assert hit["matched_vehicle_ids"] == [car.pk]
    assert api.get("/api/v1/lookup/").status_code == 400
    assert api.get("/api/v1/lookup/", {"q": "沪\x00"}).status_code == 400


def test_other_site_is_404_and_not_listed(api_as):
    elsewhere = VehicleFactory(owner=CustomerFactory(site=SiteFactory()))
    api = api_as(Role.ADVISOR)
    assert api.get(f"/api/v1/customers/{elsewhere.owner_id}/").status_code == 404
    assert api.get(f"/api/v1/vehicles/{elsewhere.pk}/history/").status_code == 404
    assert api.get("/api/v1/customers/").json()["results"] == []
    r = api.patch(f"/api/v1/vehicles/{elsewhere.pk}/", {"colour": "红"}, format="json")
    assert r.status_code == 404


def test_roles(api_as, site):
    c = CustomerFactory(site=site)
    tech = api_as(Role.TECHNICIAN)
    r = tech.get("/api/v1/customers/")
    assert r.status_code == 403
    assert "Service advisor" in r.json()["message"]
    agent = api_as(Role.FOLLOWUP_AGENT)
    r = agent.post("/api/v1/vehicles/", {"owner": c.pk, "vin": make_vin(1)}, format="json")
    assert r.status_code == 403
    r = agent.patch(f"/api/v1/customers/{c.pk}/", {"consent_sms": False}, format="json")
    assert r.status_code == 200
    assert r.json()["consent_sms"] is False


def test_filters(api_as, site):
    a = CustomerFactory(site=site, retention="lost", abc_class="A")
    CustomerFactory(site=site, retention="active", abc_class="C")
    api = api_as(Role.ADVISOR)
    r = api.get("/api/v1/customers/", {"retention": "lost"})
    assert [c["id"] for c in r.json()["results"]] == [a.pk]
    r = api.get("/api/v1/customers/", {"phone": "abc"})
    assert r.status_code == 400
    # a filter value the database cannot compare is bad input, named, not a server error
    r = api.get("/api/v1/customers/", {"q": "z\x00"})
    assert (r.status_code, list(r.json()["fields"])) == (400, ["q"])
    r = api.get("/api/v1/customers/", {"retention": "sometimes"})
    assert (r.status_code, list(r.json()["fields"])) == (400, ["retention"])
    r = api.get("/api/v1/vehicles/", {"due_month": "2026-13"})
    assert r.status_code == 400


def test_merge_manager_only(api_as, site):
    keep, dup = CustomerFactory(site=site), CustomerFactory(site=site)
    VehicleFactory(owner=dup)
    r = api_as(Role.ADVISOR).post(f"/api/v1/customers/{keep.pk}/merge/", {"merge": dup.pk})
    assert r.status_code == 403
    r = api_as(Role.MANAGER).post(
        f"/api/v1/customers/{keep.pk}/merge/", {"merge": dup.pk}, format="json"
    )
    assert r.status_code == 200
    assert len(r.json()["vehicles"]) == 1
    assert Vehicle.objects.get().owner == keep


def test_mileage_never_goes_down(api_as, site):
    v = VehicleFactory(owner__site=site, mileage_km=30000)
    api = api_as(Role.ADVISOR)
    r = api.post(f"/api/v1/vehicles/{v.pk}/mileage/", {"km": 1000}, format="json")
    assert r.status_code == 400
    assert "cannot go back: 30,000 km" in r.json()["fields"]["km"][0]
    v.refresh_from_db()
    assert v.mileage_km == 30000
    r = api.post(
        f"/api/v1/vehicles/{v.pk}/mileage/",
        {"km": 40000, "read_on": "2999-01-01"},
        format="json",
    )
    assert r.status_code == 400
    assert "future" in r.json()["fields"]["read_on"][0]
    r = api.patch(f"/api/v1/vehicles/{v.pk}/", {"mileage_km": 1000}, format="json")
    assert r.status_code == 400
    assert "cannot go back" in r.json()["fields"]["mileage_km"][0]


def test_schema_describes_the_endpoints(api_as):
    r = api_as(Role.ADVISOR).get("/api/v1/schema/", {"format": "json"})
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert "/api/v1/vehicles/{id}/history/" in paths
    assert "/api/v1/lookup/" in paths


def test_a_vehicle_with_a_reading_dated_in_the_future_is_refused(api_as, site):
    from customers.tests.factories import CustomerFactory, make_vin

    owner = CustomerFactory(site=site)
    api = api_as(Role.ADVISOR)
    r = api.post(
        "/api/v1/vehicles/",
        {
            "owner": owner.pk,
            "vin": make_vin(3),
            "mileage_km": 5000,
            "mileage_read_at": "2999-01-01",
        },
        format="json",
    )
    assert r.status_code == 400
    assert "future" in r.json()["fields"]["mileage_read_at"][0]
    v = VehicleFactory(owner__site=site, mileage_km=1000)
    r = api.patch(
        f"/api/v1/vehicles/{v.pk}/",
        {"mileage_km": 2000, "mileage_read_at": "2999-01-01"},
        format="json",
    )
    assert r.status_code == 400
    assert "future" in r.json()["fields"]["mileage_read_at"][0]


def test_the_api_and_the_import_accept_the_one_list_of_editable_vehicle_fields():
    # given the one list of a vehicle's editable fields
    from customers import apis, imports, services

    # then the API edits exactly those (plus the VIN-warning acknowledgement)
    accepted = set(apis.VehicleInput().fields) - {"acknowledge_vin_warning"}
    assert accepted == set(services.VEHICLE_FIELDS)
    # and an import file may hold a subset of them, nothing else of the vehicle
    assert set(imports.VEHICLE_KEYS) <= set(services.VEHICLE_FIELDS)
    assert "vin" in imports.VEHICLE_KEYS


def test_the_history_and_the_lookup_show_statuses_the_apps_above_registered(api_as, site):
    """The archive's API describes repair orders, calls and complaints with the choices their
    apps register (customers.history.register_choices), not by reading their models."""
    from customers import history
    from followups.models import Complaint
    from workorders.models import RepairOrder
    from workorders.tests.factories import RepairOrderFactory

    assert history.choices("repair_order_status") == list(RepairOrder.status.field.choices)
    assert history.choices("complaint_status") == list(Complaint.status.field.choices)
    assert history.choices("call_task_status")
    assert history.choices("job_line_approval")
    vehicle = VehicleFactory(owner=CustomerFactory(site=site), plate="沪B54321")
    RepairOrderFactory(vehicle=vehicle, status="delivered")
    open_ro = RepairOrderFactory(vehicle=vehicle, status="in_progress")
    api = api_as(Role.ADVISOR)
    visits = api.get(f"/api/v1/vehicles/{vehicle.pk}/history/").json()
    assert sorted(v["status"] for v in visits) == ["delivered", "in_progress"]
    hits = api.get("/api/v1/lookup/", {"q": "沪B54321"}).json()
    assert [ro["status"] for ro in hits[0]["open_repair_orders"]] == ["in_progress"]
    assert hits[0]["open_repair_orders"][0]["id"] == open_ro.pk
