"""Photos, signatures and signed documents are served to the staff of their site only, through
/media/ as through the RO's own file links; new files have random names."""

import re

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from dms.models import Role
from dms.tests.factories import SiteFactory, make_staff
from workorders.models import Approval, Photo, ROStatus
from workorders.tests.factories import PNG_1PX, ro_in_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def files_of_site_a(site):
    ro = ro_in_state(ROStatus.AUTHORIZED, site=site)
    approval = Approval.objects.get(repair_order=ro, kind=Approval.Kind.AUTHORIZATION)
    photo = Photo(repair_order=ro, panel="front")
    photo.image.save("IMG_0001.png", ContentFile(PNG_1PX))
    return ro, approval, photo


def _urls(approval, photo):
    return [
        f"/media/{approval.signature.name}",
        f"/media/{photo.image.name}",
        reverse("workorders:signature", args=[approval.pk]),
        reverse("workorders:photo", args=[photo.pk]),
    ]


def test_another_sites_technician_gets_404_for_signature_and_photo(client, files_of_site_a):
    _ro, approval, photo = files_of_site_a
    site_b = SiteFactory()
    client.force_login(make_staff(role=Role.TECHNICIAN, site=site_b))
    for url in _urls(approval, photo):
        assert client.get(url).status_code == 404, url


def test_the_sites_own_staff_get_the_files(client, site, files_of_site_a):
    _ro, approval, photo = files_of_site_a
    client.force_login(make_staff(role=Role.TECHNICIAN, site=site))
    for url in _urls(approval, photo):
        response = client.get(url)
        assert response.status_code == 200, url
        assert b"".join(response.streaming_content) == PNG_1PX


def test_a_user_without_a_role_at_any_site_gets_404(client, files_of_site_a):
    _ro, approval, photo = files_of_site_a
    client.force_login(make_staff(role=None, site=None))
    assert client.get(f"/media/{approval.signature.name}").status_code == 404
    assert client.get(f"/media/{photo.image.name}").status_code == 404


def test_anonymous_visitors_are_sent_to_login(client, files_of_site_a):
    _ro, approval, _photo = files_of_site_a
    response = client.get(f"/media/{approval.signature.name}")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_file_no_record_claims_is_not_served(client, site, files_of_site_a, settings):
    from django.core.files.storage import default_storage

    default_storage.save("stray/notes.txt", ContentFile(b"internal"))
    client.force_login(make_staff(role=Role.MANAGER, site=site))
    assert client.get("/media/stray/notes.txt").status_code == 404


def test_new_signatures_and_photos_have_unguessable_names(files_of_site_a):
    ro, approval, photo = files_of_site_a
    for name in (approval.signature.name, photo.image.name):
        stem = name.rsplit("/", 1)[-1].split(".")[0]
        assert ro.number not in name
        assert "IMG_0001" not in name
        assert re.fullmatch(r"[A-Za-z0-9_-]{24}", stem), name
