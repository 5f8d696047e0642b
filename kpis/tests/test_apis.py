import pytest

from dms.models import Role, StaffRole
from kpis.tests import scenario

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

URL = "/api/v1/kpis/"
WEEK = {"start": "2026-03-02", "end": "2026-03-08"}


@pytest.fixture
def world():
    return scenario.build()


@pytest.fixture
def manager_api(world, api_as, make_user):
    def _client(*sites):
        user = make_user(Role.MANAGER, at_site=world["site"])
        for s in sites:
            StaffRole.objects.get_or_create(user=user, site=s, role=Role.MANAGER)
        return api_as(user=user)

    return _client


def test_manager_gets_the_weeks_kpis(world, manager_api):
    response = manager_api().get(URL, {"site": world["site"].pk, **WEEK})
    assert response.status_code == 200
    body = response.json()
    assert body["ro_opened"] == 5
    assert body["followup_rate"] == 0.5
    assert body["retention"]["lost"] == 1
    assert "advisors" not in body


def test_detail_adds_tables_and_trend(world, manager_api):
    body = manager_api().get(URL, {"site": world["site"].pk, "detail": "1", **WEEK}).json()
    assert {r["name"] for r in body["advisors"]} == {"Li A", "Wu B"}
    assert body["trend"]["labels"][-1] == "2026-03-08"


def test_all_sites_is_the_default_and_covers_only_managed_sites(world, manager_api):
    # a manager of one site sees only that site, even though another site has data
    assert manager_api().get(URL, WEEK).json()["ro_delivered"] == 4
    # a manager of both sees both
    assert manager_api(world["other"]).get(URL, {"site": "all", **WEEK}).json()["ro_delivered"] == 5


def test_another_sites_id_is_a_400_naming_site(world, manager_api):
    response = manager_api().get(URL, {"site": world["other"].pk, **WEEK})
    assert response.status_code == 400
    assert response.json()["fields"]["site"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2026-03-08", "end": "2026-03-01"}, "end"),
        ({"start": "2026-03-01"}, "end"),
        ({"start": "yesterday", "end": "2026-03-01"}, "start"),
        ({"start": "2024-01-01", "end": "2026-03-01"}, "end"),
        ({"site": "x"}, "site"),
        ({"preset": "forever"}, "preset"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(world, manager_api, params, field):
    response = manager_api().get(URL, params)
    assert response.status_code == 400
    body = response.json()
    assert field in body["fields"]
    assert body["message"]


def test_advisor_is_refused(world, api_as):
    response = api_as(Role.ADVISOR).get(URL, WEEK)
    assert response.status_code == 403
    assert "manager" in response.json()["message"].lower()


def test_anonymous_is_refused(api_client):
    assert api_client.get(URL, WEEK).status_code in (401, 403)


def test_preset_last_month(world, manager_api):
    body = manager_api().get(URL, {"preset": "last_month"}).json()
    assert body["start"].endswith("-01")
    assert body["start"] < body["end"]
