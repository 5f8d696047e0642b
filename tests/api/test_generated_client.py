"""A client generated from the served schema works: it is made without a warning, every module
imports, and it takes a car through the whole service flow against a live server.

This is how an online-booking site or a call-centre system starts: openapi-python-client against
`/api/v1/schema/`. Every request below goes through the generated functions and models (typed
bodies, typed answers, enums), lists are read by following their cursor pages, and a refused
move is handled by the typed fields of the 409's error body.
"""

import importlib
import pkgutil
import subprocess
import sys
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.utils import timezone

from tests.api.test_api_walkthrough import demo_open_today, the_followup_falls_due  # noqa: F401

GENERATOR = __import__("pathlib").Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "dms_client"


@pytest.fixture
def generated(live_server, tmp_path):
    """The client package generated from the live server's schema, importable as `dms_client`."""
    schema = tmp_path / "openapi.yaml"
    schema.write_bytes(requests.get(f"{live_server.url}/api/v1/schema/", timeout=30).content)
    config = tmp_path / "config.yaml"
    config.write_text(f"package_name_override: {PACKAGE}\npost_hooks: []\n")
    result = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(schema),
            "--meta",
            "none",
            "--output-path",
            str(tmp_path / PACKAGE),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = result.stdout + result.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        yield result.returncode, output
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def op(path: str):
    """A generated operation module, e.g. op("repair_orders.repair_orders_qc_pass_create")."""
    return importlib.import_module(f"{PACKAGE}.api.{path}")


def ok(response, status: int = 200):
    assert response.status_code == status, (response.status_code, response.content[:800])
    return response.parsed


def cursor_of(url: str | None) -> str | None:
    return parse_qs(urlsplit(url).query)["cursor"][0] if url else None


def walk(list_op, **kwargs) -> tuple[list, int]:
    """Every row of a list, following `next`; (rows, pages)."""
    rows, pages, cursor = [], 0, None
    while True:
        page = ok(list_op.sync_detailed(cursor=cursor, **kwargs))
        rows += page.results
        pages += 1
        cursor = cursor_of(page.next_ if hasattr(page, "next_") else page.next)
        if cursor is None:
            return rows, pages
        assert pages < 200


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_generated_client_drives_the_whole_service_flow(
    generated,
    live_server,
    demo_open_today,  # noqa: F811 - the walkthrough's fixture
    settings,
):
    # given a client generated from the served schema: no warning, every module imports
    returncode, output = generated
    assert returncode == 0, output
    assert "Warning" not in output, output
    assert "Error" not in output, output
    package = importlib.import_module(PACKAGE)
    broken = {}
    modules = 0
    for info in pkgutil.walk_packages(package.__path__, PACKAGE + "."):
        modules += 1
        try:
            importlib.import_module(info.name)
        except Exception as exc:
            broken[info.name] = repr(exc)
    assert not broken, broken
    assert modules > 100

    settings.TIME_ZONE = demo_open_today.time_zone
    m = importlib.import_module(f"{PACKAGE}.models")
    client_module = importlib.import_module(f"{PACKAGE}.client")
    anonymous = client_module.Client(base_url=live_server.url, raise_on_unexpected_status=True)

    # 0. tokens: a wrong password is a typed 401, the right one a token
    token_op = op("auth.auth_token_create")
    refused = token_op.sync_detailed(
        client=anonymous, body=m.TokenInputRequest(username="advisor", password="wrong")
    )
    assert refused.status_code == 401
    assert isinstance(refused.parsed, m.Error)
    assert "password" in refused.parsed.fields.additional_properties

    def login(username: str):
        token = ok(
            token_op.sync_detailed(
                client=anonymous, body=m.TokenInputRequest(username=username, password="dms-demo")
            )
        ).token
        return client_module.AuthenticatedClient(
            base_url=live_server.url, token=token, prefix="Token", raise_on_unexpected_status=True
        )

    advisor, dispatcher, tech, qc, agent = (
        login(u) for u in ("advisor", "dispatcher", "tech2", "qc", "agent")
    )
    root = ok(op("default.root_retrieve").sync_detailed(client=tech))
    site_id = root.sites[0].id
    assert isinstance(root.sites[0].roles[0], m.RoleEnum)

    # 1. customer and vehicle, found again by paging the customer list
    customer = ok(
        op("customers.customers_create").sync_detailed(
            client=advisor,
            body=m.CustomerInputRequest(
                name="张伟", phone="13912345678", preferred_channel=m.ContactChannelEnum.CALL
            ),
            idempotency_key="generated-client-customer",
        ),
        201,
    )
    vehicle = ok(
        op("vehicles.vehicles_create").sync_detailed(
            client=advisor,
            body=m.VehicleCreateInputRequest(
                owner=customer.id,
                vin="LSVAU218XN2183294",
                plate="沪A12345",
                make="Volkswagen",
                model="Lavida",
                mileage_km=30000,
            ),
            x_site=site_id,
        ),
        201,
    )
    rows, pages = walk(op("customers.customers_list"), client=advisor, page_size=7, x_site=site_id)
    assert pages > 1
    assert customer.id in [r.id for r in rows]
    assert len(rows) == len({r.id for r in rows})

    # 2. availability, booking, check-in
    today = timezone.localdate(timezone=demo_open_today.tzinfo)
    availability = ok(
        op("appointments.appointments_availability_retrieve").sync_detailed(
            client=advisor, date=today, hours=1.5
        )
    )
    assert availability.slots, "the demo site is open all day today"
    appointment = ok(
        op("appointments.appointments_create").sync_detailed(
            client=advisor,
            body=m.BookInRequest(
                vehicle=vehicle.id,
                start=availability.slots[0].start.isoformat(),
                estimated_hours="1.5",
                services=["maintenance"],
                channel=m.BookingChannelEnum.PHONE,
            ),
        ),
        201,
    )
    assert appointment.status == m.AppointmentStatusEnum.BOOKED
    day_list, _pages = walk(op("appointments.appointments_list"), client=advisor, page_size=1)
    assert appointment.id in [a.id for a in day_list]
    checked_in = ok(
        op("appointments.appointments_check_in_create").sync_detailed(
            appointment.id, client=advisor
        )
    )
    ro_id = checked_in.repair_order_id
    ro_op = "repair_orders.repair_orders_"

    # 3. intake, estimate, authorization
    ro = ok(
        op(ro_op + "intake_update").sync_detailed(
            ro_id,
            client=advisor,
            body=m.ROIntakeInRequest(
                covers_fitted=True,
                odometer_km=30250,
                fuel_level=m.FuelLevelEnum.VALUE_2,
                damage=m.DamageRequest(body="small scratch on the front bumper"),
            ),
        )
    )
    assert ro.intake.damage.body == "small scratch on the front bumper"
    job = ok(
        op(ro_op + "lines_create").sync_detailed(
            ro_id,
            client=advisor,
            body=m.ROLineInRequest(
                description="Oil and filter change",
                operation_code="MNT-10K",
                standard_hours="1.00",
                parts=[
                    m.ROPartInRequest(name="Engine oil 5W-30", quantity="4", unit_price="68.00"),
                    m.ROPartInRequest(name="Oil filter", quantity="1", unit_price="45.00"),
                ],
            ),
        ),
        201,
    )
    ro = ok(
        op(ro_op + "authorize_create").sync_detailed(
            ro_id,
            client=advisor,
            body=m.ROAuthorizeInRequest(
                channel=m.ApprovalChannelEnum.IN_PERSON,
                customer_name="张伟",
                not_to_exceed="800.00",
                promised_at=timezone.now() + timedelta(days=1),
            ),
        )
    )
    assert ro.status == m.RepairOrderStatusEnum.AUTHORIZED
    assert ro.approvals[0].kind == m.ApprovalKindEnum.AUTHORIZATION

    # 4. dispatch and clock-on
    tech_id = ok(op("default.root_retrieve").sync_detailed(client=tech)).user_id
    ok(
        op("jobs.jobs_assign_create").sync_detailed(
            job.id, client=dispatcher, body=m.JobAssignInputRequest(technician_id=tech_id, bay="B2")
        )
    )
    ok(op("jobs.jobs_clock_on_create").sync_detailed(job.id, client=tech))

    # a refused move is a 409 whose typed body says where the RO is and what is possible
    qc_all = m.QcChecklistRequest(
        road_test=True, steering=True, brakes=True, lines_checked=True, nothing_missing=True
    )
    refused = op(ro_op + "qc_pass_create").sync_detailed(
        ro_id, client=qc, body=m.ROQcPassInRequest(checklist=qc_all)
    )
    assert refused.status_code == 409, refused.content
    assert isinstance(refused.parsed, m.Error)
    assert refused.parsed.state == "in_progress"
    assert "work_done" in refused.parsed.allowed
    assert "qc-pass" not in refused.parsed.actions

    # 5. additional work found on the way: proposed, asked, declined by the customer
    extra = ok(
        op(ro_op + "lines_create").sync_detailed(
            ro_id,
            client=advisor,
            body=m.ROLineInRequest(description="Brake fluid", standard_hours="0.50"),
        ),
        201,
    )
    assert extra.approval == m.LineApprovalEnum.PROPOSED
    ro = ok(
        op(ro_op + "request_approval_create").sync_detailed(
            ro_id, client=advisor, body=m.RONoteInRequest()
        )
    )
    assert ro.status == m.RepairOrderStatusEnum.WAITING_APPROVAL
    ro = ok(
        op(ro_op + "answer_approval_create").sync_detailed(
            ro_id,
            client=advisor,
            body=m.ROAnswerInRequest(
                channel=m.ApprovalChannelEnum.PHONE,
                customer_name="张伟",
                estimate_version=ro.estimate_version,
                answers=[
                    m.ROAnswerLineInRequest(
                        job_id=extra.id,
                        decision=m.ROAnswerLineInDecisionEnum.DECLINED,
                        reason="next time",
                    )
                ],
            ),
        )
    )
    assert ro.status == m.RepairOrderStatusEnum.IN_PROGRESS
    assert ro.approvals[-1].lines[0].decision == m.LineDecisionEnum.DECLINED

    # 6. sign-off, QC fail, rework, QC pass
    all_true = {"work_as_ordered", "parts_fitted", "fasteners", "fluids", "no_warnings"}
    self_check = m.SelfCheckRequest(clean_no_tools=True, **dict.fromkeys(all_true, True))
    signed = ok(
        op("jobs.jobs_sign_off_create").sync_detailed(
            job.id, client=tech, body=m.SignOffInputRequest(self_check=self_check, report="Done")
        )
    )
    assert signed.repair_order_status == m.RepairOrderStatusEnum.WORK_DONE
    ro = ok(
        op(ro_op + "qc_fail_create").sync_detailed(
            ro_id, client=qc, body=m.ROQcFailInRequest(reason="Oil level too high")
        )
    )
    assert ro.status == m.RepairOrderStatusEnum.REWORK
    ok(op("jobs.jobs_clock_on_create").sync_detailed(job.id, client=tech))
    signed = ok(
        op("jobs.jobs_sign_off_create").sync_detailed(
            job.id, client=tech, body=m.SignOffInputRequest(self_check=self_check)
        )
    )
    assert signed.repair_order_status == m.RepairOrderStatusEnum.WORK_DONE
    ro = ok(
        op(ro_op + "qc_pass_create").sync_detailed(
            ro_id, client=qc, body=m.ROQcPassInRequest(checklist=qc_all)
        )
    )
    assert ro.status == m.RepairOrderStatusEnum.WASHING

    # 7. wash, final check, invoice, delivery
    ok(op(ro_op + "wash_done_create").sync_detailed(ro_id, client=advisor))
    ro = ok(
        op(ro_op + "final_check_create").sync_detailed(
            ro_id,
            client=advisor,
            body=m.ROFinalCheckInRequest(
                checklist=m.FinalChecklistRequest(lines_done=True, car_clean=True, belongings=True)
            ),
        )
    )
    assert ro.status == m.RepairOrderStatusEnum.READY
    ro = ok(
        op(ro_op + "invoice_create").sync_detailed(ro_id, client=advisor, body=m.RONoteInRequest())
    )
    assert ro.status == m.RepairOrderStatusEnum.INVOICED
    handover = m.HandoverRequest(
        work_explained=True,
        bill_explained=True,
        old_parts_offered=True,
        usage_advice=True,
        next_service_told=True,
        covers_removed=True,
    )
    ro = ok(
        op(ro_op + "deliver_create").sync_detailed(
            ro_id,
            client=advisor,
            body=m.RODeliverInRequest(
                payment_method=m.PaymentMethodEnum.WECHAT,
                handover=handover,
                next_service_due_km=40000,
            ),
            idempotency_key="generated-client-deliver",
        )
    )
    assert ro.status == m.RepairOrderStatusEnum.DELIVERED
    # the same delivery again with another payment method: the key's other body is a 422
    reused = op(ro_op + "deliver_create").sync_detailed(
        ro_id,
        client=advisor,
        body=m.RODeliverInRequest(payment_method=m.PaymentMethodEnum.CASH, handover=handover),
        idempotency_key="generated-client-deliver",
    )
    assert reused.status_code == 422
    assert isinstance(reused.parsed, m.Error)
    history = [h.to_state for h in ro.history if h.to_state]
    assert history[-1] == "delivered"
    assert "rework" in history
    rows, _pages = walk(op(ro_op + "list"), client=advisor, page_size=3, q=ro.number)
    assert [r.id for r in rows] == [ro_id]

    # 8. the follow-up call, found by paging the agent's scheduled follow-ups, then its outcome
    scheduled, _pages = walk(
        op("followups.followups_list"),
        client=agent,
        page_size=2,
        status=[m.FollowupsListStatusItem.SCHEDULED],
    )
    followup = next(t for t in scheduled if t.repair_order == ro_id)
    the_followup_falls_due(followup.id)
    task = ok(
        op("followups.followups_outcome_create").sync_detailed(
            followup.id,
            client=agent,
            body=m.OutcomeInputRequest(
                outcome=m.CallOutcomeEnum.REACHED, satisfaction=5, comments="Quick and friendly"
            ),
        )
    )
    assert task.outcome == m.CallOutcomeEnum.REACHED

    # 9. a complaint, opened later by the customer's call, in the complaint list
    complaint = ok(
        op("complaints.complaints_create").sync_detailed(
            client=agent,
            body=m.ComplaintOpenInputRequest(
                channel=m.ComplaintChannelEnum.INBOUND_CALL,
                customer=customer.id,
                repair_order=ro_id,
                description="A drop of oil under the car",
            ),
        ),
        201,
    )
    assert complaint.status == m.ComplaintStatusEnum.OPEN
    complaints, _pages = walk(op("complaints.complaints_list"), client=agent, page_size=1)
    assert complaint.id in [c.id for c in complaints]
