import pytest
from django.urls import reverse
from django.utils import timezone

from dms.models import DispatchMode, Role
from workorders.models import JobLine, ROStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_as(client, make_user):
    def _as(role=None, user=None):
        client.force_login(user or make_user(role))
        return client

    return _as


class TestBoardPage:
    def test_dispatcher_sees_cards_and_the_assign_controls(self, client_as, tech, make_job):
        job = make_job(status=ROStatus.AUTHORIZED, promised_in_hours=-2)
        response = client_as(Role.DISPATCHER).get(reverse("workshop:board"))
        assert response.status_code == 200
        html = response.content.decode()
        assert job.repair_order.vehicle.plate in html
        assert 'id="assign-form"' in html
        assert f'data-tech-id="{tech.pk}"' in html
        assert "late" in html
        assert 'hx-trigger="every 5s' in html

    def test_advisor_in_dispatcher_mode_sees_no_assign_controls(self, client_as, make_job):
        make_job(status=ROStatus.AUTHORIZED)
        html = client_as(Role.ADVISOR).get(reverse("workshop:board")).content.decode()
        assert 'id="assign-form"' not in html

    def test_htmx_poll_returns_only_the_live_part(self, client_as, make_job):
        make_job()
        response = client_as(Role.DISPATCHER).get(reverse("workshop:board"), HTTP_HX_REQUEST="true")
        html = response.content.decode()
        assert html.lstrip().startswith('<div id="board-live"')
        assert "<html" not in html

    def test_agent_gets_403(self, client_as):
        assert client_as(Role.FOLLOWUP_AGENT).get(reverse("workshop:board")).status_code == 403

    def test_assign_from_the_board(self, client_as, tech, make_job):
        job = make_job()
        response = client_as(Role.DISPATCHER).post(
            reverse("workshop:board_assign"),
            {"job_id": job.pk, "technician_id": tech.pk},
            HTTP_HX_REQUEST="true",
        )
        assert response.status_code == 200
        job.refresh_from_db()
        assert job.technician == tech
        assert tech.get_full_name() in response.content.decode()

    def test_assign_refused_in_team_mode_says_why(self, site, client_as, tech, make_job):
        site.dispatch_mode = DispatchMode.TEAM
        site.save()
        response = client_as(Role.DISPATCHER).post(
            reverse("workshop:board_assign"),
            {"job_id": make_job().pk, "technician_id": tech.pk},
            HTTP_HX_REQUEST="true",
        )
        assert response.status_code == 403
        assert "team mode" in response.json()["message"]


class TestTechnicianPage:
    def test_my_jobs_with_the_refusal_reason(self, client_as, tech, make_job):
        ok = make_job(technician=tech)
        waiting = make_job(technician=tech, approval=JobLine.Approval.PROPOSED)
        html = client_as(user=tech).get(reverse("workshop:technician")).content.decode()
        assert ok.description in html
        assert waiting.description in html
        assert "waiting for the customer&#x27;s approval" in html
        assert reverse("workshop:clock_on", args=[ok.pk]) in html
        assert reverse("workshop:clock_on", args=[waiting.pk]) not in html

    def test_a_job_finished_today_shows_when_it_was_signed(self, client_as, tech, make_job, site):
        signed = timezone.now().replace(microsecond=0)
        job = make_job(
            status=ROStatus.WORK_DONE,
            technician=tech,
            work_status=JobLine.WorkStatus.DONE,
            signed_off_at=signed,
        )
        html = client_as(user=tech).get(reverse("workshop:technician")).content.decode()
        assert f'id="job-{job.pk}"' in html
        local = timezone.localtime(signed, site.tzinfo)
        assert f"Signed off {local:%H:%M}</p>" in html

    def test_clock_on_and_off_from_the_tablet(self, client_as, tech, make_job):
        job = make_job(technician=tech)
        client = client_as(user=tech)
        on = client.post(reverse("workshop:clock_on", args=[job.pk]), HTTP_HX_REQUEST="true")
        assert on.status_code == 200
        assert "Clock off" in on.content.decode()
        off = client.post(reverse("workshop:clock_off", args=[job.pk]), HTTP_HX_REQUEST="true")
        assert "Clock on" in off.content.decode()

    def test_refused_clock_on_is_409_with_the_reason(self, client_as, tech, make_job):
        job = make_job(status=ROStatus.WAITING_PARTS, technician=tech)
        response = client_as(user=tech).post(reverse("workshop:clock_on", args=[job.pk]))
        assert response.status_code == 409
        assert "waiting for parts" in response.json()["message"]

    def test_sign_off_without_the_self_check_is_refused(self, client_as, tech, make_job):
        job = make_job(technician=tech, work_status=JobLine.WorkStatus.IN_PROGRESS)
        response = client_as(user=tech).post(
            reverse("workshop:sign_off", args=[job.pk]), {"fluids": "1"}
        )
        assert response.status_code == 400
        assert "work_as_ordered" in response.json()["fields"]

    def test_dispatcher_cannot_open_the_tablet(self, client_as):
        assert client_as(Role.DISPATCHER).get(reverse("workshop:technician")).status_code == 403


class TestQcPage:
    def test_queue_lists_cars_with_their_lines_and_checklist(self, client_as, make_job):
        job = make_job(status=ROStatus.WORK_DONE, work_status=JobLine.WorkStatus.DONE)
        html = client_as(Role.QC_INSPECTOR).get(reverse("workshop:qc")).content.decode()
        assert job.repair_order.vehicle.plate in html
        assert f'name="line_{job.pk}"' in html
        assert 'name="brakes"' in html
        assert 'name="steering"' in html

    def test_pass_with_unticked_items_is_refused(self, client_as, make_job):
        job = make_job(status=ROStatus.WORK_DONE, work_status=JobLine.WorkStatus.DONE)
        response = client_as(Role.QC_INSPECTOR).post(
            reverse("workshop:qc_decide", args=[job.repair_order_id]),
            {"decision": "pass", "road_test": "1"},
        )
        assert response.status_code == 400
        assert "brakes" in response.json()["fields"]

    def test_fail_needs_a_reason(self, client_as, make_job):
        job = make_job(status=ROStatus.QC, work_status=JobLine.WorkStatus.DONE)
        response = client_as(Role.QC_INSPECTOR).post(
            reverse("workshop:qc_decide", args=[job.repair_order_id]), {"decision": "fail"}
        )
        assert response.status_code == 400
        assert "reason" in response.json()["fields"]


class TestBoardMarkup:
    def test_card_text_is_escaped(self, client_as, make_job):
        make_job(description="<script>alert(1)</script> brakes")
        html = client_as(Role.DISPATCHER).get(reverse("workshop:board")).content.decode()
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt; brakes" in html

    def test_page_queries_do_not_grow_with_cards(
        self, client_as, make_user, make_job, django_assert_max_num_queries
    ):
        client = client_as(Role.DISPATCHER)
        tech = make_user(Role.TECHNICIAN)
        make_job(technician=tech)
        with django_assert_max_num_queries(20) as one:
            client.get(reverse("workshop:board"), HTTP_HX_REQUEST="true")
        for i in range(59):
            make_job(technician=tech, promised_in_hours=i - 5)
        with django_assert_max_num_queries(len(one.captured_queries)):
            response = client.get(reverse("workshop:board"), HTTP_HX_REQUEST="true")
        assert response.content.decode().count('class="ro-card') == 60


class TestTeamModeBoard:
    def test_advisor_assigns_to_their_own_team_only(self, site, client_as, make_user, make_job):
        from dms.models import StaffRole

        site.dispatch_mode = DispatchMode.TEAM
        site.save()
        advisor = make_user(Role.ADVISOR)
        mine, theirs = make_user(Role.TECHNICIAN), make_user(Role.TECHNICIAN)
        StaffRole.objects.filter(user=mine).update(team_lead=advisor)
        make_job(status=ROStatus.AUTHORIZED)
        html = client_as(user=advisor).get(reverse("workshop:board")).content.decode()
        assert 'id="assign-form"' in html
        assert f'data-tech-id="{mine.pk}"' in html
        assert f'data-tech-id="{theirs.pk}"' not in html
        # and the dispatcher, in team mode, only watches
        dispatcher_html = client_as(Role.DISPATCHER).get(reverse("workshop:board")).content
        assert b'id="assign-form"' not in dispatcher_html
