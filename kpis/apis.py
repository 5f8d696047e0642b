"""KPI API.

    GET /api/v1/kpis/?site=3&start=2026-03-01&end=2026-03-31[&detail=1]
    GET /api/v1/kpis/?preset=last_month            (all the sites you manage)

Dates are site-local and inclusive. Rates are fractions 0–1 or null when nothing to divide by.
"""

from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from dms.api.schema import error_response
from dms.exceptions import ApplicationError, PermissionDeniedError
from dms.models import Role, Site

from .definitions import KPIS
from .forms import KpiQueryForm
from .selectors import kpis_compute, manager_site_ids


def _kpi_field(unit: str) -> serializers.Field:
    if unit == "count":
        return serializers.IntegerField()
    return serializers.FloatField(allow_null=True)


class RetentionSerializer(serializers.Serializer):
    active = serializers.IntegerField()
    at_risk = serializers.IntegerField()
    nearly_lost = serializers.IntegerField()
    lost = serializers.IntegerField()


KpiResultSerializer = type(
    "KpiResult",
    (serializers.Serializer,),
    {
        "sites": serializers.ListField(child=serializers.IntegerField()),
        "start": serializers.DateField(),
        "end": serializers.DateField(),
        **{k.key: _kpi_field(k.unit) for k in KPIS},
        "additional_work_amount_capture_rate": serializers.FloatField(allow_null=True),
        "additional_lines_proposed": serializers.IntegerField(),
        "additional_lines_approved": serializers.IntegerField(),
        "additional_lines_declined": serializers.IntegerField(),
        "declined_work_recovered": serializers.IntegerField(),
        "first_service_due": serializers.IntegerField(),
        "retention": RetentionSerializer(),
        "labour_revenue": serializers.FloatField(),
        "parts_revenue": serializers.FloatField(),
        "sold_hours": serializers.FloatField(),
        "clocked_hours": serializers.FloatField(),
        "attended_hours": serializers.FloatField(),
        "booked_hours": serializers.FloatField(),
        "capacity_hours": serializers.FloatField(),
        "advisors": serializers.ListField(
            child=serializers.DictField(), required=False, help_text="with detail=1"
        ),
        "technicians": serializers.ListField(
            child=serializers.DictField(), required=False, help_text="with detail=1"
        ),
        "trend": serializers.DictField(required=False, help_text="with detail=1"),
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
            400: error_response(400, "Bad period or site"),
            403: error_response(403, "Not a service manager"),
            404: error_response(404, "Not one of your sites"),
        },
    )
    def get(self, request):
        site_ids, data = resolve_query(request.query_params, request.user)
        detail = request.query_params.get("detail", "") in ("1", "true", "yes")
        return Response(
            kpis_compute(site_ids=site_ids, start=data["start"], end=data["end"], detail=detail)
        )


urlpatterns = [path("kpis/", KpiApi.as_view(), name="kpis")]
