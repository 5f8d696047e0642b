from datetime import timedelta

import pytest
from django.utils import timezone

from dms.models import DispatchMode, Role
from dms.tests.factories import SiteFactory, make_staff
from workorders.models import JobLine, ROStatus
from workshop.models import Bay, ClockEntry

pytestmark = pytest.mark.django_db


class TestAssignApi:
    def test_dispatcher_assigns(self, site, api_as, tech, make_job):
        Bay.objects.create(site=site, code="B1")
        job = make_job()
        response = api_as(Role.DISPATCHER).post(
            f"/api/v1/jobs/{job.pk}/assign/", {"technician_id": tech.pk, "bay": "B1"}
        )
        assert response.status_code == 200, response.json()
        body = response.json()
        assert (body["technician"], body["bay"]) == (tech.pk, "B1")
        assert body["technician_name"] == tech.get_full_name()

    def test_advisor_gets_403_naming_the_dispatcher(self, api_as, tech, make_job):
        response = api_as(Role.ADVISOR).post(
            f"/api/v1/jobs/{make_job().pk}/assign/", {"technician_id": tech.pk}
        )
        assert response.status_code == 403
        assert "dispatcher" in response.json()["message"]

    def test_dispatcher_gets_403_in_team_mode(self, site, api_as, tech, make_job):
        site.dispatch_mode = DispatchMode.TEAM
        site.save()
        response = api_as(Role.DISPATCHER).post(
            f"/api/v1/jobs/{make_job().pk}/assign/", {"technician_id": tech.pk}
        )
        assert response.status_code == 403
        assert "team mode" in response.json()["message"]

    def test_bad_input_is_a_field_error(self, api_as, make_job):
        response = api_as(Role.DISPATCHER).post(
            f"/api/v1/jobs/{make_job().pk}/assign/", {"technician_id": "abc"}
        )
        assert response.status_code == 400
        assert "technician_id" in response.json()["fields"]

    def test_other_sites_job_is_404(self, api_as, tech, make_job):
        other = make_staff(role=Role.DISPATCHER, site=SiteFactory())
        response = api_as(user=other).post(
            f"/api/v1/jobs/{make_job().pk}/assign/", {"technician_id": tech.pk}
        )
        assert response.status_code == 404


class TestClockApi:
    def test_clock_on_then_off(self, api_as, tech, make_job):
        job = make_job(technician=tech)
        client = api_as(user=tech)
        on = client.post(f"/api/v1/jobs/{job.pk}/clock-on/")
        assert on.status_code == 200, on.json()
        assert on.json()["ended_at"] is None
        assert on.json()["job"]["work_status"] == "in_progress"
        ClockEntry.objects.update(started_at=timezone.now() - timedelta(minutes=90))
        off = client.post(f"/api/v1/jobs/{job.pk}/clock-off/")
        assert off.status_code == 200
        assert off.json()["job"]["actual_hours"] == "1.50"

    def test_refusal_is_409_with_the_reason(self, api_as, tech, make_job):
        job = make_job(technician=tech, approval=JobLine.Approval.PROPOSED)
        response = api_as(user=tech).post(f"/api/v1/jobs/{job.pk}/clock-on/")
        assert response.status_code == 409
        assert "approval" in response.json()["message"]

    def test_dispatcher_cannot_clock(self, api_as, tech, make_job):
        response = api_as(Role.DISPATCHER).post(
            f"/api/v1/jobs/{make_job(technician=tech).pk}/clock-on/"
        )
        assert response.status_code == 403


class TestSignOffApi:
    SELF_CHECK = {
        "work_as_ordered": True,
        "parts_fitted": True,
        "fasteners": True,
        "fluids": True,
        "no_warnings": True,
        "clean_no_tools": True,
    }

    def test_signing_the_last_job_completes_the_work(self, api_as, tech, make_job):
        job = make_job(technician=tech)
        client = api_as(user=tech)
        assert client.post(f"/api/v1/jobs/{job.pk}/clock-on/").status_code == 200
        response = client.post(
            f"/api/v1/jobs/{job.pk}/sign-off/",
            {"self_check": self.SELF_CHECK, "report": "done"},
            format="json",
        )
        assert response.status_code == 200, response.json()
        assert response.json()["repair_order_status"] == ROStatus.WORK_DONE
        assert not ClockEntry.objects.filter(job=job, ended_at=None).exists()

    def test_an_unticked_item_is_a_field_error(self, api_as, tech, make_job):
        job = make_job(technician=tech)
        client = api_as(user=tech)
        client.post(f"/api/v1/jobs/{job.pk}/clock-on/")
        response = client.post(
            f"/api/v1/jobs/{job.pk}/sign-off/",
            {"self_check": {**self.SELF_CHECK, "fluids": False}},
            format="json",
        )
        assert response.status_code == 400
        assert "fluids" in response.json()["fields"]
        job.refresh_from_db()
        assert job.work_status == "in_progress"


class TestBoardApi:
    def test_columns_as_json(self, api_as, tech, make_job):
        job = make_job(status=ROStatus.AUTHORIZED, technician=tech, promised_in_hours=-1)
        response = api_as(Role.DISPATCHER).get("/api/v1/workshop/board/")
        assert response.status_code == 200
        columns = response.json()["columns"]
        assert [c["key"] for c in columns][:2] == ["to_dispatch", "in_progress"]
        card = columns[0]["cards"][0]
        assert card["plate"] == job.repair_order.vehicle.plate
        assert card["risk"] == "late"
        assert card["jobs"][0]["technician_id"] == tech.pk

    def test_needs_a_workshop_role(self, api_as):
        assert api_as(Role.FOLLOWUP_AGENT).get("/api/v1/workshop/board/").status_code == 403

    def test_schema_describes_the_endpoints(self, api_as):
        response = api_as(Role.MANAGER).get("/api/v1/schema/?format=json")
        paths = response.json()["paths"]
        assert "/api/v1/jobs/{job_id}/clock-on/" in paths
        assert "/api/v1/workshop/board/" in paths
