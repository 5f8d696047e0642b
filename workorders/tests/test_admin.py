"""The admin shows a repair order's lines, parts and signed estimate versions but cannot change
them: the estimate changes only through the services that version it and keep the totals."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from workorders.models import EstimateVersion, JobLine, PartLine, ROStatus
from workorders.tests.factories import PartLineFactory, ro_in_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "x"))
    return client


def test_lines_parts_and_signed_versions_are_shown_not_changed(admin_client):
    ro = ro_in_state(ROStatus.AUTHORIZED)
    job = JobLine.objects.filter(repair_order=ro).first()
    part = PartLineFactory(job=job, unit_price=Decimal("100.00"))
    version = EstimateVersion.objects.filter(repair_order=ro).first()
    assert version is not None  # authorising froze the signed version

    for obj in (job, version):
        url = reverse(f"admin:workorders_{obj._meta.model_name}_change", args=[obj.pk])
        page = admin_client.get(url)
        assert page.status_code == 200  # shown (view only)
        assert 'name="_save"' not in page.content.decode()
        assert admin_client.post(url, {}).status_code == 403
        delete = reverse(f"admin:workorders_{obj._meta.model_name}_delete", args=[obj.pk])
        assert admin_client.post(delete, {"post": "yes"}).status_code == 403

    # the part's price cannot be changed through its line's page either
    html = admin_client.get(
        reverse("admin:workorders_jobline_change", args=[job.pk])
    ).content.decode()
    assert "100.00" in html  # the part is listed
    assert 'name="parts-0-unit_price"' not in html
    part.refresh_from_db()
    assert part.unit_price == Decimal("100.00")
    assert PartLine.objects.filter(pk=part.pk).exists()
