"""Input checks of the customer pages (the rules are in the services)."""

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class CodeRequestForm(forms.Form):
    plate = forms.CharField(label=_("Plate"), max_length=12)
    phone = forms.CharField(label=_("Mobile number"), max_length=20)
    start = forms.CharField(max_length=40)
    services = forms.MultipleChoiceField(label=_("Services"), choices=())

    def __init__(self, *args, menu=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["services"].choices = [(o.code, o.name) for o in menu]


class CodeForm(forms.Form):
    key = forms.CharField(max_length=64, widget=forms.HiddenInput)
    code = forms.CharField(label=pgettext_lazy("one-time code", "Code"), max_length=8)


class DetailsForm(forms.Form):
    key = forms.CharField(max_length=64, widget=forms.HiddenInput)
    name = forms.CharField(label=_("Your name"), max_length=120)
    vin = forms.CharField(label=_("VIN (on the vehicle licence 行驶证)"), max_length=20)


class RescheduleForm(forms.Form):
    start = forms.CharField(max_length=40)


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("Reason (optional)"), max_length=200, required=False)


class SurveyForm(forms.Form):
    answer = forms.CharField(
        label=_("How has the car been since your visit?"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
    )
    satisfaction = forms.TypedChoiceField(
        label=_("How satisfied are you with this visit?"),
        choices=[(i, str(i)) for i in range(5, 0, -1)],
        coerce=int,
        widget=forms.RadioSelect,
    )
    comments = forms.CharField(
        label=_("Anything we could have done better? (optional)"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        required=False,
    )
