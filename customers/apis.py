"""REST API of the archive: customers, vehicles, vehicle history, one-box lookup, merge, import.

Validate input → call a service or selector → serialize. Same roles as the pages: advisors and
follow-up agents read; advisors write vehicles, agents may also update customers (consents);
service managers merge and import. Every query is limited to the user's sites.
"""

from django.core.validators import RegexValidator
from django.db import transaction
from django.db.models import Q
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_filters import rest_framework as filters
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from dms.api import sqlrows
from dms.api.filters import FilterSet
from dms.api.lists import DetailLink, RecordRows, RowSerializer
from dms.api.pagination import cursor_pagination
from dms.api.schema import ErrorSerializer, error_response
from dms.exceptions import ApplicationError
from dms.models import Role
from dms.permissions import HasRole, site_ids_of

from . import history, imports, selectors, services, validators
from .models import Channel, Customer, ImportBatch, Vehicle


class ContributedChoiceField(serializers.ChoiceField):
    """The status of a record an app above shows in the archive (a repair order, a job line's
    approval, a call, a complaint): its choices are those the app that owns the field registers
    (`customers.history.register_choices`), read each time the serializer's fields are built —
    after every app is ready."""

    def __init__(self, name: str, **kwargs):
        super().__init__(history.choices(name), **kwargs)


READ_ROLES = (Role.ADVISOR, Role.FOLLOWUP_AGENT)
VEHICLE_WRITE_ROLES = (Role.ADVISOR,)
CUSTOMER_WRITE_ROLES = (Role.ADVISOR, Role.FOLLOWUP_AGENT)


def _errors(*codes: int) -> dict:
    text = {
        400: "Bad input: `fields` maps each field to its messages",
        403: "Not allowed: the message says which role is needed",
        404: "No such record at your sites",
        409: "Refused in the current state",
    }
    return {c: error_response(c, text[c]) for c in codes}


# --- output ----------------------------------------------------------------------------------
class VehicleBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Vehicle
        fields = ["id", "vin", "plate", "make", "model", "year", "colour", "mileage_km"]


class CustomerSerializer(serializers.ModelSerializer):
    phone_display = serializers.SerializerMethodField()
    email = serializers.CharField(read_only=True, help_text="e-mail address; empty when unknown")
    vehicles = VehicleBriefSerializer(many=True, read_only=True)

    # Local wall-clock times ("22:00"); described as plain strings because JSON Schema's "time"
    # format demands a UTC offset that a quiet-hours setting does not have.
    quiet_hours_start = serializers.SerializerMethodField()
    quiet_hours_end = serializers.SerializerMethodField()

    def get_quiet_hours_start(self, obj) -> str | None:
        return obj.quiet_hours_start.strftime("%H:%M") if obj.quiet_hours_start else None

    def get_quiet_hours_end(self, obj) -> str | None:
        return obj.quiet_hours_end.strftime("%H:%M") if obj.quiet_hours_end else None

    class Meta:
        model = Customer
        fields = [
            "id",
            "site",
            "kind",
            "name",
            "title",
            "phone",
            "phone_display",
            "phone2",
            "email",
            "address",
            "preferred_channel",
            "preferred_contact_time",
            "consent_call",
            "consent_call_at",
            "consent_sms",
            "consent_sms_at",
            "consent_email",
            "consent_email_at",
            "consent_marketing",
            "consent_marketing_at",
            "quiet_hours_start",
            "quiet_hours_end",
            "birthday",
            "board_display",
            "abc_class",
            "retention",
            "last_delivery_at",
            "visits_12m",
            "spend_12m",
            "notes",
            "merged_into",
            "vehicles",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_phone_display(self, obj) -> str:
        return validators.format_phone(obj.phone)


class CustomerRowSerializer(RowSerializer):
    """One customer in the list. `url` is the full record, with consents, quiet hours, notes
    and vehicles."""

    id = serializers.IntegerField()
    url = DetailLink()
    site = serializers.IntegerField(source="site_id")
    kind = serializers.ChoiceField(Customer.Kind.choices)
    name = serializers.CharField()
    phone = serializers.CharField(help_text="E.164; empty when unknown")
    email = serializers.CharField(help_text="e-mail address; empty when unknown")
    preferred_channel = serializers.ChoiceField(Channel.choices)
    retention = serializers.ChoiceField(Customer.Retention.choices)
    abc_class = serializers.ChoiceField(Customer.AbcClass.choices)
    last_delivery_at = serializers.DateTimeField(allow_null=True)


CUSTOMER_SQL_ROWS = sqlrows.SqlRows(lambda: CustomerRowSerializer().fields)


class CustomerBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = ["id", "name", "phone", "abc_class", "retention"]


class VehicleSerializer(serializers.ModelSerializer):
    owner = CustomerBriefSerializer(read_only=True)
    in_warranty = serializers.BooleanField(read_only=True)

    class Meta:
        model = Vehicle
        fields = [
            "id",
            "site",
            "owner",
            "vin",
            "vin_check_digit_ok",
            "plate",
            "engine_number",
            "make",
            "model",
            "year",
            "colour",
            "purchase_date",
            "sold_by_site",
            "warranty_end",
            "in_warranty",
            "mileage_km",
            "mileage_read_at",
            "km_per_day",
            "service_interval_km",
            "service_interval_months",
            "next_service_due_date",
            "next_service_due_km",
            "km_due_on",
            "first_service_done",
            "insurance_renewal_date",
            "annual_inspection_date",
            "licence_review_date",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


# the vehicle list: each row as VehicleSerializer writes it, from values
VEHICLE_ROWS = RecordRows(
    VehicleSerializer,
    prepare=lambda rows: {"today": timezone.localdate()},
    computed={
        # Vehicle.in_warranty
        "in_warranty": lambda row, page: bool(
            row["warranty_end"] and row["warranty_end"] >= page["today"]
        ),
    },
)


VEHICLE_SQL_ROWS = sqlrows.SqlRows(
    lambda: VehicleSerializer().fields,
    computed={"in_warranty": lambda: sqlrows.flag(Q(warranty_end__gte=sqlrows.today()))},
)


class HistoryPartSerializer(serializers.Serializer):
    name = serializers.CharField()
    part_number = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=8, decimal_places=2)
    amount = serializers.DecimalField(max_digits=10, decimal_places=2)


class HistoryLineSerializer(serializers.Serializer):
    description = serializers.CharField()
    standard_hours = serializers.DecimalField(max_digits=5, decimal_places=2)
    labour_amount = serializers.DecimalField(max_digits=10, decimal_places=2)
    approval = ContributedChoiceField("job_line_approval")
    technician = serializers.SerializerMethodField()
    parts = HistoryPartSerializer(many=True)

    def get_technician(self, line) -> str | None:
        return (
            line.technician.get_full_name() or line.technician.username if line.technician else None
        )


class VisitFollowupSerializer(serializers.Serializer):
    """The follow-up call after the visit."""

    status = ContributedChoiceField("call_task_status")
    outcome = serializers.CharField(help_text="the call's outcome (see CallTask); empty while open")
    satisfaction = serializers.IntegerField(allow_null=True, help_text="1–5")
    comments = serializers.CharField()
    completed_at = serializers.DateTimeField(allow_null=True)


class VisitComplaintSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    status = ContributedChoiceField("complaint_status")
    description = serializers.CharField()


class VisitSerializer(serializers.Serializer):
    repair_order_id = serializers.IntegerField(source="repair_order.id")
    number = serializers.CharField(source="repair_order.number")
    date = serializers.DateField()
    status = ContributedChoiceField("repair_order_status")
    mileage_km = serializers.IntegerField(allow_null=True)
    advisor = serializers.SerializerMethodField()
    amount = serializers.DecimalField(max_digits=10, decimal_places=2)
    lines = HistoryLineSerializer(many=True)
    followup = VisitFollowupSerializer(allow_null=True)
    complaints = VisitComplaintSerializer(many=True)

    def get_advisor(self, visit) -> str:
        a = visit.advisor
        return (a.get_full_name() or a.username) if a else ""


class LookupOpenRepairOrderSerializer(serializers.Serializer):
    """A repair order of the customer that is not delivered or cancelled yet."""

    id = serializers.IntegerField(source="pk")
    number = serializers.CharField()
    status = ContributedChoiceField("repair_order_status")
    plate = serializers.CharField(source="vehicle.plate")


class LookupHitSerializer(serializers.Serializer):
    customer = CustomerBriefSerializer()
    vehicles = VehicleBriefSerializer(many=True)
    matched_on = serializers.ListField(child=serializers.CharField())
    matched_vehicle_ids = serializers.ListField(child=serializers.IntegerField())
    last_visit_at = serializers.DateTimeField(allow_null=True)
    open_repair_orders = LookupOpenRepairOrderSerializer(many=True)


# --- input -----------------------------------------------------------------------------------
class CustomerInput(serializers.Serializer):
    kind = serializers.ChoiceField(Customer.Kind.choices, required=False)
    name = serializers.CharField(max_length=120, required=False, allow_blank=True)
    title = serializers.ChoiceField(Customer.Title.choices, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    phone2 = serializers.CharField(max_length=40, required=False, allow_blank=True)
    email = serializers.CharField(max_length=254, required=False, allow_blank=True)
    address = serializers.CharField(max_length=255, required=False, allow_blank=True)
    preferred_channel = serializers.ChoiceField(Channel.choices, required=False)
    preferred_contact_time = serializers.CharField(max_length=60, required=False, allow_blank=True)
    consent_call = serializers.BooleanField(required=False)
    consent_sms = serializers.BooleanField(required=False)
    consent_email = serializers.BooleanField(required=False)
    consent_marketing = serializers.BooleanField(required=False)
    quiet_hours_start = serializers.TimeField(required=False, allow_null=True)
    quiet_hours_end = serializers.TimeField(required=False, allow_null=True)
    birthday = serializers.DateField(required=False, allow_null=True)
    board_display = serializers.ChoiceField(Customer.BoardDisplay.choices, required=False)
    notes = serializers.CharField(required=False, allow_blank=True)


class VehicleInput(serializers.Serializer):
    vin = serializers.CharField(max_length=40, required=False)
    plate = serializers.CharField(max_length=20, required=False, allow_blank=True)
    engine_number = serializers.CharField(max_length=30, required=False, allow_blank=True)
    make = serializers.CharField(max_length=40, required=False, allow_blank=True)
    model = serializers.CharField(max_length=60, required=False, allow_blank=True)
    year = serializers.IntegerField(required=False, allow_null=True, min_value=1900, max_value=2100)
    colour = serializers.CharField(max_length=30, required=False, allow_blank=True)
    purchase_date = serializers.DateField(required=False, allow_null=True)
    sold_by_site = serializers.BooleanField(required=False)
    warranty_end = serializers.DateField(required=False, allow_null=True)
    mileage_km = serializers.IntegerField(required=False, min_value=0, max_value=2_000_000)
    mileage_read_at = serializers.DateField(required=False, allow_null=True)
    service_interval_km = serializers.IntegerField(required=False, min_value=0, max_value=200_000)
    service_interval_months = serializers.IntegerField(required=False, min_value=0, max_value=60)
    next_service_due_date = serializers.DateField(required=False, allow_null=True)
    next_service_due_km = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=2_000_000
    )
    first_service_done = serializers.BooleanField(required=False)
    insurance_renewal_date = serializers.DateField(required=False, allow_null=True)
    annual_inspection_date = serializers.DateField(required=False, allow_null=True)
    licence_review_date = serializers.DateField(required=False, allow_null=True)
    acknowledge_vin_warning = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Set after the advisor compared a VIN whose check digit does not match.",
    )


class VehicleCreateInput(VehicleInput):
    owner = serializers.IntegerField()
    vin = serializers.CharField(max_length=40)


class CustomerFilter(FilterSet):
    q = filters.CharFilter(
        method="by_lookup",
        max_length=120,
        help_text="plate, VIN (or its last 6), phone or part of a name",
    )
    retention = filters.ChoiceFilter(choices=Customer.Retention.choices)
    abc_class = filters.ChoiceFilter(choices=Customer.AbcClass.choices)
    phone = filters.CharFilter(method="by_phone", max_length=40, help_text="any format")

    class Meta:
        model = Customer
        fields = ["q", "retention", "abc_class", "phone"]

    def by_lookup(self, qs, name, value):
        return qs.filter(pk__in=_lookup_ids(self.request, value))

    def by_phone(self, qs, name, value):
        phone = validators.normalize_phone(value)
        return qs.filter(Q(phone=phone) | Q(phone2=phone))


class VehicleFilter(FilterSet):
    q = filters.CharFilter(
        method="by_lookup",
        max_length=120,
        help_text="plate, VIN (or its last 6), phone or part of the owner's name",
    )
    owner = filters.NumberFilter(field_name="owner_id", help_text="the owner's customer id")
    plate = filters.CharFilter(method="by_plate", max_length=20, help_text="any case or spacing")
    vin = filters.CharFilter(method="by_vin", max_length=40, help_text="the full VIN or its last 6")
    due_month = filters.CharFilter(
        method="by_due_month",
        validators=[
            RegexValidator(r"^\d{4}-(0[1-9]|1[0-2])$", gettext_lazy("Use the form YYYY-MM."))
        ],
        help_text="YYYY-MM: service due in that month",
    )

    class Meta:
        model = Vehicle
        fields = ["q", "owner", "plate", "vin", "due_month"]

    def by_lookup(self, qs, name, value):
        return qs.filter(owner_id__in=_lookup_ids(self.request, value))

    def by_plate(self, qs, name, value):
        return qs.filter(plate=validators.normalize_plate(value))

    def by_vin(self, qs, name, value):
        vin = "".join(value.split()).upper()
        return qs.filter(vin_last6=vin) if len(vin) == 6 else qs.filter(vin=vin)

    def by_due_month(self, qs, name, value):
        month = timezone.datetime.strptime(value, "%Y-%m").date()
        due = selectors.due_this_month(site_ids=[self.request.site.pk], month=month)
        return qs.filter(pk__in=due.values("pk"))


def _lookup_ids(request, q: str) -> list[int]:
    hits = selectors.lookup(site_ids=site_ids_of(request.user), q=q, limit=100)
    return [h.customer.pk for h in hits]


class MergeInput(serializers.Serializer):
    merge = serializers.IntegerField(
        help_text="id of the duplicate customer to merge into this one"
    )


class MileageInput(serializers.Serializer):
    km = serializers.IntegerField(min_value=0, max_value=2_000_000)  # beyond: a typo
    read_on = serializers.DateField(required=False)


# --- views -----------------------------------------------------------------------------------
def _customers_of(user):
    return Customer.objects.filter(site_id__in=site_ids_of(user))


def _vehicles_of(user):
    return Vehicle.objects.filter(site_id__in=site_ids_of(user))


@extend_schema_view(
    list=extend_schema(
        responses={200: CustomerRowSerializer(many=True)},
        description="By name, 25 per page; follow `next`. Each row links to the full record "
        "(`url`).",
    ),
    retrieve=extend_schema(responses={200: CustomerSerializer, **_errors(403, 404)}),
    create=extend_schema(
        request=CustomerInput, responses={201: CustomerSerializer, **_errors(400, 403)}
    ),
    partial_update=extend_schema(
        request=CustomerInput, responses={200: CustomerSerializer, **_errors(400, 403, 404)}
    ),
    update=extend_schema(
        request=CustomerInput, responses={200: CustomerSerializer, **_errors(400, 403, 404)}
    ),
)
class CustomerViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Customers of your sites (merged-away duplicates are left out of the list)."""

    serializer_class = CustomerSerializer
    filterset_class = CustomerFilter
    # by name, along the (site, name) index
    pagination_class = cursor_pagination("name", "id")
    permission_classes = [IsAuthenticated, HasRole]
    required_roles = READ_ROLES
    action_roles = {
        "create": CUSTOMER_WRITE_ROLES,
        "update": CUSTOMER_WRITE_ROLES,
        "partial_update": CUSTOMER_WRITE_ROLES,
        "merge": (Role.MANAGER,),
    }

    def get_queryset(self):
        qs = _customers_of(self.request.user).order_by("name", "id")
        if self.action != "list":
            return qs.prefetch_related("vehicles")
        return qs.filter(merged_into__isnull=True)

    def list(self, request, *args, **kwargs):
        if sqlrows.serves(request):
            return sqlrows.page_response(
                self, CUSTOMER_SQL_ROWS, lambda: self.filter_queryset(self.get_queryset())
            )
        qs = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(CustomerRowSerializer.values_of(qs))
        rows = CustomerRowSerializer(page, many=True, context=self.get_serializer_context())
        return self.get_paginated_response(rows.data)

    def create(self, request, *args, **kwargs):
        data = CustomerInput(data=request.data)
        data.is_valid(raise_exception=True)
        customer = services.customer_create(
            site=request.site, actor=request.user, **data.validated_data
        )
        return Response(CustomerSerializer(customer).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        customer = self.get_object()
        data = CustomerInput(data=request.data, partial=kwargs.get("partial", False))
        data.is_valid(raise_exception=True)
        customer = services.customer_update(
            customer=customer, actor=request.user, **data.validated_data
        )
        return Response(CustomerSerializer(self.get_queryset().get(pk=customer.pk)).data)

    @extend_schema(
        request=MergeInput,
        responses={200: CustomerSerializer, **_errors(400, 403, 404)},
        description="Merge a duplicate into this customer: vehicles, repair orders, calls and "
        "complaints move here; the duplicate is marked merged. Service managers only.",
    )
    @action(detail=True, methods=["post"])
    def merge(self, request, pk=None):
        keep = self.get_object()
        data = MergeInput(data=request.data)
        data.is_valid(raise_exception=True)
        dup = get_object_or_404(_customers_of(request.user), pk=data.validated_data["merge"])
        services.customers_merge(keep=keep, merge=dup, actor=request.user)
        return Response(CustomerSerializer(self.get_queryset().get(pk=keep.pk)).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("name", str),
            OpenApiParameter("phone", str),
            OpenApiParameter("plate", str),
        ],
        responses={200: CustomerSerializer(many=True), **_errors(403)},
        description="Possible duplicates: same phone, or same name and a vehicle with the plate.",
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def duplicates(self, request):
        p = request.query_params
        found = selectors.possible_duplicates(
            site=request.site,
            name=p.get("name", ""),
            phone=p.get("phone", ""),
            plate=p.get("plate", ""),
        )
        return Response(CustomerSerializer(found, many=True).data)


@extend_schema_view(
    list=extend_schema(
        responses={200: VehicleSerializer(many=True)},
        description="By plate, 25 per page; follow `next`.",
    ),
    retrieve=extend_schema(responses={200: VehicleSerializer, **_errors(403, 404)}),
    create=extend_schema(
        request=VehicleCreateInput,
        responses={201: VehicleSerializer, **_errors(400, 403)},
        description="A wrong VIN check digit answers 400 with `code: vin_check_digit`; send "
        "`acknowledge_vin_warning: true` to keep the VIN as typed.",
    ),
    partial_update=extend_schema(
        request=VehicleInput, responses={200: VehicleSerializer, **_errors(400, 403, 404)}
    ),
    update=extend_schema(
        request=VehicleInput, responses={200: VehicleSerializer, **_errors(400, 403, 404)}
    ),
)
class VehicleViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Vehicles of your sites, with their service history and odometer readings."""

    serializer_class = VehicleSerializer
    filterset_class = VehicleFilter
    # by plate, along the (site, plate) index
    pagination_class = cursor_pagination("plate", "id")
    permission_classes = [IsAuthenticated, HasRole]
    required_roles = READ_ROLES
    action_roles = {
        "create": VEHICLE_WRITE_ROLES,
        "update": VEHICLE_WRITE_ROLES,
        "partial_update": VEHICLE_WRITE_ROLES,
        "mileage": VEHICLE_WRITE_ROLES,
    }

    def get_queryset(self):
        return _vehicles_of(self.request.user).select_related("owner").order_by("plate", "id")

    def list(self, request, *args, **kwargs):
        if sqlrows.serves(request):
            return sqlrows.page_response(
                self, VEHICLE_SQL_ROWS, lambda: self.filter_queryset(self.get_queryset())
            )
        qs = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(VEHICLE_ROWS.values_of(qs))
        return self.get_paginated_response(VEHICLE_ROWS.write(page))

    def create(self, request, *args, **kwargs):
        data = VehicleCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        owner = _customers_of(request.user).filter(pk=values.pop("owner")).first()
        if owner is None:
            raise ApplicationError(
                _("No such customer at your sites."), fields={"owner": _("Unknown customer.")}
            )
        vehicle = services.vehicle_create(
            site=owner.site, owner=owner, actor=request.user, **values
        )
        return Response(VehicleSerializer(vehicle).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        vehicle = self.get_object()
        data = VehicleInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        vehicle = services.vehicle_update(
            vehicle=vehicle, actor=request.user, **data.validated_data
        )
        return Response(VehicleSerializer(self.get_queryset().get(pk=vehicle.pk)).data)

    @extend_schema(
        responses={200: VisitSerializer(many=True), **_errors(403, 404)},
        description="Every visit, newest first: date, mileage, advisor, lines, amount, "
        "follow-up result and complaints.",
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def history(self, request, pk=None):
        vehicle = self.get_object()
        return Response(VisitSerializer(selectors.vehicle_history(vehicle=vehicle), many=True).data)

    @extend_schema(
        request=MileageInput,
        responses={200: VehicleSerializer, **_errors(400, 403, 404)},
        description=(
            "Record an odometer reading. Refused (400, field message) when it lies in the "
            "future or goes back against the vehicle's other readings."
        ),
    )
    @action(detail=True, methods=["post"])
    def mileage(self, request, pk=None):
        vehicle = self.get_object()
        data = MileageInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.vehicle_record_mileage(
            vehicle=vehicle,
            km=data.validated_data["km"],
            read_on=data.validated_data.get("read_on") or timezone.localdate(),
            actor=request.user,
            source="desk",
        )
        return Response(VehicleSerializer(self.get_queryset().get(pk=vehicle.pk)).data)


class LookupView(APIView):
    """One-box lookup: plate (any case/spaces), full VIN or its last 6, phone (any format), or
    part of a name."""

    permission_classes = [IsAuthenticated, HasRole]
    required_roles = READ_ROLES

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, required=True),
            OpenApiParameter("limit", int, description="1–100, default 20"),
        ],
        responses={200: LookupHitSerializer(many=True), **_errors(400, 403)},
    )
    def get(self, request):
        q = request.query_params.get("q", "")
        try:
            limit = int(request.query_params.get("limit", 20))
        except ValueError:
            raise ApplicationError(
                _("limit must be a number."), fields={"limit": _("Enter a number.")}
            ) from None
        if not q.strip():
            raise ApplicationError(
                _("Type a plate, VIN, phone or name."), fields={"q": _("This field is required.")}
            )
        if "\x00" in q:  # the database cannot compare it: bad input, not a server error
            raise ApplicationError(
                _("Type a plate, VIN, phone or name."),
                fields={"q": _("Null characters are not allowed.")},
            )
        hits = selectors.lookup(site_ids=site_ids_of(request.user), q=q, limit=limit)
        for hit in hits:
            hit.matched_vehicle_ids = sorted(hit.matched_vehicle_ids)
        return Response(LookupHitSerializer(hits, many=True).data)


class SegmentsRecomputeView(APIView):
    """Recompute retention buckets and ABC classes of your current site now (a Celery task)."""

    permission_classes = [IsAuthenticated, HasRole]
    required_roles = (Role.MANAGER,)

    @extend_schema(
        request=None,
        responses={
            202: inline_serializer("SegmentsQueued", {"queued": serializers.BooleanField()}),
            **_errors(403),
        },
    )
    def post(self, request):
        from .tasks import recompute_segments

        site_id = request.site.pk
        transaction.on_commit(lambda: recompute_segments.delay(site_id))
        return Response({"queued": True}, status=status.HTTP_202_ACCEPTED)


class ImportRowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="row number in the file (1: the header)")
    field = serializers.CharField(help_text="the column at fault; empty for the whole row")
    message = serializers.CharField()


class ImportCountsSerializer(serializers.Serializer):
    """What an applied import created (empty while only checked)."""

    customers = serializers.IntegerField(required=False)
    vehicles = serializers.IntegerField(required=False)
    existing_customers = serializers.IntegerField(required=False)


class ImportResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(ImportBatch.Status.choices)
    rows = serializers.IntegerField()
    errors = ImportRowErrorSerializer(many=True)
    result = ImportCountsSerializer()


@extend_schema_serializer(component_name="ImportRefused")
class ImportRefusedSerializer(ErrorSerializer):
    """The one error body; when the file was read, with the check's result (`errors` per row)."""

    id = serializers.IntegerField(required=False)
    status = serializers.ChoiceField(ImportBatch.Status.choices, required=False)
    rows = serializers.IntegerField(required=False)
    errors = ImportRowErrorSerializer(many=True, required=False)
    result = ImportCountsSerializer(required=False)


class ImportView(APIView):
    """Import customers and vehicles from CSV or XLSX. `dry_run=true` (default) only checks and
    reports row by row; `dry_run=false` saves everything or nothing."""

    permission_classes = [IsAuthenticated, HasRole]
    required_roles = (Role.MANAGER,)
    parser_classes = [MultiPartParser]  # the one upload: multipart, not JSON

    @extend_schema(
        request={
            "multipart/form-data": inline_serializer(
                "ImportUpload",
                {
                    "file": serializers.FileField(),
                    "dry_run": serializers.BooleanField(default=True),
                },
            )
        },
        responses={
            200: ImportResultSerializer,
            400: OpenApiResponse(
                ImportRefusedSerializer,
                description="The file is not a readable CSV/XLSX, or rows have errors "
                "(`errors`); nothing was saved.",
            ),
        },
    )
    def post(self, request):
        upload = request.FILES.get("file")
        if upload is None:
            raise ApplicationError(_("Choose a CSV or XLSX file."), fields={"file": _("Required.")})
        dry_run = str(request.data.get("dry_run", "true")).lower() not in ("false", "0", "no")
        batch = imports.import_check(
            site=request.site, actor=request.user, filename=upload.name, content=upload.read()
        )
        if not dry_run and batch.status == ImportBatch.Status.CHECKED:
            batch = imports.import_apply(batch_id=batch.pk, actor=request.user)
        body = {
            "id": batch.pk,
            "status": batch.status,
            "rows": len(batch.rows),
            "errors": batch.errors,
            "result": batch.result,
        }
        code = status.HTTP_400_BAD_REQUEST if batch.status == ImportBatch.Status.INVALID else 200
        if code == 400:
            body = {
                "message": _("The file has errors in %(n)d row(s); nothing was saved.")
                % {"n": len({e["row"] for e in batch.errors})},
                "fields": {},
                **body,
            }
        return Response(body, status=code)


from django.urls import include, path  # noqa: E402
from rest_framework.routers import SimpleRouter  # noqa: E402

router = SimpleRouter()
router.register("customers", CustomerViewSet, basename="customer")
router.register("vehicles", VehicleViewSet, basename="vehicle")

urlpatterns = [
    path("lookup/", LookupView.as_view(), name="customers-lookup"),
    path(
        "customers/segments/recompute/", SegmentsRecomputeView.as_view(), name="segments-recompute"
    ),
    path("customers/import/", ImportView.as_view(), name="customers-import"),
    path("", include(router.urls)),
]
