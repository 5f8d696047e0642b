"""One car through all six steps of the service flow, in real browsers, each step done by the
role that does it, each role in its own browser context and login: booking → reminder call →
check-in and intake → workshop (assignment, clock-on, finding with a photo, the customer's answer
from a phone, sign-off, QC fail, delay call, rework, QC pass) → wash, final check, settlement,
delivery → follow-up call, complaint, confirming call → the manager's dashboard.

Live server on Postgres, a real Celery worker on Redis (the reminder and follow-up calls are
opened on the desk by the worker), Debian's Chromium. Every screen the journey passes is saved to
docs/screenshots/<lang>-NN-<screen>.png for the user guide.

The site under test may call customers around the clock and lies in a time zone where the
morning has just begun, so the journey does not depend on the hour it runs at: it books a slot
about half an hour ahead, today (site time), and the working day still has hours to go.
"""

import struct
import zlib
from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from appointments.models import Appointment, AppointmentStatus
from customers.tests.factories import CustomerFactory, VehicleFactory, make_vin
from dms.models import OpeningHours, Role
from dms.tests.factories import SiteFactory, make_staff, morning_time_zone
from followups.models import Complaint, ComplaintStatus
from outreach import services as outreach
from outreach.models import CallTask, TaskKind, TaskStatus
from tests.conftest import _wait_for, screenshot
from workorders.models import JobLine, RepairOrder, ROStatus
from workshop.models import Bay

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]
TABLET = {"width": 1024, "height": 768}
PHONE = {"width": 390, "height": 844}
PLATE = "沪A12345"


def _png(width: int = 64, height: int = 48) -> bytes:
    """A small real PNG (an orange square with a dark stripe): the technician's photo."""
    rows = b""
    for y in range(height):
        pixel = b"\x30\x30\x30" if 20 <= y < 28 else b"\xe0\x80\x20"
        rows += b"\x00" + pixel * width

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def dealership(settings):
    """A site open (and calling) around the clock, its staff, a bay and one customer's car.
    The pages show and read times in the project's TIME_ZONE: it is set to the site's zone."""
    site = SiteFactory(
        hours=[],
        time_zone=morning_time_zone(),
        calling_hours_start=time(0, 0),
        calling_hours_end=time(23, 59, 59),
    )
    settings.TIME_ZONE = site.time_zone
    # open every day from an hour before now for six hours (a short day board to look at)
    now = timezone.localtime(timezone.now(), site.tzinfo)
    opens = time(max(now.hour - 1, 0), 0)
    closes = time(min(now.hour + 6, 23), 59 if now.hour + 6 >= 23 else 0)
    for weekday in range(7):
        OpeningHours.objects.create(site=site, weekday=weekday, opens=opens, closes=closes)
    Bay.objects.create(site=site, code="B1")
    people = {
        "advisor": (Role.ADVISOR, "娜", "李"),
        "agent": (Role.FOLLOWUP_AGENT, "静", "杨"),
        "dispatcher": (Role.DISPATCHER, "强", "陈"),
        "tech": (Role.TECHNICIAN, "伟", "张"),
        "qc": (Role.QC_INSPECTOR, "军", "刘"),
        "manager": (Role.MANAGER, "敏", "王"),
        "parts": (Role.PARTS_CLERK, "磊", "赵"),
    }
    staff = {
        username: make_staff(
            role=role, site=site, username=username, first_name=first, last_name=last
        )
        for username, (role, first, last) in people.items()
    }
    owner = CustomerFactory(site=site, name="王建国", phone="+8613812345678")
    vehicle = VehicleFactory(
        owner=owner, plate=PLATE, vin=make_vin(777), make="比亚迪", model="秦PLUS"
    )
    return {"site": site, "owner": owner, "vehicle": vehicle, **staff}


def _sign(page, canvas: str = "#pad") -> None:
    """Draw a signature on the pad with the mouse, as a finger on the tablet would."""
    page.locator(canvas).scroll_into_view_if_needed()
    box = page.locator(canvas).bounding_box()
    page.mouse.move(box["x"] + 30, box["y"] + box["height"] / 2)
    page.mouse.down()
    for i in range(1, 12):
        dy = 30 if i % 2 else -30
        page.mouse.move(box["x"] + 30 + i * 35, box["y"] + box["height"] / 2 + dy, steps=3)
    page.mouse.up()


def _local(site, dt: datetime) -> datetime:
    return timezone.localtime(dt, site.tzinfo)


def _sweep_and_wait(task_id: int, status: str = TaskStatus.OPEN) -> CallTask:
    """Run the sweeper (as beat does every minute); the real worker opens the claimed call."""
    outreach.outreach_sweep()
    return _wait_for(
        lambda: CallTask.objects.filter(pk=task_id, status=status).first(),
        timeout=60,
        what=f"the worker to move call task {task_id} to {status}",
    )


def _open_call(page, task_id: int) -> None:
    """Pick a call in the desk's queue and wait until its panel has been swapped in (the panel
    may already show it, so only the finished request tells the form will not be replaced)."""
    with page.expect_response(lambda r: f"/followups/tasks/{task_id}/" in r.url):
        page.click(f'#queue a[data-task="{task_id}"]')
    expect(page.locator("#outcome-form")).to_be_visible()
    page.wait_for_load_state("networkidle")


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_a_car_through_the_whole_service_flow(
    lang, live_server, login_page, browser, celery_worker, dealership
):
    world = dealership
    site, vehicle = world["site"], world["vehicle"]
    url = live_server.url
    tag = "en" if lang == "en" else "zh"
    shots = iter(range(1, 100))

    def shot(page, name: str) -> None:
        screenshot(page, f"{tag}-{next(shots):02d}-{name}")

    def login(username: str, viewport=None):
        page = login_page(username, lang=lang, viewport=viewport)
        # irreversible moves ask first (check-in, QC fail, delivery): the people here say yes;
        # declining is tested in tests/browser/test_front_desk_tablet.py
        page.on("dialog", lambda dialog: dialog.accept())
        return page

    celery_worker(concurrency=1)
    now = _local(site, timezone.now())
    earliest = f"{now + timedelta(minutes=30):%Y-%m-%dT%H:%M}"

    # --- 1. the advisor books from the lookup box on the front desk ---------------------------
    advisor = login("advisor")
    advisor.goto(f"{url}/appointments/")
    advisor.fill("#lookup-q", "a12345")
    expect(advisor.locator("#lookup-results")).to_contain_text("王建国")
    shot(advisor, "front-desk-lookup")
    advisor.locator("#lookup-results button.primary").first.click()
    expect(advisor.locator("#booking input[type=date]")).to_have_value(f"{now:%Y-%m-%d}")
    # the first free (not buffer) slot at least half an hour ahead, today
    slots = advisor.locator("#booking tr:not(.buffer) input[name=slot]")
    slot = next((v for v in (s.get_attribute("value") for s in slots.all()) if v >= earliest), None)
    assert slot, f"a free slot after {earliest} ({site.time_zone}), today"
    start = datetime.fromisoformat(slot.split("|")[0])
    advisor.locator(f"#booking input[name=slot][value='{slot}']").check()
    advisor.fill("#booking input[name=estimated_hours]", "1.5")
    advisor.fill("#booking textarea[name=notes]", "保养 + 刹车有异响")
    shot(advisor, "booking-panel")
    advisor.locator("#booking button.primary").last.click()
    expect(advisor.locator("#booking .confirmation")).to_contain_text("李娜")
    expect(advisor.locator(f"#board-{start:%Y%m%d}")).to_contain_text(PLATE)
    shot(advisor, "booked")
    appointment = Appointment.objects.get(vehicle=vehicle)
    assert appointment.status == AppointmentStatus.BOOKED

    # --- the reminder call appears on the agent's desk and is confirmed -----------------------
    reminder = CallTask.objects.get(appointment=appointment, kind=TaskKind.REMINDER_SOON)
    reminder = _sweep_and_wait(reminder.pk)
    assert reminder.assignee == world["agent"]  # never the advisor of the visit
    agent = login("agent")
    agent.goto(f"{url}/followups/")
    _open_call(agent, reminder.pk)
    expect(agent.locator("#call-panel h2")).to_contain_text("王建国")
    shot(agent, "reminder-call")
    agent.check("#outcome-form input[name=outcome][value=confirmed]")
    agent.click("#outcome-form button.primary")
    expect(agent.locator(f'#queue a[data-task="{reminder.pk}"]')).to_have_count(0)
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CONFIRMED

    # --- 2. check-in, the walk-around, the estimate and the customer's signature ---------------
    advisor.goto(f"{url}/appointments/")
    cell = advisor.locator(f"#board-{start:%Y%m%d} .appt", has_text=PLATE)
    expect(cell.locator(".badge.st")).to_have_class("badge st info")
    shot(advisor, "front-desk-confirmed")
    advisor.goto(f"{url}/appointments/{appointment.pk}/")
    advisor.locator(f"form[action$='/{appointment.pk}/check-in/'] button").click()
    advisor.wait_for_url("**/ro/*/")
    ro = RepairOrder.objects.get(appointment=appointment)
    expect(advisor.locator("#ro-status")).to_be_visible()
    shot(advisor, "ro-opened")

    advisor.goto(f"{url}/ro/{ro.pk}/intake/")
    advisor.check("input[name=covers_fitted]")
    advisor.fill("input[name=vin_read]", vehicle.vin)
    advisor.fill("input[name=odometer_km]", "23500")
    advisor.locator("input[name=fuel_level]").nth(2).check()
    advisor.locator("input[name^=damage_]").first.fill("划痕 5 cm")
    advisor.fill("textarea[name=concern]", "刹车时前轮有异响")
    shot(advisor, "intake")
    advisor.click("form.intake button.primary")
    advisor.wait_for_url(f"**/ro/{ro.pk}/estimate/")

    advisor.fill("form:has(input[name=op][value=add-line]) input[name=description]", "更换前刹车片")
    advisor.fill("form:has(input[name=op][value=add-line]) input[name=standard_hours]", "1.5")
    advisor.fill("form:has(input[name=op][value=add-line]) input[name=part_name]", "前刹车片")
    advisor.fill("form:has(input[name=op][value=add-line]) input[name=part_quantity]", "1")
    advisor.fill("form:has(input[name=op][value=add-line]) input[name=part_price]", "480")
    advisor.click("form:has(input[name=op][value=add-line]) button.primary")
    expect(advisor.locator("input[name=description]").first).to_have_value("更换前刹车片")
    shot(advisor, "estimate")

    advisor.goto(f"{url}/ro/{ro.pk}/authorize/")
    # promised soon, so the QC failure later threatens it and the customer must be told
    promised = _local(site, timezone.now()) + timedelta(minutes=45)
    advisor.fill("#id_promised_at", f"{promised:%Y-%m-%dT%H:%M}")
    _sign(advisor)
    shot(advisor, "authorize-signature")
    _sign(advisor)  # a full-page screenshot resizes the window, which clears the pad
    advisor.click("#auth-submit")
    expect(advisor.locator("#ro-status")).to_have_attribute("class", "badge info")
    ro.refresh_from_db()
    assert ro.status == ROStatus.AUTHORIZED
    assert ro.approvals.get().signature.read().startswith(b"\x89PNG")
    shot(advisor, "ro-authorized")

    # --- 3. the dispatcher assigns on the board -----------------------------------------------
    job = ro.lines.get()
    dispatcher = login("dispatcher")
    dispatcher.goto(f"{url}/workshop/board/")
    row = f'.job[data-job-id="{job.pk}"]'
    dispatcher.click(row)
    expect(dispatcher.locator(row)).to_have_attribute("aria-pressed", "true")
    dispatcher.select_option("#assign-bay", "B1")
    dispatcher.click(f'.tech-chip[data-tech-id="{world["tech"].pk}"]')
    expect(dispatcher.locator(f"{row} .tech")).to_have_text("张伟")
    shot(dispatcher, "workshop-board")

    # --- the technician clocks on and proposes additional work with a photo -------------------
    tech = login("tech", viewport=TABLET)
    tech.goto(f"{url}/workshop/technician/")
    card = tech.locator(f"#job-{job.pk}")
    card.locator("button[hx-post$='/clock-on/']").click()
    expect(card.locator("button[hx-post$='/clock-off/']")).to_be_visible()
    ro.refresh_from_db()
    assert ro.status == ROStatus.IN_PROGRESS
    shot(tech, "technician-clocked-on")
    card.locator("details:has(form[hx-post$='/finding/']) summary").click()
    finding = card.locator("form[hx-post$='/finding/']")
    finding.locator("textarea[name=description]").fill("更换刹车油（含水量 3%）")
    finding.locator("input[name=standard_hours]").fill("0.5")
    finding.locator("input[name=photos]").set_input_files(
        {"name": "brake-fluid.png", "mimeType": "image/png", "buffer": _png()}
    )
    shot(tech, "technician-finding")
    finding.locator("button.primary").click()
    extra = _wait_for(
        lambda: JobLine.objects.filter(repair_order=ro, is_additional=True).first(),
        timeout=15,
        what="the proposed line",
    )
    assert extra.photos.count() == 1
    ro.refresh_from_db()
    assert ro.status == ROStatus.WAITING_APPROVAL
    shot(tech, "technician-finding-sent")

    # --- the customer approves from the private link on a phone -------------------------------
    advisor.goto(f"{url}/ro/{ro.pk}/")
    advisor.locator("form[action$='/do/approval-link/'] button").click()
    link = advisor.locator("#approval-link").input_value()
    shot(advisor, "ro-waiting-approval")
    phone = browser.new_context(viewport=PHONE, locale="en-US" if lang == "en" else "zh-CN")
    phone.add_cookies([{"name": "django_language", "value": lang, "url": url}])
    try:
        mobile = phone.new_page()
        mobile.goto(link)
        expect(mobile.locator(".job h2")).to_contain_text("更换刹车油")
        expect(mobile.locator(".job img")).to_have_count(1)
        shot(mobile, "approval-link-phone")
        mobile.check(f"input[name=decision_{extra.pk}][value=approved]")
        mobile.locator("form button.primary").click()
        expect(mobile.locator("[role=status]")).to_be_visible()
        shot(mobile, "approval-link-answered")
    finally:
        phone.close()
    extra.refresh_from_db()
    assert extra.approval == JobLine.Approval.APPROVED
    ro.refresh_from_db()
    assert ro.status == ROStatus.IN_PROGRESS

    # the dispatcher gives the approved line to the same technician
    dispatcher.goto(f"{url}/workshop/board/")
    row = f'.job[data-job-id="{extra.pk}"]'
    dispatcher.click(row)
    expect(dispatcher.locator(row)).to_have_attribute("aria-pressed", "true")
    dispatcher.click(f'.tech-chip[data-tech-id="{world["tech"].pk}"]')
    expect(dispatcher.locator(f"{row} .tech")).to_have_text("张伟")

    # --- the technician finishes both jobs and signs ------------------------------------------
    def finish(job_line):
        tech.goto(f"{url}/workshop/technician/")
        card = tech.locator(f"#job-{job_line.pk}")
        if card.locator("button[hx-post$='/clock-on/']").count():
            card.locator("button[hx-post$='/clock-on/']").click()
            expect(card.locator("button[hx-post$='/clock-off/']")).to_be_visible()
        card.locator("details.sign summary").click()
        form = card.locator("form[hx-post$='/sign-off/']")
        for box in form.locator("input[type=checkbox]").all():
            box.check()
        form.locator("textarea[name=report]").fill("已完成，试车无异响")
        return card, form

    _card, form = finish(job)
    form.locator("button.primary").click()
    expect(tech.locator(f"#finished-jobs #job-{job.pk}.finished")).to_have_count(1)
    card, form = finish(extra)
    shot(tech, "technician-sign-off")
    form.locator("button.primary").click()
    expect(tech.locator(f"#finished-jobs #job-{extra.pk}.finished")).to_have_count(1)
    ro.refresh_from_db()
    assert ro.status == ROStatus.WORK_DONE  # waits for QC

    # --- QC fails once -------------------------------------------------------------------------
    qc = login("qc", viewport=TABLET)
    qc.goto(f"{url}/workshop/qc/")
    qc_card = qc.locator(f"#qc-{ro.pk}")
    qc_card.locator("textarea[name=reason]").fill("试车时左前轮仍有轻微异响")
    shot(qc, "qc-check")
    qc_card.locator("button[name=decision][value=fail]").click()
    expect(qc.locator(f"#qc-{ro.pk}")).to_have_count(0)
    ro.refresh_from_db()
    assert ro.status == ROStatus.REWORK

    # --- the advisor records the delay call ----------------------------------------------------
    advisor.goto(f"{url}/ro/{ro.pk}/")
    delay = advisor.locator("form[action$='/do/record-delay/']")
    new_promise = _local(site, timezone.now()) + timedelta(hours=3)
    delay.locator("input[name=promised_at]").fill(f"{new_promise:%Y-%m-%dT%H:%M}")
    delay.locator("select[name=channel]").select_option("phone")
    delay.locator("textarea[name=note], input[name=note]").first.fill("电话告知客户，晚 2 小时")
    shot(advisor, "ro-rework-delay-call")
    delay.locator("button.primary").click()
    expect(advisor.locator("form[action$='/do/record-delay/']")).to_have_count(0)
    ro.refresh_from_db()
    assert ro.delay_notified_at is not None

    # --- rework, QC passes ---------------------------------------------------------------------
    tech.goto(f"{url}/workshop/technician/")
    expect(tech.locator(f"#job-{job.pk} .refusal")).to_contain_text("轻微异响")
    shot(tech, "technician-rework")
    _card, form = finish(job)
    form.locator("button.primary").click()
    expect(tech.locator(f"#finished-jobs #job-{job.pk}.finished")).to_have_count(1)
    ro.refresh_from_db()
    assert ro.status == ROStatus.WORK_DONE  # waits for QC

    qc.goto(f"{url}/workshop/qc/")
    qc_card = qc.locator(f"#qc-{ro.pk}")
    for box in qc_card.locator("input[type=checkbox]").all():
        box.check()
    qc_card.locator("button[name=decision][value=pass]").click()
    expect(qc.locator(f"#qc-{ro.pk}")).to_have_count(0)
    ro.refresh_from_db()
    assert ro.status == ROStatus.WASHING

    # --- 4. wash, final check, settlement, delivery with the next service booked ---------------
    advisor.goto(f"{url}/ro/{ro.pk}/")
    advisor.locator("form[action$='/do/wash-done/'] button").click()
    final = advisor.locator("form[action$='/do/final-check/']")
    for box in final.locator("input[type=checkbox]").all():
        box.check()
    shot(advisor, "ro-final-check")
    final.locator("button.primary").click()
    ro.refresh_from_db()
    assert ro.status == ROStatus.READY

    advisor.goto(f"{url}/ro/{ro.pk}/deliver/")
    shot(advisor, "settlement")
    advisor.locator("form[action$='/do/invoice/'] button").click()
    ro.refresh_from_db()
    assert ro.status == ROStatus.INVOICED
    advisor.goto(f"{url}/ro/{ro.pk}/deliver/")
    handover = advisor.locator("form:has(button.primary):has(select[name=payment_method])")
    for box in handover.locator("input[type=checkbox]").all():
        if box.get_attribute("name") != "book_next":
            box.check()
    handover.locator("select[name=payment_method]").select_option(index=1)
    next_day = (now + timedelta(days=180)).date()
    handover.locator("input[name=next_service_due_date]").fill(f"{next_day:%Y-%m-%d}")
    handover.locator("input[name=next_service_due_km]").fill("33500")
    handover.locator("input[name=book_next]").check()
    # the next visit at the site's opening time that day: a reception slot (not a buffer)
    # whatever the hour the journey runs at
    opens = OpeningHours.objects.filter(site=site, weekday=next_day.weekday()).get().opens
    handover.locator("input[name=book_start]").fill(f"{next_day:%Y-%m-%d}T{opens:%H:%M}")
    shot(advisor, "delivery")
    handover.locator("button.primary").click()
    expect(advisor.locator("#ro-status")).to_have_attribute("class", "badge ok")
    ro.refresh_from_db()
    assert ro.status == ROStatus.DELIVERED
    assert Appointment.objects.filter(vehicle=vehicle, day=next_day).exists()
    shot(advisor, "ro-delivered")

    # --- 5. the follow-up appears for an agent who is not the advisor -------------------------
    followup = CallTask.objects.get(repair_order=ro, kind=TaskKind.FOLLOWUP)
    assert followup.due_at > timezone.now() + timedelta(days=1)
    # The clock moves forward: the follow-up is due two days after delivery. Instead of waiting
    # two days, its due time is set to now; the sweeper and the worker then act as on that day.
    CallTask.objects.filter(pk=followup.pk).update(due_at=timezone.now())
    followup = _sweep_and_wait(followup.pk)
    assert followup.assignee == world["agent"]
    agent.goto(f"{url}/followups/")
    _open_call(agent, followup.pk)
    expect(agent.locator("#call-panel")).to_contain_text(ro.number)
    shot(agent, "followup-call")
    agent.check("#outcome-form input[name=outcome][value=reached]")
    agent.select_option("#outcome-form select[name=satisfaction]", "2")
    agent.fill("#outcome-form textarea[name=comments]", "交车晚了两个小时，没人主动解释")
    agent.check("#outcome-form input[name=dissatisfied]")
    agent.click("#outcome-form button.primary")
    expect(agent.locator(f'#queue a[data-task="{followup.pk}"]')).to_have_count(0)
    complaint = Complaint.objects.get(repair_order=ro)
    assert complaint.description == "交车晚了两个小时，没人主动解释"

    # --- 6. the complaint is handled, resolved, and closed after the confirming call ----------
    manager = login("manager")
    manager.goto(f"{url}/followups/complaints/")
    shot(manager, "complaints")
    manager.goto(f"{url}/followups/complaints/{complaint.pk}/")
    step = "form[action$='/{}/']"
    manager.locator(step.format("assign")).locator("select[name=handler]").select_option(
        str(world["manager"].pk)
    )
    manager.locator(step.format("assign")).locator("button").click()
    manager.locator(step.format("contact")).locator("textarea[name=note]").fill(
        "致电客户道歉，说明返工原因"
    )
    manager.locator(step.format("contact")).locator("button.primary").click()
    decide = manager.locator(step.format("decide"))
    decide.locator("input[name=decision][value=our_fault]").check()
    decide.locator("select[name=cause]").select_option("workmanship")
    decide.locator("textarea[name=apology]").fill(
        "经理致电道歉：第一次维修未彻底解决异响，耽误了客户时间"
    )
    rework_at = start + timedelta(days=1)
    decide.locator("input[name=rework_start]").fill(f"{rework_at:%Y-%m-%dT%H:%M}")
    decide.locator("input[name=remedy_cost]").fill("120")
    shot(manager, "complaint-decision")
    invalid = "f => [...f.elements].filter(e => !e.checkValidity()).map(e => e.name)"
    assert decide.evaluate(invalid) == []
    # In the Chinese run a mouse click on this button after filling the date-time field sent no
    # request (seen three times in a row; cause not found). Enter on the focused button submits
    # the form as a keyboard user would.
    decide.locator("button.primary").focus()
    decide.locator("button.primary").press("Enter")
    resolve = manager.locator(step.format("resolve"))
    resolve.locator("textarea[name=resolution]").fill("免费复检刹车系统，客户确认无异响")
    resolve.locator("button.primary").click()
    complaint.refresh_from_db()
    assert complaint.status == ComplaintStatus.RESOLVED
    shot(manager, "complaint-resolved")

    confirm = _sweep_and_wait(complaint.confirm_task_id)
    assert confirm.assignee == world["agent"]
    agent.goto(f"{url}/followups/")
    _open_call(agent, confirm.pk)
    shot(agent, "complaint-confirming-call")
    agent.check("#outcome-form input[name=outcome][value=reached]")
    agent.select_option("#outcome-form select[name=satisfaction]", "5")
    agent.fill("#outcome-form textarea[name=comments]", "满意，谢谢")
    agent.click("#outcome-form button.primary")
    expect(agent.locator(f'#queue a[data-task="{confirm.pk}"]')).to_have_count(0)
    complaint.refresh_from_db()
    assert complaint.status == ComplaintStatus.CLOSED
    manager.goto(f"{url}/followups/complaints/{complaint.pk}/")
    shot(manager, "complaint-closed")

    # --- the manager's dashboard counts all of it ---------------------------------------------
    manager.goto(f"{url}/dashboard/?site={site.pk}&preset=today")
    tiles = {
        "ro_opened": "1",
        "ro_delivered": "1",
        "appointment_rate": "100.0 %",
        "show_rate": "100.0 %",
        "on_time_delivery_rate": "100.0 %",
        "qc_first_pass_rate": "0.0 %",
        "additional_work_capture_rate": "100.0 %",
        "hours_per_ro": "2.00 h",
        "satisfaction_rate": "0.0 %",
        "complaints_opened": "1",
        "complaints_closed": "1",
        "complaints_overdue": "0",
    }
    for key, value in tiles.items():
        expect(manager.locator(f"#kpi-{key} .value")).to_have_text(value)
    shot(manager, "dashboard")

    # --- the parts clerk sees the free rework booked for tomorrow on the pick list ------------
    parts = login("parts")
    parts.goto(f"{url}/appointments/parts/?date={rework_at:%Y-%m-%d}")
    expect(parts.locator("main")).to_contain_text(PLATE)
    shot(parts, "parts-pick-list")
