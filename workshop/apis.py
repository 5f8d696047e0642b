"""Workshop API: assign a job, clock on/off, sign it off, and the board as JSON.

POST /api/v1/jobs/{id}/assign/     {"technician_id": 7, "bay": "B2"}
POST /api/v1/jobs/{id}/clock-on/
POST /api/v1/jobs/{id}/clock-off/
POST /api/v1/jobs/{id}/sign-off/   {"self_check": {"work_as_ordered": true, …}, "report": "…"}
GET  /api/v1/workshop/board/
"""

from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from dms.api.schema import error_response
from dms.models import Role
from dms.permissions import HasRole
from workorders.models import JobLine, ROStatus

from . import selectors, services
from .models import ClockEntry, JobSignOff
from .selectors import BOARD_COLUMNS

BOARD_COLUMN_KEYS = [key for key, _label, _statuses in BOARD_COLUMNS]

ERRORS = {
    400: error_response(400, "Bad input (field → messages)"),
    403: error_response(403, "Not allowed (says who may)"),
    404: error_response(404, "No such job at your sites"),
    409: error_response(409, "Refused in the current state, with why"),
}


class JobSerializer(serializers.ModelSerializer):
    technician_name = serializers.SerializerMethodField()

    class Meta:
        model = JobLine
        fields = [
            "id",
            "repair_order",
            "description",
            "standard_hours",
            "actual_hours",
            "approval",
            "work_status",
            "technician",
            "technician_name",
            "bay",
            "signed_off_at",
        ]
        read_only_fields = fields

    def get_technician_name(self, job) -> str:
        return selectors.person_name(job.technician)


class ClockEntrySerializer(serializers.ModelSerializer):
    job = JobSerializer(read_only=True)

    class Meta:
        model = ClockEntry
        fields = ["id", "technician", "started_at", "ended_at", "job"]
        read_only_fields = fields


@extend_schema_serializer(component_name="JobAssignInput")
class AssignInput(serializers.Serializer):
    technician_id = serializers.IntegerField()
    bay = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")


class JobAssignApi(APIView):
    """Assign a job to a technician (and a bay). Dispatcher mode: the dispatcher assigns; team
    mode: the advisor leading the technician's team. The other role gets 403 saying who."""

    permission_classes = [HasRole]
    required_roles = (Role.DISPATCHER, Role.ADVISOR)

    @extend_schema(request=AssignInput, responses={200: JobSerializer, **ERRORS})
    def post(self, request, job_id: int):
        data = AssignInput(data=request.data)
        data.is_valid(raise_exception=True)
        job = services.job_assign(job_id=job_id, actor=request.user, **data.validated_data)
        job = JobLine.objects.select_related("technician").get(pk=job.pk)
        return Response(JobSerializer(job).data)


class JobClockOnApi(APIView):
    """Clock on a job. Refused (409, with the reason) while the RO is not authorized, in
    progress or in rework, or the job waits on approval or parts, or the technician is already
    on another job."""

    permission_classes = [HasRole]
    required_roles = (Role.TECHNICIAN,)

    @extend_schema(request=None, responses={200: ClockEntrySerializer, **ERRORS})
    def post(self, request, job_id: int):
        entry = services.job_clock_on(job_id=job_id, actor=request.user)
        entry = ClockEntry.objects.select_related("job__technician").get(pk=entry.pk)
        return Response(ClockEntrySerializer(entry).data)


class JobClockOffApi(APIView):
    """Clock off a job; the job's actual hours are the sum of its clock entries."""

    permission_classes = [HasRole]
    required_roles = (Role.TECHNICIAN,)

    @extend_schema(request=None, responses={200: ClockEntrySerializer, **ERRORS})
    def post(self, request, job_id: int):
        entry = services.job_clock_off(job_id=job_id, actor=request.user)
        entry = ClockEntry.objects.select_related("job__technician").get(pk=entry.pk)
        return Response(ClockEntrySerializer(entry).data)


SelfCheck = type(
    "SelfCheck",
    (serializers.Serializer,),
    {
        "__doc__": "The technician's self-check: every item must be true to sign off.",
        **{
            key: serializers.BooleanField(required=False, help_text=label)
            for key, label in services.SELF_CHECK_ITEMS
        },
    },
)


class SignOffInput(serializers.Serializer):
    self_check = SelfCheck()
    report = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class SignOffSerializer(serializers.ModelSerializer):
    repair_order_status = serializers.ChoiceField(
        ROStatus.choices, source="job.repair_order.status", read_only=True
    )

    class Meta:
        model = JobSignOff
        fields = [
            "id",
            "job",
            "technician",
            "self_check",
            "report",
            "signed_at",
            "repair_order_status",
        ]
        read_only_fields = fields


class JobSignOffApi(APIView):
    """The technician signs the finished job after the self-check (every item true); the open
    clock entry is closed. When every agreed job of the RO is signed the work is complete
    (`repair_order_status` becomes `work_done`, waiting for QC). Signing again is a no-op."""

    permission_classes = [HasRole]
    required_roles = (Role.TECHNICIAN,)

    @extend_schema(request=SignOffInput, responses={200: SignOffSerializer, **ERRORS})
    def post(self, request, job_id: int):
        data = SignOffInput(data=request.data)
        data.is_valid(raise_exception=True)
        sign_off = services.job_sign_off(job_id=job_id, actor=request.user, **data.validated_data)
        sign_off = JobSignOff.objects.select_related("job__repair_order").get(pk=sign_off.pk)
        return Response(SignOffSerializer(sign_off).data)


_BoardJobs = inline_serializer(
    "BoardJob",
    many=True,
    fields={
        "id": serializers.IntegerField(),
        "description": serializers.CharField(),
        "standard_hours": serializers.FloatField(),
        "actual_hours": serializers.FloatField(),
        "technician_id": serializers.IntegerField(allow_null=True),
        "technician": serializers.CharField(),
        "bay": serializers.CharField(),
        "work_status": serializers.ChoiceField(JobLine.WorkStatus.choices),
        "approval": serializers.ChoiceField(JobLine.Approval.choices),
        "clocked_on": serializers.BooleanField(),
        "refusal": serializers.CharField(
            allow_null=True, help_text="why a clock-on would be refused now; null when it would not"
        ),
        "parts": inline_serializer(
            "BoardJobParts",
            fields={
                "part": serializers.CharField(),
                "expected_date": serializers.DateField(allow_null=True),
            },
            allow_null=True,
            help_text="the part the job waits for, if any",
        ),
    },
)
_BoardCards = inline_serializer(
    "BoardCard",
    many=True,
    fields={
        "id": serializers.IntegerField(),
        "number": serializers.CharField(),
        "status": serializers.ChoiceField(ROStatus.choices),
        "plate": serializers.CharField(),
        "model": serializers.CharField(),
        "advisor": serializers.CharField(),
        "promised_at": serializers.DateTimeField(allow_null=True),
        "minutes_left": serializers.IntegerField(allow_null=True),
        "remaining_hours": serializers.FloatField(),
        "risk": serializers.ChoiceField(choices=["", "ok", "at_risk", "late"]),
        "rework": serializers.BooleanField(),
        "technicians": serializers.ListField(child=serializers.CharField()),
        "bays": serializers.ListField(child=serializers.CharField()),
        "jobs": _BoardJobs,
    },
)
_BoardColumns = inline_serializer(
    "BoardColumn",
    many=True,
    fields={
        "key": serializers.ChoiceField(BOARD_COLUMN_KEYS),
        "label": serializers.CharField(help_text="in the user's language"),
        "cards": _BoardCards,
    },
)


class BoardApi(APIView):
    """The workshop board's columns (to dispatch, in progress, waiting approval, waiting parts,
    QC, washing, ready) with their cards, for the current site (`X-Site` to choose)."""

    permission_classes = [HasRole]
    required_roles = (Role.DISPATCHER, Role.ADVISOR, Role.TECHNICIAN, Role.QC_INSPECTOR)

    @extend_schema(
        responses={
            200: inline_serializer(
                "Board",
                {
                    "site": serializers.IntegerField(),
                    "generated_at": serializers.DateTimeField(),
                    "columns": _BoardColumns,
                },
            ),
            403: ERRORS[403],
        }
    )
    def get(self, request):
        now = timezone.now()
        columns = selectors.board_columns(site=request.site, now=now)
        keep = {
            "id", "number", "status", "plate", "model", "advisor", "promised_at", "minutes_left",
            "remaining_hours", "risk", "rework", "technicians", "bays",
        }  # fmt: skip
        job_keys = {
            "id", "description", "standard_hours", "actual_hours", "technician_id", "technician",
            "bay", "work_status", "approval", "clocked_on", "refusal", "parts",
        }  # fmt: skip
        body = {
            "site": request.site.pk,
            "generated_at": now,
            "columns": [
                {
                    "key": col["key"],
                    "label": str(col["label"]),
                    "cards": [
                        {
                            **{k: v for k, v in card.items() if k in keep},
                            "jobs": [
                                {k: v for k, v in job.items() if k in job_keys}
                                for job in card["jobs"]
                            ],
                        }
                        for card in col["cards"]
                    ],
                }
                for col in columns
            ],
        }
        return Response(body)


urlpatterns = [
    path("jobs/<int:job_id>/assign/", JobAssignApi.as_view(), name="workshop-job-assign"),
    path("jobs/<int:job_id>/clock-on/", JobClockOnApi.as_view(), name="workshop-job-clock-on"),
    path("jobs/<int:job_id>/clock-off/", JobClockOffApi.as_view(), name="workshop-job-clock-off"),
    path("jobs/<int:job_id>/sign-off/", JobSignOffApi.as_view(), name="workshop-job-sign-off"),
    path("workshop/board/", BoardApi.as_view(), name="workshop-board"),
]
