"""The KPIs of SPEC §6: key, label, definition (shown on the dashboard), unit and target.

The definitions here are the ones `kpis.selectors` computes; change both together.
"""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    help: str
    unit: str  # count | rate | hours | money | number
    target: float | None = None
    higher_is_better: bool = True
    records: str = ""  # drill-down list key (see selectors.RECORD_SETS); "" = no drill-down


KPIS: tuple[Kpi, ...] = (
    Kpi(
        "ro_opened",
        _("Cars in (ROs opened)"),
        _(
            "Repair orders opened in the period (opened day in the site's time zone), cancelled ROs not counted. 进厂台次."
        ),
        "count",
        records="ro_opened",
    ),
    Kpi(
        "ro_delivered",
        _("ROs delivered"),
        _("Repair orders delivered to the customer in the period."),
        "count",
        records="ro_delivered",
    ),
    Kpi(
        "appointment_rate",
        _("Appointment rate"),
        _("ROs opened from an appointment ÷ all ROs opened in the period."),
        "rate",
        records="ro_opened",
    ),
    Kpi(
        "show_rate",
        _("Show rate"),
        _(
            "Appointments for days in the period that arrived ÷ all of them except cancelled ones (no-shows and still-pending bookings count as not arrived)."
        ),
        "rate",
        records="appointments",
    ),
    Kpi(
        "hours_per_ro",
        _("Labour hours sold per RO"),
        _(
            "Standard hours of the authorized and approved job lines of ROs delivered in the period ÷ ROs delivered."
        ),
        "hours",
        records="ro_delivered",
    ),
    Kpi(
        "parts_lines_per_ro",
        _("Parts lines per RO"),
        _(
            "Parts lines on authorized and approved jobs of ROs delivered in the period ÷ ROs delivered."
        ),
        "number",
        records="ro_delivered",
    ),
    Kpi(
        "labour_revenue_per_ro",
        _("Labour revenue per RO"),
        _("Labour total of ROs delivered in the period ÷ ROs delivered."),
        "money",
        records="ro_delivered",
    ),
    Kpi(
        "parts_revenue_per_ro",
        _("Parts revenue per RO"),
        _("Parts total of ROs delivered in the period ÷ ROs delivered."),
        "money",
        records="ro_delivered",
    ),
    Kpi(
        "on_time_delivery_rate",
        _("On-time delivery"),
        _(
            "ROs delivered at or before their (last) promised time ÷ ROs delivered in the period. An RO without a promised time counts as not on time."
        ),
        "rate",
        records="ro_delivered",
    ),
    Kpi(
        "qc_first_pass_rate",
        _("QC first-pass rate"),
        _(
            "Delivered ROs that passed QC on the first road test ÷ delivered ROs that went through QC."
        ),
        "rate",
        records="ro_qc",
    ),
    Kpi(
        "comeback_rate",
        _("Comeback rate"),
        _(
            "ROs delivered in the period whose vehicle came back for the same concern within the comeback window (a later RO marked as its comeback, not rejected) ÷ ROs delivered."
        ),
        "rate",
        higher_is_better=False,
        records="ro_delivered",
    ),
    Kpi(
        "technician_efficiency",
        _("Technician efficiency"),
        _(
            "Standard (sold) hours of jobs finished (signed off) in the period ÷ the hours clocked on those jobs."
        ),
        "rate",
        records="jobs_finished",
    ),
    Kpi(
        "technician_productivity",
        _("Technician productivity"),
        _(
            "Hours clocked on jobs (clock-on in the period) ÷ attended hours: on-duty technicians × hours per day × open days of the period up to today."
        ),
        "rate",
        records="clock_entries",
    ),
    Kpi(
        "effective_labour_rate",
        _("Effective labour rate"),
        _("Labour revenue ÷ sold hours of ROs delivered in the period (money per hour)."),
        "money",
        records="ro_delivered",
    ),
    Kpi(
        "additional_work_capture_rate",
        _("Additional-work capture"),
        _(
            "Additional (proposed) job lines on ROs opened in the period that the customer approved ÷ all proposed lines. The amount rate compares their labour amounts."
        ),
        "rate",
        records="additional_lines",
    ),
    Kpi(
        "followup_rate",
        _("Follow-up rate"),
        _(
            "ROs delivered in the period whose follow-up call was completed inside its 2–5-day window ÷ ROs delivered. Target ≥ 30%, 100% for warranty-period customers."
        ),
        "rate",
        target=0.30,
        records="ro_delivered",
    ),
    Kpi(
        "followup_rate_warranty",
        _("Follow-up rate (warranty)"),
        _("The follow-up rate for vehicles still under warranty on the delivery day. Target 100%."),
        "rate",
        target=1.0,
        records="ro_delivered_warranty",
    ),
    Kpi(
        "satisfaction_rate",
        _("Satisfaction"),
        _(
            "Follow-up calls completed in the period where the customer was reached and answered 4 or 5 (of 5) ÷ follow-up calls reached. Target ≥ 98%."
        ),
        "rate",
        target=0.98,
        records="followups_reached",
    ),
    Kpi(
        "complaints_opened",
        _("Complaints opened"),
        _("Complaints opened in the period."),
        "count",
        higher_is_better=False,
        records="complaints_opened",
    ),
    Kpi(
        "complaints_closed",
        _("Complaints closed"),
        _("Complaints closed (after the confirming call) in the period."),
        "count",
        records="complaints_closed",
    ),
    Kpi(
        "complaint_median_hours_to_close",
        _("Median hours to close a complaint"),
        _("Median of (closed − opened) in hours over the complaints closed in the period."),
        "hours",
        higher_is_better=False,
        records="complaints_closed",
    ),
    Kpi(
        "complaints_overdue",
        _("Complaints overdue"),
        _(
            "Complaints opened in the period that missed their response time: contacted after the respond-by time, or still not contacted when it has passed."
        ),
        "count",
        higher_is_better=False,
        records="complaints_overdue",
    ),
    Kpi(
        "first_service_capture_rate",
        _("First-service capture"),
        _(
            "New cars sold by the site whose first service fell due in the period (by the site's first-service rule: months after the purchase or km, whichever first — the same day as the due list) that came for it ÷ those due. 首保进场率."
        ),
        "rate",
        records="first_service_due",
    ),
    Kpi(
        "due_this_month",
        _("Due this month"),
        _(
            "Vehicles whose next service falls due in the calendar month of the period's last day: by date, or by the mileage projected from their history; first services included. The same vehicles as the care due list and the archive's due filter."
        ),
        "count",
        records="due_this_month",
    ),
    Kpi(
        "workshop_load",
        _("Workshop load"),
        _(
            "Booked hours of active appointments for days in the period ÷ bookable capacity (daily bookable hours × open days)."
        ),
        "rate",
        records="appointments_active",
    ),
)

RETENTION_HELP = _(
    "Customers by months since their last delivery, as of the period's last day (or today): "
    "active < 3, at risk 3–6, nearly lost 6–9, lost ≥ 9 (the site's thresholds). 3-6-9 rule."
)

BY_KEY = {k.key: k for k in KPIS}
