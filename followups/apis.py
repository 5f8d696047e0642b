"""REST API: call tasks (my queue + outcome), follow-ups, complaints (one action per step)."""

from django.contrib.auth import get_user_model
from django.db.models import Q, TextField
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import (
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from customers.models import Channel
from dms.api import sqlrows
from dms.api.fields import MomentField
from dms.api.filters import FilterSet
from dms.api.lists import DetailLink, RecordRows, RowSerializer
from dms.api.pagination import cursor_pagination
from dms.api.schema import error_responses
from dms.exceptions import ApplicationError
from dms.models import Role
from dms.permissions import HasRole, site_ids_of
from outreach.models import RECORDED_OUTCOMES, CallOutcome, CallTask, TaskKind, TaskStatus

from . import selectors, services
from .models import Complaint, ComplaintCause, ComplaintChannel, ComplaintDecision, ComplaintStatus

ERRORS = error_responses(400, 403, 404, 409)
# what a call task's `outcome` can hold: the agent's answers, and "booked" when a care call
# ended in an appointment (care.services)
CALLERS = (Role.FOLLOWUP_AGENT, Role.ADVISOR, Role.TECHNICIAN, Role.DISPATCHER)


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField(source="get_full_name")


class CallTaskSerializer(serializers.ModelSerializer):
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    customer_phone = serializers.CharField(source="customer.phone", read_only=True)
    plate = serializers.CharField(source="vehicle.plate", default="", read_only=True)
    # which appointment and repair order a task is about: the apps' link tables
    appointment = serializers.IntegerField(
        source="appointment_link.appointment_id", read_only=True, allow_null=True
    )
    repair_order = serializers.IntegerField(
        source="repair_order_link.repair_order_id", read_only=True, allow_null=True
    )
    repair_order_number = serializers.CharField(
        source="repair_order_link.repair_order.number",
        default=None,
        read_only=True,
        allow_null=True,
    )
    assignee = UserRefSerializer(read_only=True, allow_null=True)
    outcome = serializers.ChoiceField(
        RECORDED_OUTCOMES, allow_blank=True, read_only=True, help_text="empty while open"
    )

    class Meta:
        model = CallTask
        fields = [
            "id",
            "kind",
            "channel",
            "status",
            "customer",
            "customer_name",
            "customer_phone",
            "vehicle",
            "plate",
            "appointment",
            "repair_order",
            "repair_order_number",
            "due_at",
            "due_until",
            "assignee",
            "attempts",
            "outcome",
            "satisfaction",
            "comments",
            "message",
            "completed_at",
        ]
        read_only_fields = fields


class CallTaskRowSerializer(RowSerializer):
    """One call task in a list. `url` is the full task, with the message, comments and who
    it is assigned to."""

    id = serializers.IntegerField()
    url = DetailLink()
    kind = serializers.ChoiceField(TaskKind.choices)
    channel = serializers.ChoiceField(Channel.choices)
    status = serializers.ChoiceField(TaskStatus.choices)
    customer = serializers.IntegerField(source="customer_id")
    customer_name = serializers.CharField(source="customer__name")
    customer_phone = serializers.CharField(source="customer__phone")
    vehicle = serializers.IntegerField(source="vehicle_id", allow_null=True)
    plate = serializers.CharField(source="vehicle__plate", allow_null=True)
    repair_order = serializers.IntegerField(
        source="repair_order_link__repair_order_id", allow_null=True
    )
    repair_order_number = serializers.CharField(
        source="repair_order_link__repair_order__number", allow_null=True
    )
    due_at = serializers.DateTimeField()
    due_until = serializers.DateTimeField()
    assignee = serializers.IntegerField(source="assignee_id", allow_null=True)
    attempts = serializers.IntegerField()
    outcome = serializers.ChoiceField(
        RECORDED_OUTCOMES, allow_blank=True, help_text="empty while open"
    )
    completed_at = serializers.DateTimeField(allow_null=True)


CALL_TASK_SQL_ROWS = sqlrows.SqlRows(lambda: CallTaskRowSerializer().fields)


class OutcomeInput(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=CallOutcome.choices)
    satisfaction = serializers.IntegerField(required=False, allow_null=True)
    comments = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    technical_problem = serializers.BooleanField(required=False, default=False)
    technical_note = serializers.CharField(required=False, allow_blank=True, default="")
    dissatisfied = serializers.BooleanField(required=False, default=False)
    new_start = MomentField(required=False, allow_null=True, default=None)
    reason = serializers.CharField(required=False, allow_blank=True, default="")


@extend_schema_serializer(component_name="CallTaskAssignInput")
class AssignInput(serializers.Serializer):
    assignee = serializers.IntegerField(required=False, help_text=_("user id; default: me"))


def _site_user(site, user_id):
    User = get_user_model()
    user = User.objects.filter(pk=user_id, staff_roles__site=site).distinct().first()
    if user is None:
        raise ApplicationError(
            _("No such staff member at this site."), fields={"assignee": _("Unknown user.")}
        )
    return user


class CallTaskFilter(FilterSet):
    kind = filters.MultipleChoiceFilter(
        choices=TaskKind.choices, help_text="repeat for several: `?kind=followup&kind=reminder`"
    )
    status = filters.MultipleChoiceFilter(
        choices=TaskStatus.choices, help_text="repeat for several: `?status=open&status=queued`"
    )
    due_before = filters.IsoDateTimeFilter(
        field_name="due_at", lookup_expr="lte", help_text="due (`due_at`) at or before this time"
    )
    due_after = filters.IsoDateTimeFilter(
        field_name="due_until",
        lookup_expr="gte",
        help_text="still open (`due_until`) at or after this time",
    )
    all = filters.BooleanFilter(
        method="every_task",
        help_text="service managers: every task of the site, not only yours (and the "
        "follow-ups: not only yours and the unassigned ones)",
    )

    class Meta:
        model = CallTask
        fields = ["kind", "status", "due_before", "due_after", "all"]

    def every_task(self, qs, name, value):
        return qs  # chosen by the view's queryset (selectors.call_tasks_for)


class CallTaskViewSet(viewsets.ReadOnlyModelViewSet):
    """My queue of calls and messages. Managers see the whole site with `?all=1`."""

    serializer_class = CallTaskSerializer
    queryset = CallTask.objects.none()  # not used to serve: tells the schema ids are integers
    filterset_class = CallTaskFilter
    # by deadline, along the (site, due_until, id) index
    pagination_class = cursor_pagination("due_until", "id")
    permission_classes = [HasRole]
    lookup_value_regex = "[^/]+"  # a malformed id is a JSON 404 from the view, not an HTML one
    required_roles = CALLERS
    kind_filter: tuple = ()

    def _every_task(self) -> bool:
        return self.request.query_params.get("all") in ("1", "true", "True")

    def get_queryset(self):
        site = self.request.site_id  # the id is enough to filter: no query for the Site row
        qs = selectors.call_tasks_for(
            user=self.request.user, site=site, mine=not self._every_task()
        )
        return self._narrowed(qs)

    def _narrowed(self, qs):
        if self.kind_filter:
            qs = qs.filter(kind__in=self.kind_filter)
        return qs.order_by("due_until", "id")

    @extend_schema(responses={200: CallTaskRowSerializer(many=True)})
    def list(self, request, *args, **kwargs):
        """By deadline (`due_until`), 25 per page; follow `next`. Each row links to the full
        task (`url`)."""
        if sqlrows.serves(request):
            return sqlrows.page_response(
                self, CALL_TASK_SQL_ROWS, lambda: self.filter_queryset(self.get_queryset())
            )
        qs = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(CallTaskRowSerializer.values_of(qs))
        rows = CallTaskRowSerializer(page, many=True, context=self.get_serializer_context())
        return self.get_paginated_response(rows.data)

    @extend_schema(responses={200: CallTaskSerializer})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(request=OutcomeInput, responses={200: CallTaskSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def outcome(self, request, pk=None):
        task = get_object_or_404(CallTask, pk=pk, site_id__in=site_ids_of(request.user))
        data = OutcomeInput(data=request.data)
        data.is_valid(raise_exception=True)
        task = services.call_task_record_outcome(
            task_id=task.pk, actor=request.user, **data.validated_data
        )
        return Response(CallTaskSerializer(task).data)

    @extend_schema(request=AssignInput, responses={200: CallTaskSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        task = get_object_or_404(CallTask, pk=pk, site_id__in=site_ids_of(request.user))
        data = AssignInput(data=request.data)
        data.is_valid(raise_exception=True)
        user_id = data.validated_data.get("assignee", request.user.pk)
        task = services.call_task_assign(
            task_id=task.pk, actor=request.user, assignee=_site_user(task.site, user_id)
        )
        return Response(CallTaskSerializer(task).data)


class FollowupViewSet(CallTaskViewSet):
    """Follow-up calls after delivery (the 2–5-day calls), with outcome recording."""

    kind_filter = (TaskKind.FOLLOWUP,)
    required_roles = (Role.FOLLOWUP_AGENT,)

    def get_queryset(self):
        if self._every_task():
            return super().get_queryset()
        # agents see their own follow-ups plus the unassigned pool, with the same filters
        qs = selectors.call_tasks_for(user=self.request.user, site=self.request.site_id, mine=False)
        return self._narrowed(qs.filter(Q(assignee=self.request.user) | Q(assignee__isnull=True)))


# --- complaints --------------------------------------------------------------------------------
class ComplaintSerializer(serializers.ModelSerializer):
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    repair_order_number = serializers.CharField(
        source="repair_order.number", default=None, read_only=True, allow_null=True
    )
    handler = UserRefSerializer(read_only=True, allow_null=True)
    advisor = UserRefSerializer(read_only=True, allow_null=True)
    # in user-id order, as the list's page writer gives them
    technicians = UserRefSerializer(many=True, read_only=True, source="technicians_in_order")
    overdue = serializers.SerializerMethodField()
    decision = serializers.ChoiceField(
        ComplaintDecision.choices, allow_blank=True, read_only=True, help_text="empty until decided"
    )
    cause = serializers.ChoiceField(
        ComplaintCause.choices, allow_blank=True, read_only=True, help_text="empty until known"
    )

    class Meta:
        model = Complaint
        fields = [
            "id",
            "status",
            "channel",
            "customer",
            "customer_name",
            "vehicle",
            "repair_order",
            "repair_order_number",
            "advisor",
            "technicians",
            "description",
            "cause",
            "handler",
            "opened_at",
            "respond_by",
            "overdue",
            "contacted_at",
            "escalated_at",
            "decision",
            "apology",
            "explanation",
            "rework_appointment",
            "remedy_cost",
            "free_inspection_offered",
            "labour_discount",
            "resolution",
            "resolved_at",
            "confirm_task",
            "closed_at",
        ]
        read_only_fields = fields

    def get_overdue(self, obj) -> bool:
        from django.utils import timezone

        return obj.status in ("open", "assigned") and obj.respond_by < timezone.now()


class ComplaintOpenInput(serializers.Serializer):
    channel = serializers.ChoiceField(choices=ComplaintChannel.choices)
    customer = serializers.IntegerField()
    repair_order = serializers.IntegerField(required=False, allow_null=True)
    description = serializers.CharField()
    cause = serializers.ChoiceField(
        choices=ComplaintCause.choices,
        required=False,
        help_text="leave out when not known yet; set when deciding",
    )


class HandlerInput(serializers.Serializer):
    handler = serializers.IntegerField(required=False, help_text=_("user id; default: me"))


class NoteInput(serializers.Serializer):
    note = serializers.CharField()


class DecideInput(serializers.Serializer):
    decision = serializers.ChoiceField(choices=ComplaintDecision.choices)
    cause = serializers.ChoiceField(choices=ComplaintCause.choices)
    apology = serializers.CharField(required=False, allow_blank=True, default="")
    explanation = serializers.CharField(required=False, allow_blank=True, default="")
    rework_start = MomentField(required=False, allow_null=True, default=None)
    rework_hours = serializers.DecimalField(
        max_digits=5, decimal_places=1, required=False, default="1.0"
    )
    remedy_cost = serializers.DecimalField(
        max_digits=10, decimal_places=2, required=False, default="0", min_value=0
    )
    free_inspection = serializers.BooleanField(required=False, default=False)
    labour_discount = serializers.DecimalField(
        max_digits=10, decimal_places=2, required=False, default="0", min_value=0
    )


class ResolveInput(serializers.Serializer):
    resolution = serializers.CharField()


class ConfirmInput(serializers.Serializer):
    satisfied = serializers.BooleanField()
    comments = serializers.CharField(required=False, allow_blank=True, default="")


def _complaint_page(rows: list[dict]) -> dict:
    """The users a page of complaints names (advisor, handler, technicians), in two queries."""
    ids = [row["id"] for row in rows]
    links = list(
        Complaint.technicians.through.objects.filter(complaint_id__in=ids)
        .order_by("complaint_id", "user_id")
        .values_list("complaint_id", "user_id")
    )
    user_ids = {u for _c, u in links}
    user_ids |= {row[k] for row in rows for k in ("advisor_id", "handler_id") if row[k]}
    users = {}
    if user_ids:
        only = ("username", "first_name", "last_name")
        for u in get_user_model().objects.filter(pk__in=user_ids).only(*only):
            users[u.pk] = {"id": u.pk, "username": u.username, "name": u.get_full_name()}
    technicians: dict[int, list[dict]] = {}
    for complaint_id, user_id in links:
        technicians.setdefault(complaint_id, []).append(users[user_id])
    return {"users": users, "technicians": technicians, "now": timezone.now()}


# the complaint list: each row as ComplaintSerializer writes it, from values
COMPLAINT_ROWS = RecordRows(
    ComplaintSerializer,
    prepare=_complaint_page,
    columns=("advisor_id", "handler_id"),
    computed={
        "advisor": lambda row, page: page["users"].get(row["advisor_id"]),
        "handler": lambda row, page: page["users"].get(row["handler_id"]),
        "technicians": lambda row, page: page["technicians"].get(row["id"], []),
        # ComplaintSerializer.get_overdue
        "overdue": lambda row, page: (
            row["status"] in ("open", "assigned") and row["respond_by"] < page["now"]
        ),
    },
)


def _technicians_sql() -> RawSQL:
    """A complaint's technicians as ComplaintSerializer writes them (user-id order)."""
    through = Complaint.technicians.through._meta.db_table
    users = get_user_model()._meta.db_table
    name, params = sqlrows.person_name_sql("u.first_name", "u.last_name", "u.username")
    # table names from the models' metadata; the values are parameters
    return RawSQL(  # noqa: S611
        "COALESCE((SELECT json_agg(json_build_object("  # noqa: S608
        f"'id', u.id, 'username', u.username, 'name', {name}) ORDER BY u.id) "
        f'FROM "{through}" t JOIN "{users}" u ON u.id = t.user_id '
        f"WHERE t.complaint_id = \"{Complaint._meta.db_table}\".id), '[]'::json)",
        params,
        output_field=TextField(),
    )


# the complaint list written by Postgres (dms.api.sqlrows)
COMPLAINT_SQL_ROWS = sqlrows.SqlRows(
    lambda: ComplaintSerializer().fields,
    computed={
        "technicians": _technicians_sql,
        # ComplaintSerializer.get_overdue
        "overdue": lambda: sqlrows.flag(
            Q(status__in=("open", "assigned"), respond_by__lt=sqlrows.now())
        ),
    },
)


class ComplaintFilter(FilterSet):
    status = filters.ChoiceFilter(choices=ComplaintStatus.choices)
    overdue = filters.BooleanFilter(
        method="by_overdue", help_text="true: only those not contacted in time"
    )

    class Meta:
        model = Complaint
        fields = ["status", "overdue"]

    def by_overdue(self, qs, name, value):
        return selectors.complaints_overdue(qs) if value else qs


class ComplaintViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Complaints (投诉): open → assigned → contacted → decided → resolved → closed."""

    serializer_class = ComplaintSerializer
    queryset = Complaint.objects.none()  # not used to serve: tells the schema ids are integers
    permission_classes = [HasRole]
    lookup_value_regex = "[^/]+"
    required_roles = (Role.FOLLOWUP_AGENT, Role.ADVISOR)
    filterset_class = ComplaintFilter
    # the most urgent first: along the response deadline
    pagination_class = cursor_pagination("respond_by", "id")

    def get_queryset(self):
        return selectors.complaints_list(site_ids=[self.request.site_id]).prefetch_related(
            "technicians"
        )

    @extend_schema(
        responses={200: ComplaintSerializer(many=True)},
        description="The most urgent first (by `respond_by`), 25 per page; follow `next`.",
    )
    def list(self, request, *args, **kwargs):
        if sqlrows.serves(request):
            return sqlrows.page_response(
                self, COMPLAINT_SQL_ROWS, lambda: self.filter_queryset(self.get_queryset())
            )
        qs = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(COMPLAINT_ROWS.values_of(qs))
        return self.get_paginated_response(COMPLAINT_ROWS.write(page))

    @extend_schema(responses={200: ComplaintSerializer})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    def _complaint(self, pk) -> Complaint:
        return get_object_or_404(Complaint, pk=pk, site_id__in=site_ids_of(self.request.user))

    def _respond(self, complaint, code=status.HTTP_200_OK):
        complaint = selectors.complaint_get(
            site_ids=site_ids_of(self.request.user), complaint_id=complaint.pk
        )
        return Response(ComplaintSerializer(complaint).data, status=code)

    @extend_schema(request=ComplaintOpenInput, responses={201: ComplaintSerializer, **ERRORS})
    def create(self, request, *args, **kwargs):
        from customers.models import Customer
        from workorders.models import RepairOrder

        data = ComplaintOpenInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        site = request.site
        customer = Customer.objects.filter(pk=v["customer"], site=site).first()
        if customer is None:
            raise ApplicationError(
                _("No such customer at this site."), fields={"customer": _("Unknown customer.")}
            )
        ro = None
        if v.get("repair_order"):
            ro = RepairOrder.objects.filter(pk=v["repair_order"], site=site).first()
            if ro is None:
                raise ApplicationError(
                    _("No such repair order at this site."),
                    fields={"repair_order": _("Unknown repair order.")},
                )
        complaint = services.complaint_open(
            site=site,
            actor=request.user,
            channel=v["channel"],
            customer=customer,
            repair_order=ro,
            description=v["description"],
            cause=v.get("cause", ""),
        )
        return self._respond(complaint, status.HTTP_201_CREATED)

    @extend_schema(request=HandlerInput, responses={200: ComplaintSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        complaint = self._complaint(pk)
        data = HandlerInput(data=request.data)
        data.is_valid(raise_exception=True)
        handler_id = data.validated_data.get("handler", request.user.pk)
        User = get_user_model()
        handler = User.objects.filter(pk=handler_id, staff_roles__site=complaint.site).first()
        if handler is None:
            raise ApplicationError(
                _("No such staff member at this site."), fields={"handler": _("Unknown user.")}
            )
        return self._respond(
            services.complaint_assign(
                complaint_id=complaint.pk, actor=request.user, handler=handler
            )
        )

    @extend_schema(request=NoteInput, responses={200: ComplaintSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def contact(self, request, pk=None):
        complaint = self._complaint(pk)
        data = NoteInput(data=request.data)
        data.is_valid(raise_exception=True)
        return self._respond(
            services.complaint_contact(
                complaint_id=complaint.pk, actor=request.user, note=data.validated_data["note"]
            )
        )

    @extend_schema(request=DecideInput, responses={200: ComplaintSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def decide(self, request, pk=None):
        complaint = self._complaint(pk)
        data = DecideInput(data=request.data)
        data.is_valid(raise_exception=True)
        return self._respond(
            services.complaint_decide(
                complaint_id=complaint.pk, actor=request.user, **data.validated_data
            )
        )

    @extend_schema(request=ResolveInput, responses={200: ComplaintSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        complaint = self._complaint(pk)
        data = ResolveInput(data=request.data)
        data.is_valid(raise_exception=True)
        return self._respond(
            services.complaint_resolve(
                complaint_id=complaint.pk,
                actor=request.user,
                resolution=data.validated_data["resolution"],
            )
        )

    @extend_schema(request=ConfirmInput, responses={200: ComplaintSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        """The confirming call's answer (normally recorded as the outcome of its call task)."""
        complaint = self._complaint(pk)
        data = ConfirmInput(data=request.data)
        data.is_valid(raise_exception=True)
        return self._respond(
            services.complaint_confirm(
                complaint_id=complaint.pk, actor=request.user, **data.validated_data
            )
        )


router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("call-tasks", CallTaskViewSet, basename="call-task")
router.register("followups", FollowupViewSet, basename="followup")
router.register("complaints", ComplaintViewSet, basename="complaint")
urlpatterns = router.urls
