"""Forms validate input only; the booking rules live in services.py."""

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from dms.inputs import parse_moment

from .models import Appointment


class LocalDateTimeField(forms.CharField):
    """An ISO date-time from a slot button; naive values are read in the site's zone later."""

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        parsed = parse_moment(value)
        if parsed is None:
            raise forms.ValidationError(_("Choose a slot."))
        return parsed


class BookingForm(forms.Form):
    vehicle = forms.IntegerField(widget=forms.HiddenInput)
    start = LocalDateTimeField(label=_("Slot"), error_messages={"required": _("Choose a slot.")})
    advisor = forms.IntegerField(required=False, widget=forms.HiddenInput)
    estimated_hours = forms.DecimalField(
        label=_("Estimated labour hours"),
        required=False,
        min_value=0,
        max_value=40,
        decimal_places=1,
        help_text=_("Leave empty to use the chosen services' standard hours."),
    )
    services = forms.MultipleChoiceField(
        label=_("Services"), required=False, widget=forms.CheckboxSelectMultiple
    )
    source = forms.ChoiceField(
        label=_("Source"), choices=Appointment.Source.choices, initial="customer"
    )
    channel = forms.ChoiceField(
        label=_("Channel"), choices=Appointment.BookingChannel.choices, initial="front_desk"
    )
    notes = forms.CharField(
        label=_("Notes (the customer's words)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    override_reason = forms.CharField(
        label=_("Override reason (buffer slot or full day)"), required=False, max_length=200
    )
    allow_same_day = forms.BooleanField(
        label=_("Another visit the same day (the car already has an appointment that day)"),
        required=False,
    )

    def __init__(self, *args, offerings=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["services"].choices = [
            (o.code, f"{o.name} · {o.standard_hours} h") for o in offerings
        ]


class WalkInForm(forms.Form):
    vehicle = forms.IntegerField(widget=forms.HiddenInput)
    estimated_hours = forms.DecimalField(
        label=_("Estimated labour hours"), required=False, min_value=0, max_value=40
    )
    notes = forms.CharField(label=_("Concern"), required=False, max_length=2000)


class RescheduleForm(forms.Form):
    start = LocalDateTimeField(
        label=_("New slot"), error_messages={"required": _("Choose a slot.")}
    )
    advisor = forms.IntegerField(required=False, widget=forms.HiddenInput)
    override_reason = forms.CharField(label=_("Override reason"), required=False, max_length=200)


class CancelForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=200,
        error_messages={"required": _("Say why the appointment is cancelled.")},
    )


class NewCustomerForm(forms.Form):
    """The front desk's one form for a new customer and their car (shape only: the archive's
    services normalise the phone, plate and VIN and check duplicates)."""

    title = forms.ChoiceField(
        label=pgettext_lazy("form of address", "Title"),
        choices=[("", "—"), ("mr", _("Mr")), ("ms", _("Ms"))],
        required=False,
    )
    name = forms.CharField(label=pgettext_lazy("person", "Name"), max_length=120)
    phone = forms.CharField(
        label=_("Phone"), max_length=40, widget=forms.TextInput(attrs={"inputmode": "tel"})
    )
    plate = forms.CharField(
        label=_("Plate"),
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"autocapitalize": "characters"}),
    )
    vin = forms.CharField(
        label=_("VIN"),
        max_length=40,
        widget=forms.TextInput(attrs={"autocapitalize": "characters", "spellcheck": "false"}),
    )
    make = forms.CharField(label=_("Make"), max_length=40, required=False)
    model = forms.CharField(label=pgettext_lazy("car", "Model"), max_length=60, required=False)
    mileage_km = forms.IntegerField(
        label=_("Odometer (km)"), min_value=0, max_value=2_000_000, required=False
    )
    acknowledge_vin_warning = forms.BooleanField(
        label=_("I compared the VIN with the car and the registration: keep it as typed."),
        required=False,
    )

    CUSTOMER = ("title", "name", "phone")
    VEHICLE = ("plate", "vin", "make", "model", "mileage_km")
