"""Forms validate the shape of input only; the rules (normalising, duplicates, the VIN check
digit) live in services.py and come back as ApplicationError field messages."""

from django import forms
from django.forms.models import fields_for_model
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from . import services
from .models import Customer, Vehicle

_DATE = {"type": "date"}
_TIME = {"type": "time"}


def _fields(model, names, overrides) -> dict:
    fields = fields_for_model(model, fields=names)
    fields.update(overrides)
    return {name: fields[name] for name in names if name in fields} | {
        k: v for k, v in overrides.items() if k not in names
    }


def _customer_fields() -> dict:
    fields = _fields(
        Customer,
        services.CUSTOMER_FIELDS,
        {
            "name": forms.CharField(
                label=pgettext_lazy("person", "name"), max_length=120, required=False
            ),
            "phone": forms.CharField(
                label=_("phone"),
                max_length=40,
                required=False,
                widget=forms.TextInput(attrs={"inputmode": "tel"}),
            ),
            "phone2": forms.CharField(
                label=_("second phone"),
                max_length=40,
                required=False,
                widget=forms.TextInput(attrs={"inputmode": "tel"}),
            ),
            "email": forms.CharField(label=_("e-mail"), max_length=254, required=False),
        },
    )
    fields["birthday"].widget = forms.DateInput(attrs=_DATE, format="%Y-%m-%d")
    fields["quiet_hours_start"].widget = forms.TimeInput(attrs=_TIME, format="%H:%M")
    fields["quiet_hours_end"].widget = forms.TimeInput(attrs=_TIME, format="%H:%M")
    fields["notes"].widget = forms.Textarea(attrs={"rows": 3})
    fields["address"].widget = forms.TextInput()
    return fields


def _vehicle_fields() -> dict:
    fields = _fields(
        Vehicle,
        services.VEHICLE_FIELDS,
        {
            "vin": forms.CharField(
                label=_("VIN"),
                max_length=40,
                required=False,
                widget=forms.TextInput(
                    attrs={"autocapitalize": "characters", "spellcheck": "false"}
                ),
            ),
            "plate": forms.CharField(
                label=_("plate"),
                max_length=20,
                required=False,
                widget=forms.TextInput(attrs={"autocapitalize": "characters"}),
            ),
            "acknowledge_vin_warning": forms.BooleanField(
                label=_("I compared the VIN with the car and the registration: keep it as typed."),
                required=False,
            ),
        },
    )
    for name in (
        "purchase_date",
        "warranty_end",
        "mileage_read_at",
        "next_service_due_date",
        "insurance_renewal_date",
        "annual_inspection_date",
        "licence_review_date",
    ):
        fields[name].widget = forms.DateInput(attrs=_DATE, format="%Y-%m-%d")
    for name in ("mileage_km", "service_interval_km", "service_interval_months"):
        fields[name].required = False
    return fields


CustomerForm = type("CustomerForm", (forms.Form,), _customer_fields())
VehicleForm = type("VehicleForm", (forms.Form,), _vehicle_fields())

# what the pages group together
CUSTOMER_SECTIONS = [
    (_("Who"), ["kind", "title", "name", "phone", "phone2", "email", "address", "birthday"]),
    (
        _("How to reach them"),
        [
            "preferred_channel",
            "preferred_contact_time",
            "quiet_hours_start",
            "quiet_hours_end",
            "consent_call",
            "consent_sms",
            "consent_email",
            "consent_marketing",
            "board_display",
        ],
    ),
    (_("Notes"), ["notes"]),
]
VEHICLE_SECTIONS = [
    (
        _("Identity"),
        ["vin", "plate", "engine_number", "make", "model", "year", "colour"],
    ),
    (
        _("Purchase and warranty"),
        ["purchase_date", "sold_by_site", "warranty_end", "first_service_done"],
    ),
    (
        _("Mileage and service"),
        [
            "mileage_km",
            "mileage_read_at",
            "service_interval_km",
            "service_interval_months",
            "next_service_due_date",
            "next_service_due_km",
        ],
    ),
    (
        _("Dates to remind"),
        ["insurance_renewal_date", "annual_inspection_date", "licence_review_date"],
    ),
]


class MileageForm(forms.Form):
    km = forms.IntegerField(label=_("odometer (km)"), min_value=0, max_value=2_000_000)
    read_on = forms.DateField(
        label=_("read on"), required=False, widget=forms.DateInput(attrs=_DATE)
    )


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV or XLSX file"),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx"}),
    )
