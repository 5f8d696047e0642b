"""Forms of the advisor's pages. They validate input only; the services hold the rules."""

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .models import (
    DAMAGE_PANELS,
    FINAL_CHECK_ITEMS,
    HANDOVER_ITEMS,
    INTERIOR_CHECKS,
    QC_ITEMS,
    ApprovalChannel,
    FuelLevel,
    PartLine,
    PaymentMethod,
    Symptom,
)

DT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
REMOTE_CHANNELS = [c for c in ApprovalChannel.choices if c[0] not in ("signature", "link")]


class IntakeForm(forms.Form):
    covers_fitted = forms.BooleanField(
        label=_("Seat and steering-wheel covers fitted in front of the customer"), required=False
    )
    vin_read = forms.CharField(
        label=_("VIN read from the car"),
        max_length=30,
        required=False,
        widget=forms.TextInput(attrs={"autocapitalize": "characters", "autocomplete": "off"}),
    )
    vin_mismatch_acknowledged = forms.BooleanField(
        label=_("I checked: the VIN differs from the archive"), required=False
    )
    odometer_km = forms.IntegerField(
        label=_("Odometer (km)"),
        min_value=0,
        required=False,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    odometer_reason = forms.CharField(
        label=_("Reason if below the last reading"), max_length=200, required=False
    )
    fuel_level = forms.ChoiceField(
        label=_("Fuel level"),
        choices=[("", "—"), *FuelLevel.choices],
        required=False,
        widget=forms.RadioSelect,
    )
    concern = forms.CharField(
        label=_("Customer's concern (in their words)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    symptom_engine = forms.ChoiceField(
        label=_("Engine"), choices=Symptom.Engine.choices, required=False
    )
    symptom_speed = forms.ChoiceField(
        label=_("Speed"), choices=Symptom.Speed.choices, required=False
    )
    symptom_load = forms.ChoiceField(
        label=pgettext_lazy("vehicle load", "Load"), choices=Symptom.Load.choices, required=False
    )
    symptom_road = forms.ChoiceField(label=_("Road"), choices=Symptom.Road.choices, required=False)
    symptom_pattern = forms.ChoiceField(
        label=_("Occurs"), choices=Symptom.Pattern.choices, required=False
    )
    symptom_since = forms.CharField(label=_("Since when"), max_length=100, required=False)
    recent_repairs = forms.CharField(label=_("Recent repairs"), max_length=300, required=False)
    added_equipment = forms.CharField(label=_("Added equipment"), max_length=300, required=False)
    valuables = forms.CharField(
        label=_("Valuables and accessories left in the car"), max_length=300, required=False
    )
    engine_bay = forms.CharField(
        label=_("Engine bay (checked last)"), max_length=300, required=False
    )
    underbody_checked = forms.BooleanField(label=_("Underbody checked on the lift"), required=False)
    underbody_notes = forms.CharField(label=_("Underbody findings"), max_length=300, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for key, label in DAMAGE_PANELS.items():
            self.fields[f"damage_{key}"] = forms.CharField(
                label=label,
                max_length=200,
                required=False,
                widget=forms.TextInput(attrs={"placeholder": _("OK")}),
            )
            self.fields[f"photo_{key}"] = forms.FileField(
                label=_("Photo"),
                required=False,
                widget=forms.ClearableFileInput(
                    attrs={"accept": "image/*", "capture": "environment"}
                ),
            )
        for key, label in INTERIOR_CHECKS.items():
            self.fields[f"interior_{key}"] = forms.CharField(
                label=label,
                max_length=200,
                required=False,
                widget=forms.TextInput(attrs={"placeholder": _("OK")}),
            )

    def damage_rows(self):
        return [(self[f"damage_{k}"], self[f"photo_{k}"]) for k in DAMAGE_PANELS]

    def interior_rows(self):
        return [self[f"interior_{k}"] for k in INTERIOR_CHECKS]

    def service_kwargs(self) -> dict:
        d = dict(self.cleaned_data)
        damage = {k: d.pop(f"damage_{k}", "") for k in DAMAGE_PANELS}
        photos = [(k, d.pop(f"photo_{k}")) for k in DAMAGE_PANELS if d.get(f"photo_{k}")]
        for k in DAMAGE_PANELS:
            d.pop(f"photo_{k}", None)
        interior = {k: d.pop(f"interior_{k}", "") for k in INTERIOR_CHECKS}
        return {**d, "damage": damage, "interior": interior, "photos": photos}


class LineForm(forms.Form):
    description = forms.CharField(label=_("Operation"), max_length=200)
    operation_code = forms.CharField(label=_("Code"), max_length=30, required=False)
    standard_hours = forms.DecimalField(
        label=_("Standard hours"), min_value=0, max_digits=5, decimal_places=2
    )
    discount = forms.DecimalField(
        label=_("Discount"), min_value=0, max_digits=10, decimal_places=2, required=False
    )
    part_name = forms.CharField(label=_("Part"), max_length=120, required=False)
    part_number = forms.CharField(label=_("Part number"), max_length=40, required=False)
    part_quantity = forms.DecimalField(
        label=_("Qty"), min_value=Decimal("0.01"), max_digits=8, decimal_places=2, required=False
    )
    part_price = forms.DecimalField(
        label=_("Unit price"), min_value=0, max_digits=10, decimal_places=2, required=False
    )
    part_stock = forms.ChoiceField(label=_("Stock"), choices=PartLine.Stock.choices, required=False)

    def parts(self) -> list[dict]:
        d = self.cleaned_data
        if not d.get("part_name"):
            return []
        return [
            {
                "name": d["part_name"],
                "part_number": d.get("part_number") or "",
                "quantity": d.get("part_quantity") or 1,
                "unit_price": d.get("part_price") or 0,
                "stock_status": d.get("part_stock") or PartLine.Stock.IN_STOCK,
            }
        ]


class PartForm(forms.Form):
    name = forms.CharField(label=_("Part"), max_length=120)
    part_number = forms.CharField(label=_("Part number"), max_length=40, required=False)
    quantity = forms.DecimalField(
        label=_("Qty"), min_value=Decimal("0.01"), max_digits=8, decimal_places=2
    )
    unit_price = forms.DecimalField(
        label=_("Unit price"), min_value=0, max_digits=10, decimal_places=2
    )
    stock_status = forms.ChoiceField(label=_("Stock"), choices=PartLine.Stock.choices)
    expected_date = forms.DateField(
        label=_("Expected"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )


class LineEditForm(forms.Form):
    description = forms.CharField(label=_("Operation"), max_length=200)
    standard_hours = forms.DecimalField(
        label=_("Standard hours"), min_value=0, max_digits=5, decimal_places=2
    )
    discount = forms.DecimalField(label=_("Discount"), min_value=0, max_digits=10, decimal_places=2)


class EstimateForm(forms.Form):
    not_to_exceed = forms.DecimalField(
        label=_("Not to exceed (incl. tax)"),
        min_value=0,
        max_digits=10,
        decimal_places=2,
        required=False,
    )
    promised_at = forms.DateTimeField(label=_("Promised delivery"), required=False, widget=DT)


class AuthorizeForm(forms.Form):
    channel = forms.ChoiceField(
        label=_("How the customer authorized"),
        choices=[("signature", ApprovalChannel.SIGNATURE.label), *REMOTE_CHANNELS],
    )
    customer_name = forms.CharField(label=_("Customer's name"), max_length=120, required=False)
    promised_at = forms.DateTimeField(label=_("Promised delivery"), required=False, widget=DT)
    not_to_exceed = forms.DecimalField(
        label=_("Not to exceed (incl. tax)"),
        min_value=0,
        max_digits=10,
        decimal_places=2,
        required=False,
    )
    signature = forms.CharField(required=False, widget=forms.HiddenInput)
    note = forms.CharField(label=_("Note"), max_length=300, required=False)


class AnswerForm(forms.Form):
    channel = forms.ChoiceField(label=_("Answered by"), choices=REMOTE_CHANNELS)
    customer_name = forms.CharField(label=_("Customer's name"), max_length=120, required=False)
    estimate_version = forms.IntegerField(widget=forms.HiddenInput)


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200)


class WaitPartsForm(forms.Form):
    part = forms.CharField(label=_("Waiting for part"), max_length=120)
    expected_date = forms.DateField(
        label=_("Expected"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )


class QcFailForm(forms.Form):
    reason = forms.CharField(label=_("What failed"), max_length=300)


class DelayForm(forms.Form):
    promised_at = forms.DateTimeField(label=_("New promised time"), widget=DT)
    channel = forms.ChoiceField(label=_("Customer told by"), choices=REMOTE_CHANNELS)
    note = forms.CharField(label=_("Note"), max_length=300, required=False)


class ApproveTotalForm(forms.Form):
    amount = forms.DecimalField(
        label=_("Agreed total"), min_value=Decimal("0.01"), max_digits=10, decimal_places=2
    )
    channel = forms.ChoiceField(label=_("Answered by"), choices=REMOTE_CHANNELS)
    customer_name = forms.CharField(label=_("Customer's name"), max_length=120, required=False)


def checklist_form(items: dict):
    fields = {key: forms.BooleanField(label=label, required=False) for key, label in items.items()}
    return type("ChecklistForm", (forms.Form,), fields)


QcForm = checklist_form(QC_ITEMS)
FinalCheckForm = checklist_form(FINAL_CHECK_ITEMS)
HandoverForm = checklist_form(HANDOVER_ITEMS)


class DeliverForm(HandoverForm):
    payment_method = forms.ChoiceField(label=_("Payment method"), choices=PaymentMethod.choices)
    next_service_due_date = forms.DateField(
        label=_("Next service due on"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    next_service_due_km = forms.IntegerField(label=_("Next service due at (km)"), min_value=0)
    book_next = forms.BooleanField(label=_("Book the next appointment now"), required=False)
    book_start = forms.DateTimeField(label=_("Appointment time"), required=False, widget=DT)
    book_hours = forms.DecimalField(
        label=_("Estimated hours"), min_value=0, max_digits=4, decimal_places=1, required=False
    )

    def clean(self):
        data = super().clean()
        if data.get("book_next") and not data.get("book_start"):
            self.add_error("book_start", _("Choose the date and time of the next appointment."))
        return data


class LinkAnswerForm(forms.Form):
    customer_name = forms.CharField(label=_("Your name"), max_length=120, required=False)
