"""REST API: /api/v1/repair-orders/ (list, detail, open), its lines and intake, and one
`POST /api/v1/repair-orders/{id}/<action>/` per status move."""

from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from customers.models import Customer, Vehicle
from dms.api import sqlrows
from dms.api.fields import MomentField
from dms.api.filters import FilterSet
from dms.api.lists import DetailLink, RowSerializer
from dms.api.pagination import cursor_pagination
from dms.api.schema import error_responses
from dms.audit import history
from dms.exceptions import NotFoundError
from dms.models import Role
from dms.permissions import HasRole, site_ids_of

from . import selectors, services
from .models import (
    DAMAGE_PANELS,
    FINAL_CHECK_ITEMS,
    HANDOVER_ITEMS,
    INTERIOR_CHECKS,
    QC_ITEMS,
    Approval,
    ApprovalChannel,
    ApprovalLine,
    FuelLevel,
    JobLine,
    PartLine,
    PaymentMethod,
    RepairOrder,
    ROStatus,
    Symptom,
)

# an illegal move (409) also lists `allowed` statuses and the `actions` you can take
ERRORS = error_responses(400, 403, 404, 409)
STAFF = tuple(r for r in Role.values)
MAX_KM = 2_000_000  # odometer readings and service intervals: beyond this it is a typo


# --- output ----------------------------------------------------------------------------------
def _text_per_key(keys: dict, name: str, doc: str, *, max_length: int | None = None):
    """A named object with one optional text per key (damage per panel, …)."""
    fields = {
        key: serializers.CharField(
            required=False, allow_blank=True, max_length=max_length, help_text=label
        )
        for key, label in keys.items()
    }
    return type(name, (serializers.Serializer,), {"__doc__": doc, **fields})


def _ticks(items: dict, name: str, doc: str):
    """A named checklist: one boolean per item (a missing item counts as not ticked)."""
    fields = {
        key: serializers.BooleanField(required=False, help_text=label)
        for key, label in items.items()
    }
    return type(name, (serializers.Serializer,), {"__doc__": doc, **fields})


Damage = _text_per_key(
    DAMAGE_PANELS, "Damage", "Damage seen at the walk-around, per panel.", max_length=200
)
Interior = _text_per_key(
    INTERIOR_CHECKS, "Interior", "Remarks on the interior, per item.", max_length=200
)
QcChecklist = _ticks(QC_ITEMS, "QcChecklist", "The QC inspection: every item must be true to pass.")
FinalChecklist = _ticks(
    FINAL_CHECK_ITEMS, "FinalChecklist", "The advisor's final check: every item must be true."
)
Handover = _ticks(HANDOVER_ITEMS, "Handover", "The delivery conversation: every item must be true.")
# the moves, and on a draft the step before signing (selectors.next_actions, before_signing)
RO_ACTIONS = [*selectors.ACTION_ROLES, "intake", "estimate"]


class ROUserRef(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.SerializerMethodField()

    def get_name(self, user) -> str:
        return user.get_full_name() or user.username


class ROPartOut(serializers.ModelSerializer):
    amount = serializers.DecimalField(max_digits=10, decimal_places=2, read_only=True)

    class Meta:
        model = PartLine
        fields = [
            "id",
            "part_number",
            "name",
            "quantity",
            "unit_price",
            "amount",
            "stock_status",
            "expected_date",
        ]


class ROLineOut(serializers.ModelSerializer):
    parts = ROPartOut(many=True, read_only=True)
    amount = serializers.DecimalField(max_digits=10, decimal_places=2, read_only=True)
    technician = ROUserRef(allow_null=True, read_only=True)

    class Meta:
        model = JobLine
        fields = [
            "id",
            "position",
            "operation_code",
            "description",
            "standard_hours",
            "labour_rate",
            "labour_amount",
            "discount",
            "amount",
            "is_additional",
            "approval",
            "approved_version",
            "approved_amount",
            "declined_reason",
            "work_status",
            "technician",
            "bay",
            "actual_hours",
            "parts",
        ]


class ROIntakeOut(serializers.Serializer):
    covers_fitted = serializers.BooleanField()
    vin_read = serializers.CharField()
    vin_mismatch = serializers.BooleanField()
    vin_mismatch_acknowledged = serializers.BooleanField()
    odometer_km = serializers.IntegerField(allow_null=True)
    odometer_reason = serializers.CharField()
    fuel_level = serializers.ChoiceField(FuelLevel.choices, allow_blank=True)
    damage = Damage()
    interior = Interior()
    valuables = serializers.CharField()
    engine_bay = serializers.CharField()
    underbody_checked = serializers.BooleanField()
    underbody_notes = serializers.CharField()
    symptom_engine = serializers.ChoiceField(Symptom.Engine.choices, allow_blank=True)
    symptom_speed = serializers.ChoiceField(Symptom.Speed.choices, allow_blank=True)
    symptom_load = serializers.ChoiceField(Symptom.Load.choices, allow_blank=True)
    symptom_road = serializers.ChoiceField(Symptom.Road.choices, allow_blank=True)
    symptom_pattern = serializers.ChoiceField(Symptom.Pattern.choices, allow_blank=True)
    symptom_since = serializers.CharField()
    recent_repairs = serializers.CharField()
    added_equipment = serializers.CharField()
    recorded_at = serializers.DateTimeField(allow_null=True)


class ROHistoryOut(serializers.Serializer):
    """One entry of the repair order's history: who did what, when."""

    at = serializers.DateTimeField()
    action = serializers.CharField(help_text="what was done, e.g. `authorized`, `line_added`")
    from_state = serializers.CharField(help_text="the status before (empty when not a move)")
    to_state = serializers.CharField(help_text="the status after (empty when not a move)")
    note = serializers.CharField()
    actor = serializers.CharField(
        source="actor.username", default=None, allow_null=True, help_text="username"
    )


class ROApprovalLineOut(serializers.Serializer):
    """The customer's answer to one line."""

    job_id = serializers.IntegerField()
    decision = serializers.ChoiceField(ApprovalLine.Decision.choices)
    amount = serializers.DecimalField(max_digits=10, decimal_places=2)
    reason = serializers.CharField()


class ROApprovalOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(Approval.Kind.choices)
    estimate_version = serializers.IntegerField()
    customer_name = serializers.CharField()
    channel = serializers.ChoiceField(ApprovalChannel.choices)
    answered_at = serializers.DateTimeField()
    approved_amount = serializers.DecimalField(max_digits=10, decimal_places=2, allow_null=True)
    has_signature = serializers.SerializerMethodField()
    recorded_by = serializers.CharField(
        source="recorded_by.username", default=None, allow_null=True
    )
    lines = ROApprovalLineOut(many=True)

    def get_has_signature(self, obj) -> bool:
        return bool(obj.signature)


class RepairOrderOut(serializers.ModelSerializer):
    customer = inline_serializer(
        name="ROCustomer",
        fields={"id": serializers.IntegerField(), "name": serializers.CharField()},
    )
    vehicle = inline_serializer(
        name="ROVehicle",
        fields={
            "id": serializers.IntegerField(),
            "plate": serializers.CharField(),
            "vin": serializers.CharField(),
        },
    )
    advisor = ROUserRef(read_only=True)
    comeback_of = serializers.CharField(
        source="comeback_of.number", default=None, allow_null=True, read_only=True
    )

    class Meta:
        model = RepairOrder
        fields = [
            "id",
            "number",
            "status",
            "customer",
            "vehicle",
            "advisor",
            "appointment",
            "is_first_service",
            "concern",
            "odometer_km",
            "opened_at",
            "opened_day",
            "promised_at",
            "not_to_exceed",
            "estimate_version",
            "labour_total",
            "parts_total",
            "discount_total",
            "tax_total",
            "grand_total",
            "qc_fail_count",
            "comeback_of",
            "comeback_confirmed",
            "delivered_at",
            "cancel_reason",
        ]


class RepairOrderRowOut(RowSerializer):
    """One repair order in the list: enough to find it and show it in a table. `url` is the
    detail, with the lines, totals, intake, approvals and history."""

    id = serializers.IntegerField()
    url = DetailLink()
    number = serializers.CharField()
    status = serializers.ChoiceField(ROStatus.choices)
    opened_at = serializers.DateTimeField()
    promised_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    customer = serializers.IntegerField(source="customer_id")
    customer_name = serializers.CharField(source="customer__name")
    vehicle = serializers.IntegerField(source="vehicle_id")
    plate = serializers.CharField(source="vehicle__plate")
    advisor = serializers.IntegerField(source="advisor_id")
    grand_total = serializers.DecimalField(max_digits=10, decimal_places=2)


REPAIR_ORDER_SQL_ROWS = sqlrows.SqlRows(lambda: RepairOrderRowOut().fields)


class RepairOrderDetailOut(RepairOrderOut):
    lines = ROLineOut(many=True, read_only=True)
    intake = ROIntakeOut(read_only=True, allow_null=True)
    approvals = ROApprovalOut(many=True, read_only=True)
    history = serializers.SerializerMethodField()
    actions = serializers.SerializerMethodField(
        help_text="the moves you may make now: POST to `…/repair-orders/{id}/<action>/`"
    )
    approval_link = serializers.SerializerMethodField(
        help_text="the customer's private link to answer proposed work, while one is open"
    )

    class Meta(RepairOrderOut.Meta):
        fields = [
            *RepairOrderOut.Meta.fields,
            "waiting_part",
            "parts_expected_date",
            "qc_fail_reason",
            "washed_at",
            "ready_at",
            "invoiced_at",
            "payment_method",
            "next_service_due_date",
            "next_service_due_km",
            "lines",
            "intake",
            "approvals",
            "history",
            "actions",
            "approval_link",
        ]

    @extend_schema_field(ROHistoryOut(many=True))
    def get_history(self, obj):
        return ROHistoryOut(history(obj), many=True).data

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(RO_ACTIONS)))
    def get_actions(self, obj):
        return selectors.next_actions(obj, self.context["request"].user)

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_approval_link(self, obj):
        from django.urls import reverse
        from django.utils import timezone

        link = (
            obj.approval_links.filter(
                answered_at=None,
                expires_at__gt=timezone.now(),
                estimate_version=obj.estimate_version,
            )
            .order_by("-created_at")
            .first()
        )
        if link is None:
            return None
        return self.context["request"].build_absolute_uri(
            reverse("workorders:approval_link", args=[link.token])
        )


# --- input -----------------------------------------------------------------------------------
class ROOpenIn(serializers.Serializer):
    customer = serializers.IntegerField()
    vehicle = serializers.IntegerField()
    advisor = serializers.IntegerField(required=False, help_text=_("defaults to you"))
    concern = serializers.CharField(required=False, allow_blank=True, default="")
    is_first_service = serializers.BooleanField(required=False, default=False)
    odometer_km = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=MAX_KM
    )


class ROPartIn(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    part_number = serializers.CharField(max_length=40, required=False, allow_blank=True)
    quantity = serializers.DecimalField(max_digits=8, decimal_places=2, min_value=Decimal("0.01"))
    unit_price = serializers.DecimalField(max_digits=10, decimal_places=2, min_value=0)
    stock_status = serializers.ChoiceField(PartLine.Stock.choices, required=False)
    expected_date = serializers.DateField(required=False, allow_null=True)


class ROLineIn(serializers.Serializer):
    description = serializers.CharField(max_length=200)
    operation_code = serializers.CharField(max_length=30, required=False, allow_blank=True)
    standard_hours = serializers.DecimalField(max_digits=5, decimal_places=2, min_value=0)
    discount = serializers.DecimalField(
        max_digits=10, decimal_places=2, min_value=0, required=False, default=0
    )
    parts = ROPartIn(many=True, required=False, default=list)


class ROLineUpdateIn(serializers.Serializer):
    description = serializers.CharField(max_length=200, required=False)
    operation_code = serializers.CharField(max_length=30, required=False, allow_blank=True)
    standard_hours = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=0, required=False
    )
    discount = serializers.DecimalField(
        max_digits=10, decimal_places=2, min_value=0, required=False
    )


class ROIntakeIn(serializers.Serializer):
    covers_fitted = serializers.BooleanField()
    vin_read = serializers.CharField(max_length=30, required=False, allow_blank=True, default="")
    vin_mismatch_acknowledged = serializers.BooleanField(required=False, default=False)
    odometer_km = serializers.IntegerField(
        min_value=0, max_value=MAX_KM, required=False, allow_null=True
    )
    odometer_reason = serializers.CharField(max_length=200, required=False, allow_blank=True)
    fuel_level = serializers.ChoiceField(FuelLevel.choices, required=False, allow_blank=True)
    concern = serializers.CharField(required=False, allow_blank=True)
    damage = Damage(required=False)
    interior = Interior(required=False)
    valuables = serializers.CharField(max_length=300, required=False, allow_blank=True)
    engine_bay = serializers.CharField(max_length=300, required=False, allow_blank=True)
    underbody_checked = serializers.BooleanField(required=False, default=False)
    underbody_notes = serializers.CharField(max_length=300, required=False, allow_blank=True)
    symptom_engine = serializers.ChoiceField(Symptom.Engine.choices, required=False)
    symptom_speed = serializers.ChoiceField(Symptom.Speed.choices, required=False)
    symptom_load = serializers.ChoiceField(Symptom.Load.choices, required=False)
    symptom_road = serializers.ChoiceField(Symptom.Road.choices, required=False)
    symptom_pattern = serializers.ChoiceField(Symptom.Pattern.choices, required=False)
    symptom_since = serializers.CharField(max_length=100, required=False, allow_blank=True)
    recent_repairs = serializers.CharField(max_length=300, required=False, allow_blank=True)
    added_equipment = serializers.CharField(max_length=300, required=False, allow_blank=True)


class ROAuthorizeIn(serializers.Serializer):
    channel = serializers.ChoiceField(ApprovalChannel.choices)
    customer_name = serializers.CharField(max_length=120, required=False, allow_blank=True)
    signature = serializers.CharField(
        required=False, allow_blank=True, help_text=_("PNG as a data URL or base64")
    )
    not_to_exceed = serializers.DecimalField(
        max_digits=10, decimal_places=2, min_value=0, required=False, allow_null=True
    )
    promised_at = MomentField(required=False, allow_null=True)
    note = serializers.CharField(max_length=300, required=False, allow_blank=True)


class RONoteIn(serializers.Serializer):
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class ROAnswerLineIn(serializers.Serializer):
    job_id = serializers.IntegerField()
    decision = serializers.ChoiceField(["approved", "declined"])
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True)


class ROAnswerIn(serializers.Serializer):
    channel = serializers.ChoiceField(ApprovalChannel.choices)
    customer_name = serializers.CharField(max_length=120, required=False, allow_blank=True)
    estimate_version = serializers.IntegerField(
        help_text=_("the estimate version the customer answered")
    )
    answers = ROAnswerLineIn(many=True, allow_empty=False)
    note = serializers.CharField(max_length=300, required=False, allow_blank=True)


class ROWaitPartsIn(serializers.Serializer):
    part = serializers.CharField(max_length=120)
    expected_date = serializers.DateField(required=False, allow_null=True)
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class ROQcPassIn(serializers.Serializer):
    checklist = QcChecklist()
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class ROFinalCheckIn(serializers.Serializer):
    checklist = FinalChecklist()
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class ROQcFailIn(serializers.Serializer):
    reason = serializers.CharField(max_length=300)
    checklist = QcChecklist(
        required=False, help_text="the items that passed and those that did not"
    )


class ROBookNextIn(serializers.Serializer):
    start = MomentField()
    estimated_hours = serializers.DecimalField(
        max_digits=4, decimal_places=1, min_value=0, required=False, default=1
    )
    services = serializers.ListField(child=serializers.CharField(), required=False, default=list)


class RODeliverIn(serializers.Serializer):
    payment_method = serializers.ChoiceField(PaymentMethod.choices)
    handover = Handover()
    next_service_due_date = serializers.DateField(required=False, allow_null=True)
    next_service_due_km = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=MAX_KM
    )
    book_next = ROBookNextIn(required=False, allow_null=True)
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class ROCancelIn(serializers.Serializer):
    reason = serializers.CharField(max_length=200)


class RODelayIn(serializers.Serializer):
    promised_at = MomentField()
    channel = serializers.ChoiceField(ApprovalChannel.choices, default="phone")
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class ROApproveTotalIn(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=10, decimal_places=2, min_value=Decimal("0.01"))
    channel = serializers.ChoiceField(ApprovalChannel.choices)
    customer_name = serializers.CharField(max_length=120, required=False, allow_blank=True)
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class ROComebackIn(serializers.Serializer):
    confirmed = serializers.BooleanField()
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class ROEstimateIn(serializers.Serializer):
    not_to_exceed = serializers.DecimalField(
        max_digits=10, decimal_places=2, min_value=0, required=False, allow_null=True
    )
    promised_at = MomentField(required=False, allow_null=True)


# --- views -----------------------------------------------------------------------------------
class RepairOrderFilter(FilterSet):
    status = filters.MultipleChoiceFilter(
        choices=ROStatus.choices, help_text="repeat for several: `?status=draft&status=rework`"
    )
    advisor = filters.NumberFilter(field_name="advisor_id", help_text="the advisor's user id")
    date_from = filters.DateFilter(
        field_name="opened_day", lookup_expr="gte", help_text="opened on or after (site-local)"
    )
    date_to = filters.DateFilter(
        field_name="opened_day", lookup_expr="lte", help_text="opened on or before (site-local)"
    )
    q = filters.CharFilter(
        method="search", max_length=60, help_text="number, plate, VIN end, name or phone"
    )

    class Meta:
        model = RepairOrder
        fields = ["status", "advisor", "date_from", "date_to", "q"]

    def search(self, qs, name, value):
        return selectors.repair_order_search(qs, value)


def _move_schema(request_serializer, summary: str):
    return extend_schema(
        request=request_serializer, responses={200: RepairOrderDetailOut, **ERRORS}, summary=summary
    )


class RepairOrderViewSet(viewsets.GenericViewSet):
    """Repair orders of your sites. Every state change is one action; an illegal move is a 409
    listing the allowed actions."""

    permission_classes = [HasRole]
    required_roles = STAFF
    action_roles = {
        "create": (Role.ADVISOR,),
        "lines": STAFF,
        "intake": (Role.ADVISOR,),
        "line_detail": (Role.ADVISOR,),
        "estimate": (Role.ADVISOR,),
        **{a.replace("-", "_"): r for a, r in selectors.ACTION_ROLES.items()},
    }
    queryset = RepairOrder.objects.none()
    serializer_class = RepairOrderOut
    filterset_class = RepairOrderFilter
    # newest first, along the (site, -opened_at, -id) index
    pagination_class = cursor_pagination("-opened_at", "-id")

    def _ro(self, pk) -> RepairOrder:
        return selectors.repair_order_get(user=self.request.user, pk=pk)

    def _mine(self, pk) -> RepairOrder:
        """The RO's own row, when the action only needs to know it is one of the user's (the
        answer, if it shows the RO, is read after the change by `_detail`)."""
        return selectors.repair_order_in_scope(user=self.request.user, pk=pk)

    def _detail(self, pk, code=status.HTTP_200_OK) -> Response:
        ro = self._ro(pk)
        return Response(RepairOrderDetailOut(ro, context={"request": self.request}).data, code)

    def _input(self, serializer_class):
        ser = serializer_class(data=self.request.data)
        ser.is_valid(raise_exception=True)
        return ser.validated_data

    @extend_schema(responses={200: RepairOrderRowOut(many=True)})
    def list(self, request):
        """Newest first, 25 per page; follow `next`. Each row links to its detail (`url`)."""
        if sqlrows.serves(request):
            return sqlrows.page_response(
                self,
                REPAIR_ORDER_SQL_ROWS,
                lambda: self.filter_queryset(selectors.repair_order_list(user=request.user)),
            )
        qs = self.filter_queryset(selectors.repair_order_list(user=request.user))
        page = self.paginate_queryset(RepairOrderRowOut.values_of(qs))
        rows = RepairOrderRowOut(page, many=True, context=self.get_serializer_context())
        return self.get_paginated_response(rows.data)

    @extend_schema(responses={200: RepairOrderDetailOut, **ERRORS})
    def retrieve(self, request, pk=None):
        return self._detail(pk)

    @extend_schema(request=ROOpenIn, responses={201: RepairOrderDetailOut, **ERRORS})
    def create(self, request):
        """Open a walk-in RO (appointments open theirs at check-in)."""
        data = self._input(ROOpenIn)
        sites = site_ids_of(request.user)
        vehicle = Vehicle.objects.filter(pk=data["vehicle"], site_id__in=sites).first()
        customer = Customer.objects.filter(pk=data["customer"], site_id__in=sites).first()
        errors = {}
        if vehicle is None:
            errors["vehicle"] = [_("No such vehicle.")]
        if customer is None:
            errors["customer"] = [_("No such customer.")]
        if errors:
            raise serializers.ValidationError(errors)
        from django.contrib.auth import get_user_model

        advisor = request.user
        if data.get("advisor"):
            advisor = get_user_model().objects.filter(pk=data["advisor"]).first()
        ro = services.repair_order_open(
            site=vehicle.site,
            customer=customer,
            vehicle=vehicle,
            advisor=advisor,
            actor=request.user,
            concern=data["concern"],
            is_first_service=data["is_first_service"],
            odometer_km=data.get("odometer_km"),
        )
        return self._detail(ro.pk, status.HTTP_201_CREATED)

    @extend_schema(
        methods=["GET"], responses={200: ROLineOut(many=True), **ERRORS}, summary="Job lines"
    )
    @extend_schema(
        methods=["POST"],
        request=ROLineIn,
        responses={201: ROLineOut, **ERRORS},
        summary="Add a line (after authorization it is proposed additional work)",
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def lines(self, request, pk=None):
        if request.method == "GET":
            return Response(ROLineOut(self._ro(pk).lines.all(), many=True).data)
        ro = self._mine(pk)
        data = self._input(ROLineIn)
        job = services.job_line_add(repair_order_id=ro.pk, actor=request.user, **data)
        job = JobLine.objects.prefetch_related("parts").get(pk=job.pk)
        return Response(ROLineOut(job).data, status=status.HTTP_201_CREATED)

    @extend_schema(methods=["PATCH"], request=ROLineUpdateIn, responses={200: ROLineOut, **ERRORS})
    @extend_schema(methods=["DELETE"], request=None, responses={204: None, **ERRORS})
    @action(detail=True, methods=["patch", "delete"], url_path=r"lines/(?P<line_id>\d+)")
    def line_detail(self, request, pk=None, line_id=None):
        ro = self._mine(pk)
        if not ro.lines.filter(pk=line_id).exists():
            raise NotFoundError(_("No such line."))
        if request.method == "DELETE":
            services.job_line_remove(job_id=line_id, actor=request.user)
            return Response(status=status.HTTP_204_NO_CONTENT)
        data = self._input(ROLineUpdateIn)
        services.job_line_update(job_id=line_id, actor=request.user, **data)
        return Response(ROLineOut(JobLine.objects.prefetch_related("parts").get(pk=line_id)).data)

    @extend_schema(request=ROIntakeIn, responses={200: RepairOrderDetailOut, **ERRORS})
    @action(detail=True, methods=["put"])
    def intake(self, request, pk=None):
        ro = self._mine(pk)
        services.intake_record(repair_order_id=ro.pk, actor=request.user, **self._input(ROIntakeIn))
        return self._detail(pk)

    @_move_schema(ROEstimateIn, "Set the not-to-exceed amount and the promised time")
    @action(detail=True, methods=["post"])
    def estimate(self, request, pk=None):
        ro = self._mine(pk)
        services.ro_update_estimate(
            repair_order_id=ro.pk, actor=request.user, **self._input(ROEstimateIn)
        )
        return self._detail(pk)

    # one action per move ---------------------------------------------------------------------
    @_move_schema(ROAuthorizeIn, "draft → authorized (signature or recorded remote approval)")
    @action(detail=True, methods=["post"])
    def authorize(self, request, pk=None):
        services.ro_authorize(
            repair_order_id=self._mine(pk).pk, actor=request.user, **self._input(ROAuthorizeIn)
        )
        return self._detail(pk)

    @_move_schema(RONoteIn, "authorized/rework → in_progress")
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        services.ro_start(
            repair_order_id=self._mine(pk).pk, actor=request.user, **self._input(RONoteIn)
        )
        return self._detail(pk)

    @_move_schema(RONoteIn, "→ waiting_approval; makes the customer's private link")
    @action(detail=True, methods=["post"], url_path="request-approval")
    def request_approval(self, request, pk=None):
        services.ro_request_approval(
            repair_order_id=self._mine(pk).pk, actor=request.user, **self._input(RONoteIn)
        )
        return self._detail(pk)

    @_move_schema(ROAnswerIn, "The customer's answer per proposed line")
    @action(detail=True, methods=["post"], url_path="answer-approval")
    def answer_approval(self, request, pk=None):
        services.ro_answer_approval(
            repair_order_id=self._mine(pk).pk, actor=request.user, **self._input(ROAnswerIn)
        )
        return self._detail(pk)

    @_move_schema(ROWaitPartsIn, "→ waiting_parts")
    @action(detail=True, methods=["post"], url_path="wait-parts")
    def wait_parts(self, request, pk=None):
        services.ro_wait_parts(
            repair_order_id=self._mine(pk).pk, actor=request.user, **self._input(ROWaitPartsIn)
        )
        return self._detail(pk)

    @_move_schema(RONoteIn, "waiting_parts/waiting_approval → back to work")
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        services.ro_resume(
            repair_order_id=self._mine(pk).pk, actor=request.user, **self._input(RONoteIn)
        )
        return self._detail(pk)

    @_move_schema(RONoteIn, "in_progress → work_done")
    @action(detail=True, methods=["post"], url_path="complete-work")
    def complete_work(self, request, pk=None):
        services.ro_complete_work(
            repair_order_id=self._mine(pk).pk, actor=request.user, **self._input(RONoteIn)
        )
        return self._detail(pk)

    @_move_schema(ROQcPassIn, "QC passed → washing")
    @action(detail=True, methods=["post"], url_path="qc-pass")
    def qc_pass(self, request, pk=None):
        services.ro_qc_pass(
            repair_order_id=self._mine(pk).pk, actor=request.user, **self._input(ROQcPassIn)
        )
        return self._detail(pk)

    @_move_schema(ROQcFailIn, "QC failed → rework")
    @action(detail=True, methods=["post"], url_path="qc-fail")
    def qc_fail(self, request, pk=None):
        services.ro_qc_fail(
            repair_order_id=self._mine(pk).pk, actor=request.user, **self._input(ROQcFailIn)
        )
        return self._detail(pk)

    @_move_schema(None, "The car is washed")
    @action(detail=True, methods=["post"], url_path="wash-done")
    def wash_done(self, request, pk=None):
        services.ro_wash_done(repair_order_id=self._mine(pk).pk, actor=request.user)
        return self._detail(pk)

    @_move_schema(ROFinalCheckIn, "The advisor's final check → ready")
    @action(detail=True, methods=["post"], url_path="final-check")
    def final_check(self, request, pk=None):
        services.ro_final_check(
            repair_order_id=self._mine(pk).pk, actor=request.user, **self._input(ROFinalCheckIn)
        )
        return self._detail(pk)

    @_move_schema(RONoteIn, "ready → invoiced (settlement from the actual lines)")
    @action(detail=True, methods=["post"])
    def invoice(self, request, pk=None):
        services.ro_invoice(
            repair_order_id=self._mine(pk).pk, actor=request.user, **self._input(RONoteIn)
        )
        return self._detail(pk)

    @_move_schema(RODeliverIn, "invoiced → delivered")
    @action(detail=True, methods=["post"])
    def deliver(self, request, pk=None):
        services.ro_deliver(
            repair_order_id=self._mine(pk).pk, actor=request.user, **self._input(RODeliverIn)
        )
        return self._detail(pk)

    @_move_schema(ROCancelIn, "→ cancelled (any state before invoiced)")
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        services.ro_cancel(
            repair_order_id=self._mine(pk).pk, actor=request.user, **self._input(ROCancelIn)
        )
        return self._detail(pk)

    # records that are not moves --------------------------------------------------------------
    @_move_schema(RODelayIn, "The customer was told of a delay; new promised time")
    @action(detail=True, methods=["post"], url_path="record-delay")
    def record_delay(self, request, pk=None):
        services.ro_record_delay(
            repair_order_id=self._mine(pk).pk, actor=request.user, **self._input(RODelayIn)
        )
        return self._detail(pk)

    @_move_schema(ROApproveTotalIn, "The customer consents to a total above the not-to-exceed")
    @action(detail=True, methods=["post"], url_path="approve-total")
    def approve_total(self, request, pk=None):
        services.ro_approve_total(
            repair_order_id=self._mine(pk).pk, actor=request.user, **self._input(ROApproveTotalIn)
        )
        return self._detail(pk)

    @_move_schema(ROComebackIn, "Confirm or clear the possible-comeback flag")
    @action(detail=True, methods=["post"])
    def comeback(self, request, pk=None):
        services.ro_comeback_decide(
            repair_order_id=self._mine(pk).pk, actor=request.user, **self._input(ROComebackIn)
        )
        return self._detail(pk)


for _name in ("record_delay", "approve_total", "comeback"):
    RepairOrderViewSet.action_roles[_name] = (Role.ADVISOR,)

router = DefaultRouter()
router.register("repair-orders", RepairOrderViewSet, basename="repair-order")
urlpatterns = router.urls
