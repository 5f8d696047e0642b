"""KPI API.

    GET /api/v1/kpis/?site=3&start=2026-03-01&end=2026-03-31[&detail=1]
    GET /api/v1/kpis/?preset=last_month            (all the sites you manage)

Dates are site-local and inclusive. Rates are fractions 0–1 or null when nothing to divide by.
"""

from django.urls import path
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from dms.api.schema import error_response
from dms.dbrouting import reading_replica
from dms.exceptions import ApplicationError, PermissionDeniedError
from dms.models import Role, Site

from .definitions import KPIS
from .forms import KpiQueryForm
from .selectors import kpis_compute, manager_site_ids

KPI_BY_KEY = {k.key: k for k in KPIS}


def _kpi_field(key: str) -> serializers.Field:
    """A KPI's field, described by its definition (the dashboard's tooltip text)."""
    kpi = KPI_BY_KEY[key]
    # lazy: the schema is written in English whatever language this module was imported in
    if kpi.unit == "count":
        return serializers.IntegerField(help_text=format_lazy("{}: {}", kpi.label, kpi.help))
    if kpi.unit == "rate":
        return serializers.FloatField(
            allow_null=True,
            help_text=format_lazy(
                "{}: {} A fraction 0–1; null when nothing to divide by.", kpi.label, kpi.help
            ),
        )
    return serializers.FloatField(
        allow_null=True,
        help_text=format_lazy("{}: {} Null when nothing to divide by.", kpi.label, kpi.help),
    )


class RetentionSerializer(serializers.Serializer):
    """Customers of the sites by retention bucket, now."""

    active = serializers.IntegerField()
    at_risk = serializers.IntegerField()
    nearly_lost = serializers.IntegerField()
    lost = serializers.IntegerField()


def _fields(keys, extra=None):
    return {k: _kpi_field(k) for k in keys} | (extra or {})


KpiAdvisorRow = type(
    "KpiAdvisorRow",
    (serializers.Serializer,),
    {
        "__doc__": "One advisor's figures for the period (with detail=1).",
        "user_id": serializers.IntegerField(),
        "name": serializers.CharField(),
        **_fields(
            (
                "ro_opened",
                "ro_delivered",
                "appointment_rate",
                "hours_per_ro",
                "on_time_delivery_rate",
                "comeback_rate",
                "followup_rate",
                "satisfaction_rate",
            )
        ),
        "labour_revenue": serializers.FloatField(help_text="Labour amount of delivered ROs."),
        "parts_revenue": serializers.FloatField(help_text="Parts amount of delivered ROs."),
    },
)

KpiTechnicianRow = type(
    "KpiTechnicianRow",
    (serializers.Serializer,),
    {
        "__doc__": "One technician's figures for the period (with detail=1).",
        "user_id": serializers.IntegerField(),
        "name": serializers.CharField(),
        "jobs_finished": serializers.IntegerField(help_text="Jobs signed off in the period."),
        "sold_hours": serializers.FloatField(help_text="Standard hours of the jobs finished."),
        "clocked_hours": serializers.FloatField(help_text="Hours clocked on jobs."),
        "attended_hours": serializers.FloatField(help_text="Hours on duty."),
        **_fields(("technician_efficiency", "technician_productivity")),
    },
)


TREND_UNITS = ["day", "week"]


class KpiTrend(serializers.Serializer):
    """Per day (per week, Monday-based, for periods over 62 days); each list has one value per
    label (with detail=1)."""

    unit = serializers.ChoiceField(choices=TREND_UNITS)
    labels = serializers.ListField(child=serializers.DateField(), help_text="first day of each")
    ro_opened = serializers.ListField(child=serializers.IntegerField())
    ro_delivered = serializers.ListField(child=serializers.IntegerField())
    revenue = serializers.ListField(child=serializers.FloatField())
    on_time_delivery_rate = serializers.ListField(child=serializers.FloatField(allow_null=True))
    satisfaction_rate = serializers.ListField(child=serializers.FloatField(allow_null=True))


KpiResultSerializer = type(
    "KpiResult",
    (serializers.Serializer,),
    {
        "__doc__": "Every KPI of the period; definitions as in docs/kpis.md.",
        "sites": serializers.ListField(child=serializers.IntegerField()),
        "start": serializers.DateField(),
        "end": serializers.DateField(),
        **{k.key: _kpi_field(k.key) for k in KPIS},
        "additional_work_amount_capture_rate": serializers.FloatField(
            allow_null=True,
            help_text="Amount of approved additional work ÷ amount proposed (0–1 or null).",
        ),
        "additional_lines_proposed": serializers.IntegerField(),
        "additional_lines_approved": serializers.IntegerField(),
        "additional_lines_declined": serializers.IntegerField(),
        "declined_work_recovered": serializers.IntegerField(
            help_text="Declined lines later done on another repair order."
        ),
        "first_service_due": serializers.IntegerField(
            help_text="Sold vehicles whose first service fell due in the period."
        ),
        "retention": RetentionSerializer(),
        "labour_revenue": serializers.FloatField(help_text="Labour amount of delivered ROs."),
        "parts_revenue": serializers.FloatField(help_text="Parts amount of delivered ROs."),
        "sold_hours": serializers.FloatField(help_text="Standard hours sold on delivered ROs."),
        "clocked_hours": serializers.FloatField(help_text="Hours technicians clocked on jobs."),
        "attended_hours": serializers.FloatField(help_text="Hours technicians were on duty."),
        "booked_hours": serializers.FloatField(help_text="Workshop hours booked by appointments."),
        "capacity_hours": serializers.FloatField(help_text="Workshop hours available."),
        "advisors": KpiAdvisorRow(many=True, required=False, help_text="with detail=1"),
        "technicians": KpiTechnicianRow(many=True, required=False, help_text="with detail=1"),
        "trend": KpiTrend(required=False, help_text="with detail=1"),
    },
)


def resolve_query(params, user) -> tuple[list[int], dict]:
    """Validate ?site=&start=&end=&preset= for a manager; → (site ids, cleaned data)."""
    allowed = manager_site_ids(user)
    if not allowed:
        raise PermissionDeniedError(
            _("This needs the role: %(roles)s.") % {"roles": Role.MANAGER.label}
        )
    first = Site.objects.filter(pk__in=allowed).order_by("pk").first()
    today = timezone.localtime(timezone.now(), first.tzinfo).date()
    form = KpiQueryForm(params, today=today, allowed_site_ids=allowed)
    if not form.is_valid():
        if getattr(form, "unknown_site", False):
            raise ApplicationError(
                _("No such site among yours."), fields={"site": [_("No such site among yours.")]}
            )
        fields = {k: [str(m) for m in v] for k, v in form.errors.items()}
        raise ApplicationError(next(iter(fields.values()))[0], fields=fields)
    data = form.cleaned_data
    return data["site"] or allowed, data


class KpiApi(APIView):
    """Every KPI of SPEC §6 for one site or all the sites you manage (service manager)."""

    @extend_schema(
        parameters=[
            OpenApiParameter("site", OpenApiTypes.STR, description="site id or 'all' (default)"),
            OpenApiParameter("start", OpenApiTypes.DATE, description="first day (site-local)"),
            OpenApiParameter("end", OpenApiTypes.DATE, description="last day, inclusive"),
            OpenApiParameter(
                "preset",
                OpenApiTypes.STR,
                enum=["today", "this_week", "this_month", "last_month"],
                description="instead of start/end; default this_month",
            ),
            OpenApiParameter("detail", OpenApiTypes.BOOL, description="add tables and trends"),
        ],
        responses={
            200: KpiResultSerializer,
            400: error_response(400, "Bad period, or a site that is not one of yours"),
            403: error_response(403, "Not a service manager"),
        },
    )
    def get(self, request):
        site_ids, data = resolve_query(request.query_params, request.user)
        detail = request.query_params.get("detail", "") in ("1", "true", "yes")
        with reading_replica():  # the read replica when there is one (DATABASE_REPLICA_URL)
            result = kpis_compute(
                site_ids=site_ids, start=data["start"], end=data["end"], detail=detail
            )
        return Response(result)


urlpatterns = [path("kpis/", KpiApi.as_view(), name="kpis")]
