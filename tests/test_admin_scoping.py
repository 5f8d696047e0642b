"""The Django admin is scoped like the API: site B's manager administers site B and nothing of
site A, through any model admin (list, filters, change page, add page); users, groups, roles,
tokens and sign-in records are for superusers only."""

import pytest
from django.contrib import admin
from django.contrib.admin.filters import RelatedFieldListFilter
from django.contrib.auth import get_user_model
from django.db.models import ForeignKey, ManyToManyField, OneToOneField
from django.forms import ModelChoiceField
from django.urls import reverse
from django.utils import timezone

from demo.loader import load_apps
from dms.adminsite import SHARED_MODELS as SHARED
from dms.adminsite import SiteScopedAdmin, _site_paths
from dms.demo import load_site
from dms.models import AuditEntry, Site

pytestmark = pytest.mark.django_db

SCOPED = sorted(
    (
        model._meta.label
        for model, ma in admin.site._registry.items()
        if isinstance(ma, SiteScopedAdmin)
    ),
)


def _admin_of(label: str):
    for model, model_admin in admin.site._registry.items():
        if model._meta.label == label:
            return model, model_admin
    raise LookupError(label)


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _rows_at(model, site: Site):
    if model is get_user_model():
        return model.objects.filter(staff_roles__site=site).distinct()
    return model._default_manager.filter(**{_site_paths()[model]: site.pk})


@pytest.fixture(scope="module")
def _two_sites_data(django_db_setup, django_db_blocker):
    """Site A (the demo site) and site B, each with the full demo data and its own staff,
    loaded once for the module (about half a minute per site) and flushed after it."""
    from django.core.management import call_command

    from customers.models import ImportBatch
    from outreach.models import CallTask, OutboundMessage, WebhookDelivery, WebhookSubscription
    from workorders.models import Approval, JobLine, Photo, RepairOrder
    from workshop.models import JobSignOff, PartsRequest, QCInspection

    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)
        site_a, users_a = load_site()
        load_apps(site=site_a, users=users_a)
        site_b, users_b = load_site("north", "North 4S", login_suffix="_b")
        load_apps(site=site_b, users=users_b)
        for site, users in ((site_a, users_a), (site_b, users_b)):
            # what the demo does not make: one of each, written directly
            ro = RepairOrder.objects.filter(site=site).first()
            job = JobLine.objects.filter(repair_order=ro).first()
            Photo.objects.create(repair_order=ro, image="photos/x.jpg", uploaded_by=users["tech"])
            now = timezone.now()
            JobSignOff.objects.create(job=job, technician=users["tech"], signed_at=now)
            PartsRequest.objects.create(
                job=job,
                part="filter",
                expected_date=now.date(),
                requested_by=users["tech"],
                requested_at=now,
                arrived_at=now,
            )
            QCInspection.objects.create(
                repair_order=ro, inspector=users["qc"], passed=True, inspected_at=now
            )
            ImportBatch.objects.create(site=site, filename="x.csv", status="checked")
            task = CallTask.objects.filter(site=site, outbound__isnull=True).first()
            OutboundMessage.objects.create(task=task, site=site, channel="sms", to="+8613800000000")
            entry = AuditEntry.objects.filter(site=site).first()
            subscription = WebhookSubscription.objects.filter(site=site).first()
            WebhookDelivery.objects.create(
                subscription=subscription, entry=entry, event="x", payload={}
            )
            assert Approval.objects.filter(repair_order__site=site).exists()
    try:
        yield site_a, users_a, site_b, users_b
    finally:
        with django_db_blocker.unblock():
            call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def two_sites(db, _two_sites_data):
    return _two_sites_data


@pytest.fixture
def manager_b(client, two_sites):
    client.force_login(two_sites[3]["manager"])
    return client


def test_every_site_model_admin_is_checked():
    # the registry holds the domain models; a new one is scoped or superuser-only
    assert "customers.Customer" in SCOPED
    assert "dms.StaffRole" not in SCOPED
    assert "auth.User" not in SCOPED


@pytest.mark.parametrize("label", SCOPED)
def test_a_site_manager_sees_only_their_sites_records(manager_b, two_sites, label):
    site_a, _users_a, site_b, _users_b = two_sites
    model, _model_admin = _admin_of(label)
    theirs = set(_rows_at(model, site_a).values_list("pk", flat=True))
    assert theirs, f"no {label} at site A to test with"

    # the list: none of site A's rows, and no filter choice of site A
    response = manager_b.get(_url(model, "changelist"))
    assert response.status_code == 200
    changelist = response.context["cl"]
    assert not theirs & set(changelist.queryset.values_list("pk", flat=True))
    assert site_a.name not in response.content.decode()
    for spec in changelist.filter_specs:
        if isinstance(spec, RelatedFieldListFilter) and spec.field.related_model not in SHARED:
            allowed = set(_rows_at(spec.field.related_model, site_b).values_list("pk", flat=True))
            offered = {pk for pk, _label in spec.lookup_choices}
            assert offered <= allowed, (label, spec.field_path)

    # asking for site A by filter finds nothing
    path = _site_paths()[model]
    lookup = "id__exact" if path == "pk" else f"{path}__id__exact"
    response = manager_b.get(_url(model, "changelist"), {lookup: site_a.pk})
    if response.status_code == 200:
        assert not theirs & set(response.context["cl"].queryset.values_list("pk", flat=True))
    else:
        assert response.status_code == 400  # a lookup the admin does not offer

    # a row of site A cannot be opened, changed or deleted
    pk = min(theirs)
    for view in ("change", "delete", "history"):
        response = manager_b.get(_url(model, view, pk))
        assert response.status_code in (302, 403, 404), (label, view)
        if response.status_code == 302:
            assert response["Location"] == reverse("admin:index")


@pytest.mark.parametrize("label", SCOPED)
def test_a_site_manager_cannot_add_a_record_for_another_site(manager_b, two_sites, label):
    site_a, _users_a, _site_b, _users_b = two_sites
    model, _model_admin = _admin_of(label)
    response = manager_b.get(_url(model, "add"))
    if response.status_code == 403:
        return  # the admin adds none of these (they are written by the services)
    assert response.status_code == 200
    form = response.context["adminform"].form
    relations = {
        f.name: f.related_model
        for f in model._meta.get_fields()
        if isinstance(f, ForeignKey | OneToOneField | ManyToManyField)
        and isinstance(form.fields.get(f.name), ModelChoiceField)
    }
    assert relations, f"{label}'s add form has no relation to check"
    data, checked = {}, []
    for name, related in relations.items():
        if related not in _site_paths() and related is not get_user_model():
            continue
        row = _rows_at(related, site_a).first()
        if row is None:
            continue
        offered = set(form.fields[name].queryset.values_list("pk", flat=True))
        assert row.pk not in offered, (label, name)
        data[name] = row.pk
        checked.append(name)
    assert checked, f"nothing of site A to offer in {label}'s add form"
    before = model._default_manager.count()
    response = manager_b.post(_url(model, "add"), data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    for name in checked:
        assert name in errors, (label, name)
    assert model._default_manager.count() == before


def test_a_site_manager_cannot_change_another_sites_record(manager_b, two_sites):
    from customers.models import Customer

    site_a = two_sites[0]
    customer = Customer.objects.filter(site=site_a).first()
    response = manager_b.post(
        _url(Customer, "change", customer.pk), {"name": "taken over", "site": site_a.pk}
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.name != "taken over"


def test_a_site_manager_cannot_move_their_record_to_another_site(manager_b, two_sites):
    from appointments.models import ServiceOffering

    site_a, _ua, site_b, _ub = two_sites
    offering = ServiceOffering.objects.filter(site=site_b).first()
    response = manager_b.post(
        _url(ServiceOffering, "change", offering.pk),
        {
            "name": offering.name,
            "code": offering.code,
            "site": site_a.pk,
            "standard_hours": offering.standard_hours,
            "position": offering.position,
            "active": "on",
        },
    )
    assert response.status_code == 200
    assert "site" in response.context["adminform"].form.errors
    offering.refresh_from_db()
    assert offering.site == site_b


def test_a_site_manager_edits_their_own_sites_settings(manager_b, two_sites):
    _site_a, _ua, site_b, _ub = two_sites
    response = manager_b.get(_url(Site, "change", site_b.pk))
    assert response.status_code == 200
    assert manager_b.get(_url(Site, "add")).status_code == 403
    assert manager_b.get(_url(Site, "delete", site_b.pk)).status_code == 403


SUPERUSER_ONLY = ["auth.User", "auth.Group", "dms.StaffRole", "authtoken.TokenProxy"]


@pytest.mark.parametrize("label", SUPERUSER_ONLY)
def test_users_groups_roles_and_tokens_are_for_superusers_only(manager_b, two_sites, label):
    model, _model_admin = _admin_of(label)
    assert manager_b.get(_url(model, "changelist")).status_code == 403
    assert manager_b.get(_url(model, "add")).status_code == 403
    assert label not in SCOPED


def test_a_site_manager_cannot_grant_themselves_a_role_or_superuser(manager_b, two_sites):
    from dms.models import Role, StaffRole

    site_a, _ua, _site_b, users_b = two_sites
    me = users_b["manager"]
    response = manager_b.post(
        reverse("admin:dms_staffrole_add"),
        {"user": me.pk, "site": site_a.pk, "role": Role.MANAGER, "on_duty": "on"},
    )
    assert response.status_code == 403
    assert not StaffRole.objects.filter(user=me, site=site_a).exists()
    response = manager_b.post(
        reverse("admin:auth_user_change", args=[me.pk]),
        {"username": me.username, "is_superuser": "on", "is_staff": "on", "is_active": "on"},
    )
    assert response.status_code == 403
    me.refresh_from_db()
    assert not me.is_superuser
    # the index lists none of them
    html = manager_b.get(reverse("admin:index")).content.decode()
    assert reverse("admin:auth_user_changelist") not in html
    assert reverse("admin:dms_staffrole_changelist") not in html


def test_the_demo_manager_holds_no_user_or_role_permissions(two_sites):
    manager = two_sites[1]["manager"]
    perms = manager.get_all_permissions()
    assert "customers.change_customer" in perms
    assert not [p for p in perms if p.startswith("auth.")]
    assert not [p for p in perms if p.endswith("_staffrole") or p.startswith("authtoken.")]
    assert "dms.add_site" not in perms
    assert not manager.is_superuser


def test_a_superuser_administers_users_and_every_site(client, two_sites):
    site_a, _ua, site_b, _ub = two_sites
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw-test-123")
    client.force_login(root)
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 200
    response = client.get(reverse("admin:customers_customer_changelist"))
    sites = set(response.context["cl"].queryset.values_list("site_id", flat=True))
    assert sites == {site_a.pk, site_b.pk}


def test_the_manager_of_a_deactivated_site_administers_nothing(client, two_sites):
    _site_a, _ua, site_b, users_b = two_sites
    Site.objects.filter(pk=site_b.pk).update(is_active=False)
    client.force_login(users_b["manager"])
    assert client.get(reverse("admin:customers_customer_changelist")).status_code == 403
    assert client.get(_url(Site, "change", site_b.pk)).status_code in (302, 403)
