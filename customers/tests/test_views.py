import pytest
from django.urls import reverse

from customers.models import Customer, Vehicle
from customers.tests.factories import CustomerFactory, VehicleFactory, make_vin
from dms.models import Role
from dms.tests.factories import SiteFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def advisor_client(client, make_user):
    client.force_login(make_user(Role.ADVISOR))
    return client


def test_login_required_and_roles(client, make_user):
    r = client.get(reverse("customers:index"))
    assert r.status_code == 302
    client.force_login(make_user(Role.TECHNICIAN))
    r = client.get(reverse("customers:index"))
    assert r.status_code == 403
    assert "Service advisor" in r.content.decode()


def test_lookup_fragment_for_htmx(advisor_client, site):
    VehicleFactory(owner=CustomerFactory(site=site, name="周杰"), plate="沪AD12345")
    r = advisor_client.get(reverse("customers:lookup"), {"q": "ad12345"}, HTTP_HX_REQUEST="true")
    body = r.content.decode()
    assert r.status_code == 200
    assert "周杰" in body
    assert 'class="plate green"' in body  # new-energy plates show green
    assert "<html" not in body  # a fragment, not a page
    r = advisor_client.get(reverse("customers:lookup"), {"q": "nobody"}, HTTP_HX_REQUEST="true")
    assert "Nothing found" in r.content.decode()


def test_index_page_with_query(advisor_client, site):
    CustomerFactory(site=site, name="周杰")
    r = advisor_client.get(reverse("customers:index"), {"q": "周杰"})
    assert r.status_code == 200
    assert "周杰" in r.content.decode()


def test_create_customer_shows_field_errors_then_saves(advisor_client):
    url = reverse("customers:create")
    r = advisor_client.post(
        url,
        {
            "name": "",
            "phone": "123",
            "kind": "person",
            "preferred_channel": "call",
            "board_display": "surname",
        },
    )
    assert r.status_code == 400
    body = r.content.decode()
    assert "Enter the customer&#x27;s name." in body
    assert "is not a valid phone number" in body
    r = advisor_client.post(
        url,
        {
            "name": "钱多多",
            "phone": "13912345678",
            "kind": "person",
            "preferred_channel": "call",
            "board_display": "surname",
            "consent_call": "on",
        },
    )
    assert r.status_code == 302
    c = Customer.objects.get()
    assert (c.phone, c.consent_call, c.consent_sms) == ("+8613912345678", True, False)


def test_inline_validation_phone_and_duplicates(advisor_client, site):
    CustomerFactory(site=site, name="孙丽", phone="+8613912345678")
    r = advisor_client.post(
        reverse("customers:validate_customer"),
        {"name": "孙丽", "phone": "139 1234 5678"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TRIGGER_NAME="phone",
    )
    body = r.content.decode()
    assert "field-error" not in body
    assert 'hx-swap-oob="true"' in body
    assert "Possible duplicate" in body
    r = advisor_client.post(
        reverse("customers:validate_customer"), {"phone": "12"}, HTTP_HX_TRIGGER_NAME="phone"
    )
    assert "is not a valid phone number" in r.content.decode()


def test_inline_vin_warning_offers_the_checkbox(advisor_client, site):
    vin = make_vin(3)
    bad = vin[:8] + ("1" if vin[8] != "1" else "2") + vin[9:]
    r = advisor_client.post(
        reverse("customers:validate_vehicle"), {"vin": bad}, HTTP_HX_TRIGGER_NAME="vin"
    )
    body = r.content.decode()
    assert "check digit" in body
    assert 'name="acknowledge_vin_warning"' in body
    r = advisor_client.post(
        reverse("customers:validate_vehicle"), {"vin": "ABC"}, HTTP_HX_TRIGGER_NAME="vin"
    )
    assert "A VIN has 17 characters; this one has 3." in r.content.decode()


def test_vehicle_create_needs_acknowledgement(advisor_client, site):
    owner = CustomerFactory(site=site)
    vin = make_vin(4)
    bad = vin[:8] + ("1" if vin[8] != "1" else "2") + vin[9:]
    url = reverse("customers:vehicle_create", args=[owner.pk])
    data = {
        "vin": bad,
        "plate": "沪A54321",
        "service_interval_km": "10000",
        "service_interval_months": "6",
    }
    r = advisor_client.post(url, data)
    assert r.status_code == 400
    assert 'name="acknowledge_vin_warning"' in r.content.decode()
    assert not Vehicle.objects.exists()
    r = advisor_client.post(url, {**data, "acknowledge_vin_warning": "on"})
    assert r.status_code == 302
    assert Vehicle.objects.get().vin_check_digit_ok is False


def test_vehicle_page_shows_history(advisor_client, site):
    from workorders.tests.factories import JobLineFactory, RepairOrderFactory

    v = VehicleFactory(owner__site=site)
    ro = RepairOrderFactory(vehicle=v, odometer_km=15000, number="RO-XYZ")
    JobLineFactory(repair_order=ro, description="更换刹车片")
    r = advisor_client.get(reverse("customers:vehicle_detail", args=[v.pk]))
    body = r.content.decode()
    assert "RO-XYZ" in body
    assert "更换刹车片" in body
    assert "15000 km" in body


def test_other_sites_records_are_404(advisor_client):
    other = VehicleFactory(owner=CustomerFactory(site=SiteFactory()))
    assert advisor_client.get(reverse("customers:detail", args=[other.owner_id])).status_code == 404
    assert (
        advisor_client.get(reverse("customers:vehicle_detail", args=[other.pk])).status_code == 404
    )


def test_merge_page_manager_only(client, make_user, site):
    keep = CustomerFactory(site=site, name="吴一", phone="+8613911110000")
    dup = CustomerFactory(site=site, name="吴一", phone="+8613911112222")
    client.force_login(make_user(Role.ADVISOR))
    assert (
        client.post(reverse("customers:merge", args=[keep.pk]), {"merge": dup.pk}).status_code
        == 403
    )
    client.force_login(make_user(Role.MANAGER))
    r = client.get(reverse("customers:merge", args=[keep.pk]))
    assert "吴一" in r.content.decode()
    r = client.post(reverse("customers:merge", args=[keep.pk]), {"merge": dup.pk})
    assert r.status_code == 302
    dup.refresh_from_db()
    assert dup.merged_into == keep


def test_import_pages(client, make_user, site):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(make_user(Role.MANAGER))
    content = f"name,phone,vin,plate\n赵四,13800000009,{make_vin(11)},沪A77777\n,12,,\n".encode()
    r = client.post(reverse("customers:import"), {"file": SimpleUploadedFile("a.csv", content)})
    assert r.status_code == 302
    page = client.get(r["Location"]).content.decode()
    assert "1 row has errors. Nothing was saved" in page
    assert "Enter the customer&#x27;s name." in page
    assert Customer.objects.count() == 0
