"""Input forms of the care pages: they validate input only; the rules are in services."""

from datetime import date

from django import forms
from django.utils.translation import gettext_lazy as _

from .selectors import DueStatus


class MonthForm(forms.Form):
    month = forms.CharField(
        label=_("Month"),
        required=False,
        widget=forms.TextInput(attrs={"type": "month"}),
    )
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("All")), *((k, v) for k, v in DueStatus.labels.items())],
    )

    def clean_month(self) -> date | None:
        value = (self.cleaned_data.get("month") or "").strip()
        if not value:
            return None
        try:
            year, month = (int(p) for p in value.split("-"))
            day = date(year, month, 1)
        except ValueError as exc:
            raise forms.ValidationError(
                _("Enter a month as YYYY-MM, e.g. 2026-06."), code="month"
            ) from exc
        if not 2000 <= day.year <= 2100:
            raise forms.ValidationError(
                _("Enter a month between 2000 and 2100."), code="month_range"
            )
        return day


class BookForm(forms.Form):
    start = forms.DateTimeField(
        label=_("Appointment at"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": 900}),
    )
    notes = forms.CharField(label=_("Notes"), required=False, max_length=500)


class SinceForm(forms.Form):
    since = forms.DateField(
        label=_("Sold since"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
