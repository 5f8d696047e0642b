"""The service manager's dashboard: tiles, trends, advisor/technician tables, drill-down, CSV."""

from functools import wraps
from urllib.parse import urlencode

from django.http import Http404
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from dms.dbrouting import replica_reads
from dms.exceptions import ApplicationError
from dms.exports import csv_response
from dms.models import Role, Site
from dms.permissions import current_site, role_required
from outreach.models import RECORDED_OUTCOMES
from workorders.models import repair_order_of

from . import selectors
from .apis import resolve_query
from .definitions import KPIS, RETENTION_HELP

OUTCOME_LABELS = dict(RECORDED_OUTCOMES)  # a call task's outcome, as the desk names it

# ---------------------------------------------------------------- presentation helpers --


def _fmt(value, unit: str, currency: str = "") -> str:
    if value is None:
        return "—"
    # number_format truncates; round first so 0.6667 shows as 66.7 %
    if unit == "rate":
        return f"{number_format(round(value * 100, 1), 1)} %"
    if unit == "money":
        return f"{currency} {number_format(round(value, 2), 2, force_grouping=True)}".strip()
    if unit == "hours":
        return f"{number_format(round(value, 2), 2)} h"
    if unit == "number":
        return number_format(round(value, 2), 2)
    return number_format(value, 0, force_grouping=True)


def _delta(value, before, unit: str) -> str:
    if value is None or before is None:
        return ""
    diff = value - before
    if unit == "rate":
        # percentage points
        return _("%(diff)s pts") % {"diff": f"{diff * 100:+.1f}"}
    if unit in ("count",):
        return f"{diff:+d}"
    return f"{diff:+,.2f}"


def _trend_class(value, before, higher_is_better: bool) -> str:
    if value is None or before is None or value == before:
        return ""
    return "ok" if (value > before) == higher_is_better else "bad"


class _Query:
    """The validated request: sites, dates and the query string that repeats them."""

    def __init__(self, request):
        self.site_ids, data = resolve_query(request.GET, request.user)
        self.start, self.end, self.preset = data["start"], data["end"], data["preset"]
        self.site_param = request.GET.get("site", "") or ""
        if not self.site_param:
            # the page defaults to the site chosen in the header, when the user manages it
            current = getattr(request, "site", None)
            if current and current.pk in self.site_ids:
                self.site_ids = [current.pk]
                self.site_param = str(current.pk)
        self.sites = list(Site.objects.filter(pk__in=self.site_ids).order_by("pk"))
        self._base_qs: str | None = None
        self._paths: dict[str, str] = {}

    def scope(self) -> selectors.Scope:
        """The KPI scope of these sites and dates, from the site rows read above (what
        `selectors.make_scope` would read again)."""
        return selectors.Scope(tuple(self.sites), self.start, self.end)

    def qs(self, **extra) -> str:
        if self._base_qs is None:
            params = {"site": self.site_param or "all"}
            if self.preset == "custom":
                params.update(start=self.start.isoformat(), end=self.end.isoformat())
            else:
                params["preset"] = self.preset
            self._base_qs = urlencode(params)
        more = {k: v for k, v in extra.items() if v not in (None, "")}
        return f"{self._base_qs}&{urlencode(more)}" if more else self._base_qs

    def records_path(self, key: str) -> str:
        """The drill-down page of `key` (the dashboard links ~200 cells to a dozen of them)."""
        path = self._paths.get(key)
        if path is None:
            path = self._paths[key] = reverse("kpis:records", args=[key])
        return path


def _query_or_error(request):
    try:
        return _Query(request), None
    except ApplicationError as exc:
        # another site's id (or one that does not exist) is a 404, as everywhere else; the page
        # recovers from a bad period only
        if exc.status_code == 404 or "site" in exc.fields:
            raise Http404(exc.message) from exc
        return None, exc


def _records_url(key: str, q: _Query, **extra) -> str:
    if not key:
        return ""
    return f"{q.records_path(key)}?{q.qs(**extra)}"


# ----------------------------------------------------------------------------- dashboard --


def manager_required(view):
    """Like role_required(MANAGER), but `?site=all` passes when the user manages any site (the
    header's current site may be one where they hold another role)."""
    checked = role_required(Role.MANAGER)(view)

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if (
            request.user.is_authenticated
            and request.GET.get("site") == "all"
            and selectors.manager_site_ids(request.user)
        ):
            request.site = current_site(request)
            return view(request, *args, **kwargs)
        return checked(request, *args, **kwargs)

    return wrapped


# A ratio's numerator and denominator as the tile shows them, from the same rows as the ratio
# (and as the tables' columns): key → (numerator, denominator, unit).
RATIO_PARTS = {
    "appointment_rate": ("ro_from_appointment", "ro_opened", "count"),
    "show_rate": ("appointments_arrived", "appointments_booked", "count"),
    "technician_efficiency": ("finished_sold_hours", "finished_clocked_hours", "hours"),
    "technician_productivity": ("clocked_hours", "attended_hours", "hours"),
    "workshop_load": ("booked_hours", "capacity_hours", "hours"),
}


def _ratio_parts(key: str, result: dict, currency: str) -> str:
    if key not in RATIO_PARTS:
        return ""
    top, bottom, unit = RATIO_PARTS[key]
    return f"{_fmt(result[top], unit, currency)} ÷ {_fmt(result[bottom], unit, currency)}"


@manager_required
@replica_reads  # reads may lag the primary a little (DATABASE_REPLICA_URL)
def dashboard(request):
    q, error = _query_or_error(request)
    if error:
        # keep the page usable: show the error and this month
        request.GET = request.GET.copy()
        for k in ("start", "end", "preset"):
            request.GET.pop(k, None)
        q, _e = _query_or_error(request)
    scope = q.scope()
    now = selectors.compute_for_scope(scope, detail=True)
    prev_scope = scope.previous()
    before = selectors.kpis_previous(scope)
    currency = q.sites[0].currency if q.sites else ""

    tiles = []
    for k in KPIS:
        value, was = now[k.key], before[k.key]
        target_met = None
        if k.target is not None and value is not None:
            target_met = value >= k.target
        tiles.append(
            {
                "key": k.key,
                "label": k.label,
                "help": k.help,
                "value": _fmt(value, k.unit, currency),
                "before": _fmt(was, k.unit, currency),
                "delta": _delta(value, was, k.unit),
                "delta_class": _trend_class(value, was, k.higher_is_better),
                "target": _fmt(k.target, k.unit) if k.target is not None else "",
                "target_met": target_met,
                "url": _records_url(k.records, q),
                "parts": _ratio_parts(k.key, now, currency),
            }
        )
    retention = [
        {
            "bucket": b,
            "label": label,
            "value": now["retention"][b],
            "url": _records_url(f"retention_{b}", q),
        }
        for b, label in (
            ("active", _("Active (<3 months)")),
            ("at_risk", _("At risk (3–6)")),
            ("nearly_lost", _("Nearly lost (6–9)")),
            ("lost", _("Lost (≥9)")),
        )
    ]
    advisors = [
        {
            **r,
            "cells": [
                (_fmt(r["ro_opened"], "count"), _records_url("ro_opened", q, advisor=r["user_id"])),
                (
                    _fmt(r["ro_delivered"], "count"),
                    _records_url("ro_delivered", q, advisor=r["user_id"]),
                ),
                (
                    _fmt(r["appointment_rate"], "rate"),
                    _records_url("ro_opened", q, advisor=r["user_id"]),
                ),
                (
                    _fmt(r["hours_per_ro"], "hours"),
                    _records_url("ro_delivered", q, advisor=r["user_id"]),
                ),
                (
                    _fmt(r["labour_revenue"], "money", currency),
                    _records_url("ro_delivered", q, advisor=r["user_id"]),
                ),
                (
                    _fmt(r["parts_revenue"], "money", currency),
                    _records_url("ro_delivered", q, advisor=r["user_id"]),
                ),
                (
                    _fmt(r["on_time_delivery_rate"], "rate"),
                    _records_url("ro_delivered", q, advisor=r["user_id"], only="on_time"),
                ),
                (
                    _fmt(r["comeback_rate"], "rate"),
                    _records_url("ro_delivered", q, advisor=r["user_id"], only="came_back"),
                ),
                (
                    _fmt(r["followup_rate"], "rate"),
                    _records_url("ro_delivered", q, advisor=r["user_id"], only="followed_up"),
                ),
                (
                    _fmt(r["satisfaction_rate"], "rate"),
                    _records_url("followups_reached", q, advisor=r["user_id"]),
                ),
            ],
        }
        for r in now["advisors"]
    ]
    technicians = [
        {
            **r,
            "cells": [
                (
                    _fmt(r["jobs_finished"], "count"),
                    _records_url("jobs_finished", q, technician=r["user_id"]),
                ),
                (
                    _fmt(r["sold_hours"], "hours"),
                    _records_url("jobs_finished", q, technician=r["user_id"]),
                ),
                (
                    _fmt(r["finished_clocked_hours"], "hours"),
                    _records_url("jobs_finished", q, technician=r["user_id"]),
                ),
                (
                    _fmt(r["clocked_hours"], "hours"),
                    _records_url("clock_entries", q, technician=r["user_id"]),
                ),
                (_fmt(r["attended_hours"], "hours"), ""),
                (
                    _fmt(r["technician_efficiency"], "rate"),
                    _records_url("jobs_finished", q, technician=r["user_id"]),
                ),
                (
                    _fmt(r["technician_productivity"], "rate"),
                    _records_url("clock_entries", q, technician=r["user_id"]),
                ),
            ],
        }
        for r in now["technicians"]
    ]
    site_choices = [
        (str(s.pk), s.name)
        for s in Site.objects.filter(pk__in=selectors.manager_site_ids(request.user)).order_by(
            "name"
        )
    ]
    context = {
        "q": q,
        "error": error,
        "kpis": now,
        "tiles": tiles,
        "retention": retention,
        "retention_help": RETENTION_HELP,
        "advisors": advisors,
        "technicians": technicians,
        "implausible_url": _records_url("jobs_finished", q, only="implausible_time"),
        "trend": now["trend"],
        "presets": [
            (k, v, "?" + urlencode({"site": q.site_param or "all", "preset": k}))
            for k, v in selectors.PRESETS.items()
            if k != "custom"
        ],
        "site_choices": site_choices,
        "previous": prev_scope,
        "export_url": f"{reverse('kpis:export')}?{q.qs()}",
        "definitions": KPIS,
        "chart_labels": {
            "opened": _("ROs opened"),
            "delivered": _("ROs delivered"),
            "target": _("target 98 %"),
        },
    }
    return render(request, "kpis/dashboard.html", context)


# ---------------------------------------------------------------------------- drill-down --

MAX_ROWS = 200


def _link(candidates: tuple[str, ...], pk) -> str:
    for name in candidates:
        try:
            return reverse(name, args=[pk])
        except NoReverseMatch:
            continue
    return ""


def _dt(value) -> str:
    if value is None:
        return ""
    if hasattr(value, "hour"):
        return date_format(timezone.localtime(value), "Y-m-d H:i")
    return date_format(value, "Y-m-d")


def _name(user) -> str:
    return (user.get_full_name() or user.username) if user else ""


RO_LINK = ("workorders:detail", "workorders:repair_order")
CUSTOMER_LINK = ("customers:customer_detail", "customers:detail")
VEHICLE_LINK = ("customers:vehicle_detail", "customers:vehicle")
COMPLAINT_LINK = ("followups:complaint_detail", "followups:complaint")


def _columns(kind: str):
    """(header, cell(obj) → (text, url)) per record kind."""
    ro = lambda r: (r.number, _link(RO_LINK, r.pk))  # noqa: E731
    if kind == "ro":
        return [
            (_("RO"), ro),
            (_("Plate"), lambda r: (str(r.vehicle), _link(VEHICLE_LINK, r.vehicle_id))),
            (_("Customer"), lambda r: (r.customer.name, _link(CUSTOMER_LINK, r.customer_id))),
            (_("Advisor"), lambda r: (_name(r.advisor), "")),
            (_("Opened"), lambda r: (_dt(r.opened_day), "")),
            (_("Promised"), lambda r: (_dt(r.promised_at), "")),
            (_("Delivered"), lambda r: (_dt(r.delivered_at), "")),
            (_("Status"), lambda r: (r.get_status_display(), "")),
            (_("Labour"), lambda r: (number_format(r.labour_total, 2), "")),
            (_("Parts"), lambda r: (number_format(r.parts_total, 2), "")),
        ]
    if kind == "appointment":
        return [
            (_("Start"), lambda a: (_dt(a.start), "")),
            (_("Plate"), lambda a: (str(a.vehicle), _link(VEHICLE_LINK, a.vehicle_id))),
            (_("Customer"), lambda a: (a.customer.name, _link(CUSTOMER_LINK, a.customer_id))),
            (_("Advisor"), lambda a: (_name(a.advisor), "")),
            (_("Source"), lambda a: (a.get_source_display(), "")),
            (_("Status"), lambda a: (a.get_status_display(), "")),
            (_("Hours"), lambda a: (number_format(a.estimated_hours, 1), "")),
        ]
    if kind == "job":
        return [
            (_("RO"), lambda j: ro(j.repair_order)),
            (_("Plate"), lambda j: (str(j.repair_order.vehicle), "")),
            (_("Job"), lambda j: (j.description, "")),
            (_("Technician"), lambda j: (_name(j.technician), "")),
            (_("Approval"), lambda j: (j.get_approval_display(), "")),
            (_("Standard hours"), lambda j: (number_format(j.standard_hours, 2), "")),
            (
                _("Clocked hours"),
                lambda j: (
                    number_format(getattr(j, "clocked_seconds", 0) / 3600, 2)
                    if hasattr(j, "clocked_seconds")
                    else "",
                    "",
                ),
            ),
            (_("Labour"), lambda j: (number_format(j.labour_amount, 2), "")),
            (_("Signed off"), lambda j: (_dt(j.signed_off_at), "")),
        ]
    if kind == "clock":
        return [
            (_("Technician"), lambda c: (_name(c.technician), "")),
            (_("RO"), lambda c: ro(c.job.repair_order)),
            (_("Job"), lambda c: (c.job.description, "")),
            (_("Clocked on"), lambda c: (_dt(c.started_at), "")),
            (_("Clocked off"), lambda c: (_dt(c.ended_at), "")),
            (_("Hours"), lambda c: (number_format(c.seconds / 3600, 2), "")),
        ]
    if kind == "task":
        return [
            (_("RO"), lambda t: ro(repair_order_of(t)) if repair_order_of(t) else ("", "")),
            (_("Customer"), lambda t: (t.customer.name, _link(CUSTOMER_LINK, t.customer_id))),
            (_("Agent"), lambda t: (_name(t.assignee), "")),
            (_("Window"), lambda t: (f"{_dt(t.due_at)} – {_dt(t.due_until)}", "")),
            (_("Completed"), lambda t: (_dt(t.completed_at), "")),
            (_("Outcome"), lambda t: (str(OUTCOME_LABELS.get(t.outcome, t.outcome)), "")),
            (_("Satisfaction"), lambda t: (str(t.satisfaction or ""), "")),
            (_("Comments"), lambda t: (t.comments, "")),
        ]
    if kind == "complaint":
        return [
            (_("Complaint"), lambda c: (f"#{c.pk}", _link(COMPLAINT_LINK, c.pk))),
            (_("Customer"), lambda c: (c.customer.name, _link(CUSTOMER_LINK, c.customer_id))),
            (_("RO"), lambda c: ro(c.repair_order) if c.repair_order else ("", "")),
            (pgettext("complaint", "Opened"), lambda c: (_dt(c.opened_at), "")),
            (_("Respond by"), lambda c: (_dt(c.respond_by), "")),
            (_("Contacted"), lambda c: (_dt(c.contacted_at), "")),
            (_("Closed"), lambda c: (_dt(c.closed_at), "")),
            (_("Status"), lambda c: (c.get_status_display(), "")),
        ]
    if kind == "vehicle":
        return [
            (_("Plate"), lambda v: (str(v), _link(VEHICLE_LINK, v.pk))),
            (_("VIN"), lambda v: (v.vin, "")),
            (_("Owner"), lambda v: (v.owner.name, _link(CUSTOMER_LINK, v.owner_id))),
            (_("Model"), lambda v: (f"{v.make} {v.model}".strip(), "")),
            (_("Purchased"), lambda v: (_dt(v.purchase_date), "")),
            (_("Next service due"), lambda v: (_dt(v.service_due_on), "")),
        ]
    return [  # customer
        (_("Customer"), lambda c: (c.name, _link(CUSTOMER_LINK, c.pk))),
        (_("Phone"), lambda c: (c.phone, "")),
        (_("Last delivery"), lambda c: (_dt(c.last_delivery_at), "")),
    ]


FLAG_LABELS = {
    "on_time": gettext_lazy("On time"),
    "qc_first_pass": gettext_lazy("QC first pass"),
    "came_back": gettext_lazy("Came back"),
    "followed_up": gettext_lazy("Followed up in window"),
    "in_warranty": gettext_lazy("Warranty"),
    "from_appointment": gettext_lazy("From appointment"),
    "arrived": gettext_lazy("Arrived"),
    "approved": gettext_lazy("Approved"),
    "recovered_later": gettext_lazy("Recovered later"),
    "satisfied": gettext_lazy("Satisfied"),
    "is_overdue": gettext_lazy("Overdue"),
    "is_captured": gettext_lazy("Came for it"),
    "implausible_time": gettext_lazy("Implausibly short clock time"),
}


def _int_param(request, name: str) -> int | None:
    try:
        return int(request.GET.get(name, ""))
    except ValueError:
        return None


def _records(request, key: str):
    if key not in selectors.RECORD_SETS:
        raise Http404
    q, error = _query_or_error(request)
    if error:
        raise Http404(error.message)
    scope = q.scope()
    advisor, technician = _int_param(request, "advisor"), _int_param(request, "technician")
    only = request.GET.get("only", "")
    rs, qs = selectors.kpi_records(
        key, scope, advisor_id=advisor, technician_id=technician, only=only
    )
    return q, rs, qs, advisor, technician, only


def _row(obj, columns, flags):
    cells = [fn(obj) for _h, fn in columns]
    return cells, [bool(getattr(obj, f)) for f in flags]


@manager_required
@replica_reads  # reads may lag the primary a little (DATABASE_REPLICA_URL)
def records(request, key: str):
    q, rs, qs, advisor, technician, only = _records(request, key)
    if request.GET.get("format") == "csv":
        return _records_csv(key, rs, qs)
    columns = _columns(rs.kind)
    total = qs.count()
    rows = [_row(o, columns, rs.flags) for o in qs[:MAX_ROWS]]
    title = {
        **{k.records: k.label for k in reversed(KPIS) if k.records},
    }.get(key, key.replace("_", " ").capitalize())
    kpi_help = [k for k in KPIS if k.records == key]
    who = None
    if advisor or technician:
        from django.contrib.auth import get_user_model

        who = get_user_model().objects.filter(pk=advisor or technician).first()
    context = {
        "q": q,
        "key": key,
        "title": title,
        "helps": kpi_help or [],
        "retention_help": RETENTION_HELP if key.startswith("retention_") else "",
        "who": _name(who) if who else "",
        "headers": [h for h, _fn in columns],
        "flags": [(f, FLAG_LABELS.get(f, f)) for f in rs.flags],
        "only": only,
        "flag_links": [
            (
                f,
                FLAG_LABELS.get(f, f),
                _records_url(key, q, advisor=advisor, technician=technician, only=f),
            )
            for f in rs.flags
        ],
        "colspan": len(columns) + len(rs.flags),
        "all_url": _records_url(key, q, advisor=advisor, technician=technician),
        "rows": rows,
        "total": total,
        "shown": len(rows),
        "csv_url": _records_url(
            key, q, advisor=advisor, technician=technician, only=only, format="csv"
        ),
        "back_url": f"{reverse('kpis:dashboard')}?{q.qs()}",
    }
    return render(request, "kpis/records.html", context)


def _stream(filename: str, rows):
    return csv_response(filename, rows, bom=False)


def _records_csv(key, rs, qs):
    columns = _columns(rs.kind)

    def rows():
        yield (
            ["\ufeff" + str(columns[0][0])]
            + [str(h) for h, _f in columns[1:]]
            + [str(FLAG_LABELS.get(f, f)) for f in rs.flags]
        )
        for obj in qs.iterator(chunk_size=2000):
            cells, flags = _row(obj, columns, rs.flags)
            yield [text for text, _url in cells] + ["1" if f else "0" for f in flags]

    return _stream(f"kpi-{key}.csv", rows())


@manager_required
@replica_reads  # reads may lag the primary a little (DATABASE_REPLICA_URL)
def export(request):
    """The dashboard as CSV: every KPI, then the advisor and technician tables."""
    q, error = _query_or_error(request)
    if error:
        raise Http404(error.message)
    data = selectors.compute_for_scope(q.scope(), detail=True)

    def rows():
        yield ["\ufeff" + _("KPI"), _("Value"), _("Definition")]
        yield [_("Period"), f"{q.start.isoformat()} – {q.end.isoformat()}", ""]
        yield [_("Sites"), ", ".join(s.name for s in q.sites), ""]
        for k in KPIS:
            v = data[k.key]
            yield [str(k.label), "" if v is None else v, str(k.help)]
        retention = _("Retention")
        for b, n in data["retention"].items():
            yield [f"{retention}: {b}", n, str(RETENTION_HELP)]
        yield []
        adv_cols = [
            "ro_opened",
            "ro_delivered",
            "appointment_rate",
            "hours_per_ro",
            "labour_revenue",
            "parts_revenue",
            "on_time_delivery_rate",
            "comeback_rate",
            "followup_rate",
            "satisfaction_rate",
        ]
        yield [_("Advisor"), *adv_cols]
        for r in data["advisors"]:
            yield [r["name"], *["" if r[c] is None else r[c] for c in adv_cols]]
        yield []
        tech_cols = [
            "jobs_finished",
            "sold_hours",
            "clocked_hours",
            "attended_hours",
            "technician_efficiency",
            "technician_productivity",
        ]
        yield [_("Technician"), *tech_cols]
        for r in data["technicians"]:
            yield [r["name"], *["" if r[c] is None else r[c] for c in tech_cols]]

    return _stream(f"kpis-{q.start.isoformat()}-{q.end.isoformat()}.csv", rows())
