"""REST API for appointments: availability, day load, booking and the lifecycle actions.

Validate input → call a service or selector → serialize. Every query is limited to the user's
sites; another site's appointment is a 404. Errors use the one JSON shape
{"message": …, "fields": {field: [messages]}}; a taken slot or a full day is a 409.
"""

from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext as _
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from customers.models import Customer, Vehicle
from dms.api.filters import FilterSet
from dms.api.lists import RowSerializer
from dms.api.pagination import cursor_pagination
from dms.api.schema import error_response
from dms.exceptions import ApplicationError, NotFoundError
from dms.inputs import parse_moment
from dms.models import Role, StaffRole
from dms.permissions import HasRole, scope, site_ids_of

from . import selectors, services
from .models import Appointment, AppointmentStatus

READ_ROLES = (Role.ADVISOR, Role.FOLLOWUP_AGENT, Role.PARTS_CLERK, Role.DISPATCHER)
BOOK_ROLES = services.BOOKING_ROLES
DESK_ROLES = (Role.ADVISOR,)


def _errors(*codes: int) -> dict:
    text = {
        400: "Bad input (past date, closed day, not a slot, unknown vehicle…): "
        "`fields` maps each field to its messages",
        403: "Not allowed: the message says which role is needed",
        404: "No such appointment at your sites",
        409: "The slot is taken, the day is full, or the state does not allow it",
    }
    return {c: error_response(c, text[c]) for c in codes}


def extend_schema_field_dict(shape: dict):
    """Describe a SerializerMethodField returning a small object."""
    from drf_spectacular.utils import extend_schema_field

    types = {"integer": serializers.IntegerField(), "string": serializers.CharField()}
    name = "Ref" + "".join(k.title() for k in shape)
    if name not in _REFS:  # one component per shape, however many fields use it
        _REFS[name] = inline_serializer(name=name, fields={k: types[v] for k, v in shape.items()})
    return extend_schema_field(_REFS[name])


_REFS: dict = {}


# --- fields ----------------------------------------------------------------------------------
@extend_schema_field(
    {
        "type": "string",
        "example": "2026-11-24T09:30",
        "description": "ISO 8601; without an offset, the site's local time",
    }
)
class LocalDateTimeField(serializers.Field):
    """An ISO datetime; without an offset it is read in the site's time zone (not the server's)."""

    default_error_messages = {"invalid": "Enter a date and time like 2026-11-24T09:15."}

    def to_internal_value(self, data):
        value = parse_moment(data) if data not in (None, "") else None
        if value is None:
            self.fail("invalid")
        return value  # naive values get the site's zone in the service

    def to_representation(self, value):
        return value.isoformat()


# --- output ----------------------------------------------------------------------------------
class AppointmentSerializer(serializers.ModelSerializer):
    advisor = serializers.SerializerMethodField()
    customer = serializers.SerializerMethodField()
    vehicle = serializers.SerializerMethodField()
    start = serializers.SerializerMethodField()
    end = serializers.SerializerMethodField()
    confirmation_text = serializers.SerializerMethodField()
    repair_order_id = serializers.SerializerMethodField()

    class Meta:
        model = Appointment
        fields = [
            "id",
            "site",
            "status",
            "start",
            "end",
            "day",
            "advisor",
            "customer",
            "vehicle",
            "estimated_hours",
            "services",
            "source",
            "channel",
            "is_buffer_slot",
            "override_reason",
            "notes",
            "reschedule_count",
            "confirmation_text",
            "repair_order_id",
            "created_at",
        ]
        read_only_fields = fields

    def _local(self, obj, value) -> str:
        return value.astimezone(obj.site.tzinfo).isoformat()

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_start(self, obj) -> str:
        return self._local(obj, obj.start)

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_end(self, obj) -> str:
        return self._local(obj, obj.end)

    @extend_schema_field_dict({"id": "integer", "name": "string"})
    def get_advisor(self, obj) -> dict:
        return {"id": obj.advisor_id, "name": selectors.person_name(obj.advisor)}

    @extend_schema_field_dict({"id": "integer", "name": "string"})
    def get_customer(self, obj) -> dict:
        return {"id": obj.customer_id, "name": obj.customer.name}

    @extend_schema_field_dict({"id": "integer", "plate": "string", "vin": "string"})
    def get_vehicle(self, obj) -> dict:
        return {"id": obj.vehicle_id, "plate": obj.vehicle.plate, "vin": obj.vehicle.vin}

    def get_confirmation_text(self, obj) -> str:
        return selectors.confirmation_text(obj)

    def get_repair_order_id(self, obj) -> int | None:
        return getattr(getattr(obj, "repair_order", None), "pk", None)


# A day has up to ~300 slots (slots × advisors on duty): written by RowSerializer's one loop
# per row, not by four DRF fields per slot.
class SlotSerializer(RowSerializer):
    """A free reception slot and the advisor who would receive the car."""

    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    advisor_id = serializers.IntegerField()
    advisor_name = serializers.CharField()


class DayLoadSerializer(serializers.Serializer):
    date = serializers.DateField()
    open = serializers.BooleanField()
    capacity_hours = serializers.DecimalField(max_digits=7, decimal_places=1)
    booked_hours = serializers.DecimalField(max_digits=7, decimal_places=1)
    remaining_hours = serializers.DecimalField(max_digits=7, decimal_places=1)
    load_percent = serializers.IntegerField()
    appointments = serializers.IntegerField()
    heavy = serializers.BooleanField()
    full = serializers.BooleanField()


class SuggestionSerializer(DayLoadSerializer):
    slots = SlotSerializer(many=True)


class AvailabilitySerializer(DayLoadSerializer):
    hours = serializers.DecimalField(max_digits=5, decimal_places=1)
    fits = serializers.BooleanField()
    closed_reason = serializers.CharField()
    slots = SlotSerializer(many=True)
    suggestions = SuggestionSerializer(many=True)


# --- input -----------------------------------------------------------------------------------
class AvailabilityQuery(serializers.Serializer):
    date = serializers.DateField()
    hours = serializers.DecimalField(
        max_digits=4, decimal_places=1, min_value=Decimal("0"), max_value=services.MAX_HOURS
    )
    advisor = serializers.IntegerField(required=False)


class LoadQuery(serializers.Serializer):
    start = serializers.DateField(required=False)
    days = serializers.IntegerField(required=False, min_value=1, max_value=31, default=7)


class BookIn(serializers.Serializer):
    vehicle = serializers.IntegerField()
    customer = serializers.IntegerField(required=False, help_text="defaults to the owner")
    start = LocalDateTimeField()
    advisor = serializers.IntegerField(
        required=False, allow_null=True, help_text="omit for the least-loaded free advisor"
    )
    services = serializers.ListField(
        child=serializers.CharField(max_length=30), required=False, default=list
    )
    estimated_hours = serializers.DecimalField(
        max_digits=4, decimal_places=1, required=False, allow_null=True
    )
    source = serializers.ChoiceField(
        choices=Appointment.Source.choices, default=Appointment.Source.CUSTOMER
    )
    channel = serializers.ChoiceField(
        choices=Appointment.BookingChannel.choices, default=Appointment.BookingChannel.PHONE
    )
    notes = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    override_reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=200
    )
    allow_same_day = serializers.BooleanField(
        default=False,
        help_text="book although the car already has an appointment that day (not overlapping)",
    )


class RescheduleIn(serializers.Serializer):
    start = LocalDateTimeField()
    advisor = serializers.IntegerField(required=False, allow_null=True)
    estimated_hours = serializers.DecimalField(
        max_digits=4, decimal_places=1, required=False, allow_null=True
    )
    override_reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=200
    )


class CancelIn(serializers.Serializer):
    reason = serializers.CharField(max_length=200)


class AppointmentFilter(FilterSet):
    date = filters.DateFilter(
        field_name="day", help_text="the site-local day (default: today at the site)"
    )
    status = filters.ChoiceFilter(choices=AppointmentStatus.choices)

    class Meta:
        model = Appointment
        fields = ["date", "status"]


class CheckInOut(serializers.Serializer):
    appointment = AppointmentSerializer()
    repair_order_id = serializers.IntegerField(allow_null=True)


def _advisor(site, advisor_id):
    if advisor_id in (None, ""):
        return None
    role = (
        StaffRole.objects.filter(site=site, role=Role.ADVISOR, user_id=advisor_id)
        .select_related("user")
        .first()
    )
    if role is None:
        raise ApplicationError(
            _("Unknown advisor."), fields={"advisor": _("Choose an advisor of this site.")}
        )
    return role.user


def _valid(serializer_class, data) -> dict:
    s = serializer_class(data=data)
    s.is_valid(raise_exception=True)
    return s.validated_data


class AppointmentViewSet(viewsets.GenericViewSet):
    queryset = Appointment.objects.none()  # not used to serve: tells the schema ids are integers
    serializer_class = AppointmentSerializer  # what OPTIONS describes
    filterset_class = AppointmentFilter
    # a day's appointments by start time
    pagination_class = cursor_pagination("start", "id")
    permission_classes = [HasRole]
    required_roles = READ_ROLES
    action_roles = {
        "create": BOOK_ROLES,
        "confirm": BOOK_ROLES,
        "reschedule": BOOK_ROLES,
        "cancel": BOOK_ROLES,
        "check_in": DESK_ROLES,
    }

    def _queryset(self):
        return scope(Appointment.objects.all(), self.request.user).select_related(
            "site", "customer", "vehicle", "advisor", "repair_order"
        )

    def _get(self, pk) -> Appointment:
        try:
            return self._queryset().get(pk=pk)
        except (Appointment.DoesNotExist, ValueError):
            raise NotFoundError(_("No such appointment.")) from None

    def _out(self, appointment, code=status.HTTP_200_OK) -> Response:
        appointment = self._get(appointment.pk)
        return Response(AppointmentSerializer(appointment).data, status=code)

    @extend_schema(
        summary="Appointments of a day",
        description="By start time, 25 per page; follow `next`.",
        responses={200: AppointmentSerializer(many=True)},
    )
    def list(self, request):
        site = request.site
        qs = self.filter_queryset(selectors.appointment_list(site_ids=[site.pk]))
        if not request.query_params.get("date"):
            qs = qs.filter(day=selectors.local_today(site))
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(AppointmentSerializer(page, many=True).data)

    @extend_schema(
        summary="One appointment", responses={200: AppointmentSerializer, **_errors(404)}
    )
    def retrieve(self, request, pk=None):
        return self._out(self._get(pk))

    @extend_schema(
        summary="Book an appointment",
        description="Books a reception slot and its workshop hours. Without `advisor` the "
        "least-loaded free advisor is chosen. Buffer slots need `override_reason`; passing the "
        "day's capacity needs a service manager's `override_reason`. Parallel requests for one "
        "slot or the last hours: exactly one 201, the rest 409. A car has one active appointment at "
        "a time: an overlapping one is a 409 naming it (`appointment`), a second one the same "
        "day needs `allow_same_day`.",
        request=BookIn,
        responses={201: AppointmentSerializer, **_errors(400, 403, 409)},
    )
    def create(self, request):
        data = _valid(BookIn, request.data)
        vehicle = (
            Vehicle.objects.filter(pk=data["vehicle"], site_id__in=site_ids_of(request.user))
            .select_related("owner", "site")
            .first()
        )
        if vehicle is None:
            raise ApplicationError(
                _("Unknown vehicle."), fields={"vehicle": _("No such vehicle at your sites.")}
            )
        site = vehicle.site
        customer = vehicle.owner
        if data.get("customer") and data["customer"] != vehicle.owner_id:
            customer = Customer.objects.filter(pk=data["customer"], site=site).first()
            if customer is None:
                raise ApplicationError(
                    _("Unknown customer."), fields={"customer": _("No such customer here.")}
                )
        appointment = services.appointment_book(
            site=site,
            customer=customer,
            vehicle=vehicle,
            start=data["start"],
            actor=request.user,
            advisor=_advisor(site, data.get("advisor")),
            estimated_hours=data.get("estimated_hours"),
            services=data["services"],
            source=data["source"],
            channel=data["channel"],
            notes=data["notes"],
            override_reason=data["override_reason"],
            allow_same_day=data["allow_same_day"],
        )
        return self._out(appointment, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Confirm",
        request=None,
        responses={200: AppointmentSerializer, **_errors(403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        appointment = self._get(pk)
        services.appointment_confirm(appointment_id=appointment.pk, actor=request.user)
        return self._out(appointment)

    @extend_schema(
        summary="Move to another slot",
        request=RescheduleIn,
        responses={200: AppointmentSerializer, **_errors(400, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def reschedule(self, request, pk=None):
        appointment = self._get(pk)
        data = _valid(RescheduleIn, request.data)
        services.appointment_reschedule(
            appointment_id=appointment.pk,
            start=data["start"],
            actor=request.user,
            advisor=_advisor(appointment.site, data.get("advisor")),
            estimated_hours=data.get("estimated_hours"),
            override_reason=data["override_reason"],
        )
        return self._out(appointment)

    @extend_schema(
        summary="Cancel",
        request=CancelIn,
        responses={200: AppointmentSerializer, **_errors(400, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        appointment = self._get(pk)
        data = _valid(CancelIn, request.data)
        services.appointment_cancel(
            appointment_id=appointment.pk, actor=request.user, reason=data["reason"]
        )
        return self._out(appointment)

    @extend_schema(
        summary="Check in (the customer arrived): opens the repair order",
        request=None,
        responses={200: CheckInOut, **_errors(403, 404, 409)},
    )
    @action(detail=True, methods=["post"], url_path="check-in")
    def check_in(self, request, pk=None):
        appointment = self._get(pk)
        ro = services.appointment_check_in(appointment_id=appointment.pk, actor=request.user)
        appointment = self._get(pk)
        return Response(
            {
                "appointment": AppointmentSerializer(appointment).data,
                "repair_order_id": getattr(ro, "pk", None),
            }
        )

    @extend_schema(
        summary="Free slots and capacity of a day, with load-levelling suggestions",
        parameters=[
            OpenApiParameter("date", date, required=True),
            OpenApiParameter("hours", float, required=True, description="estimated labour hours"),
            OpenApiParameter("advisor", int, description="only this advisor's slots"),
        ],
        responses={200: AvailabilitySerializer, **_errors(400, 403)},
    )
    @action(detail=False, methods=["get"])
    def availability(self, request):
        site = request.site
        data = _valid(AvailabilityQuery, request.query_params)
        now = timezone.now()
        if data["date"] < selectors.local_today(site, now):
            raise ApplicationError(
                _("That date is in the past."), fields={"date": _("Choose today or later.")}
            )
        horizon = selectors.local_today(site, now) + timedelta(days=services.BOOKING_HORIZON_DAYS)
        if data["date"] > horizon:
            raise ApplicationError(
                _("Bookings open at most a year ahead."),
                fields={"date": _("Choose a date within the next year.")},
            )
        result = selectors.availability(
            site=site,
            day=data["date"],
            hours=data["hours"],
            advisor=_advisor(site, data.get("advisor")),
            now=now,
        )
        return Response(AvailabilitySerializer(result).data)

    @extend_schema(
        summary="Booked and remaining workshop hours per day (default: the next 7 days)",
        parameters=[OpenApiParameter("start", date), OpenApiParameter("days", int)],
        responses={200: DayLoadSerializer(many=True), **_errors(400, 403)},
    )
    @action(detail=False, methods=["get"])
    def load(self, request):
        site = request.site
        data = _valid(LoadQuery, request.query_params)
        today = selectors.local_today(site)
        start = data.get("start") or today
        if abs((start - today).days) > services.BOOKING_HORIZON_DAYS:
            raise ApplicationError(
                _("Choose a start within a year of today."),
                fields={"start": _("Choose a date within a year of today.")},
            )
        return Response(
            DayLoadSerializer(
                selectors.week_load(site=site, start=start, days=data["days"]), many=True
            ).data
        )


router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("appointments", AppointmentViewSet, basename="appointment")
urlpatterns = router.urls
