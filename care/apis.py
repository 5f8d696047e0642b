"""REST API of proactive care.

- `/api/v1/reminder-rules/` (service manager): the site's rules, one per kind; change them with
  PATCH/PUT; `POST /api/v1/reminder-rules/run/` runs today's rules now (a second run the same day
  adds nothing).
- `/api/v1/care-bookings/` (follow-up agent, advisor): book an appointment from a care task in one
  step (source "proactive", linked to the task).

The care tasks themselves are call tasks, served by `/api/v1/call-tasks/`.
"""

from django.contrib.auth import get_user_model
from django.urls import include, path
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.views import APIView

from appointments.models import Appointment
from dms.api.fields import MomentField
from dms.api.schema import error_responses
from dms.exceptions import ApplicationError, NotFoundError
from dms.models import Role
from dms.permissions import HasRole, has_role, site_ids_of
from outreach.models import CallTask

from . import services
from .models import ReminderRule, ReminderRun


class ReminderRuleSerializer(serializers.ModelSerializer):
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)

    class Meta:
        model = ReminderRule
        fields = [
            "id",
            "site",
            "kind",
            "kind_display",
            "enabled",
            "lead_days",
            "window_days",
            "channel",
            "is_marketing",
            "min_gap_days",
            "interval_months",
            "interval_km",
            "message_zh",
            "message_en",
            "updated_at",
        ]
        read_only_fields = ["id", "site", "kind", "kind_display", "updated_at"]


class ReminderRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReminderRun
        fields = ["id", "site", "day", "started_at", "finished_at", "created", "skipped"]
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(
        summary="The reminder rules of the current site (one per kind)",
        responses={200: ReminderRuleSerializer(many=True), **error_responses(403)},
    ),
    retrieve=extend_schema(
        summary="One reminder rule",
        responses={200: ReminderRuleSerializer, **error_responses(403, 404)},
    ),
    update=extend_schema(
        summary="Change a reminder rule",
        request=ReminderRuleSerializer,
        responses={200: ReminderRuleSerializer, **error_responses(400, 403, 404)},
    ),
    partial_update=extend_schema(
        summary="Change some settings of a reminder rule",
        request=ReminderRuleSerializer,
        responses={200: ReminderRuleSerializer, **error_responses(400, 403, 404)},
    ),
)
class ReminderRuleViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = ReminderRuleSerializer
    queryset = ReminderRule.objects.none()  # not used to serve: tells the schema ids are integers
    permission_classes = [HasRole]
    required_roles = (Role.MANAGER,)
    pagination_class = None  # one row per kind

    def get_queryset(self):
        user = self.request.user
        managed = [s for s in site_ids_of(user) if has_role(user, s, Role.MANAGER)]
        qs = ReminderRule.objects.filter(site_id__in=managed).select_related("site")
        if self.action == "list":
            qs = qs.filter(site=self.request.site)
        return qs.order_by("site_id", "kind")

    def list(self, request, *args, **kwargs):
        services.rules_ensure(site=request.site)
        return super().list(request, *args, **kwargs)

    def perform_update(self, serializer):
        serializer.instance = services.rule_update(
            rule=serializer.instance, actor=self.request.user, **serializer.validated_data
        )

    @extend_schema(
        summary="Run today's rules of the current site now",
        request=None,
        responses={200: ReminderRunSerializer, **error_responses(403)},
    )
    @action(detail=False, methods=["post"])
    def run(self, request):
        result = services.run_reminder_rules(site=request.site)
        return Response(ReminderRunSerializer(result).data)


class CareBookingSerializer(serializers.Serializer):
    task = serializers.IntegerField(help_text="id of the care call task")
    start = MomentField()
    advisor = serializers.IntegerField(required=False, allow_null=True)
    estimated_hours = serializers.DecimalField(
        max_digits=5, decimal_places=1, required=False, allow_null=True
    )
    services = serializers.ListField(child=serializers.CharField(), required=False)
    notes = serializers.CharField(required=False, allow_blank=True, default="")
    override_reason = serializers.CharField(required=False, allow_blank=True, default="")


class BookedAppointmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Appointment
        fields = [
            "id",
            "site",
            "customer",
            "vehicle",
            "advisor",
            "start",
            "end",
            "estimated_hours",
            "services",
            "source",
            "status",
            "notes",
        ]
        read_only_fields = fields


class CareBookingView(APIView):
    permission_classes = [HasRole]
    not_found_from_body = True  # another site's care task is a 404, like its URL would be
    required_roles = (Role.FOLLOWUP_AGENT, Role.ADVISOR)

    @extend_schema(
        summary="Book an appointment from a care task (source proactive, linked to the task)",
        request=CareBookingSerializer,
        responses={201: BookedAppointmentSerializer, **error_responses(400, 403, 404, 409)},
    )
    def post(self, request):
        data = CareBookingSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        # the task must belong to one of the caller's sites (another site's id → 404)
        if not CallTask.objects.filter(
            pk=v["task"], site_id__in=site_ids_of(request.user)
        ).exists():
            raise NotFoundError(_("No such care task."))
        advisor = None
        if v.get("advisor"):
            advisor = get_user_model().objects.filter(pk=v["advisor"]).first()
            if advisor is None:
                raise ApplicationError(
                    _("Unknown advisor."), fields={"advisor": _("Unknown advisor.")}
                )
        appointment = services.book_from_task(
            task_id=v["task"],
            actor=request.user,
            start=v["start"],
            advisor=advisor,
            estimated_hours=v.get("estimated_hours"),
            services=v.get("services") or None,
            notes=v.get("notes", ""),
            override_reason=v.get("override_reason", ""),
        )
        return Response(
            BookedAppointmentSerializer(appointment).data, status=status.HTTP_201_CREATED
        )


router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("reminder-rules", ReminderRuleViewSet, basename="reminder-rule")

urlpatterns = [
    path("", include(router.urls)),
    path("care-bookings/", CareBookingView.as_view(), name="care-booking"),
]
