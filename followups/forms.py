"""Forms validate input only; the rules are in services."""

from django import forms
from django.utils.translation import gettext_lazy as _

from outreach.models import CallOutcome

from .models import ComplaintCause, ComplaintChannel, ComplaintDecision

SCORES = [("", _("—")), *[(str(n), str(n)) for n in range(1, 6)]]


class OutcomeForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("Outcome"), choices=CallOutcome.choices, widget=forms.RadioSelect
    )
    satisfaction = forms.TypedChoiceField(
        label=_("Satisfaction (1 = very unhappy, 5 = very happy)"),
        choices=SCORES,
        coerce=int,
        empty_value=None,
        required=False,
    )
    comments = forms.CharField(
        label=_("Comments, in the customer's words"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
    )
    dissatisfied = forms.BooleanField(label=_("Customer is not satisfied"), required=False)
    technical_problem = forms.BooleanField(
        label=_("Reports a technical problem (a technician calls back)"), required=False
    )
    technical_note = forms.CharField(
        label=_("The problem as described"),
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
    )
    new_start = forms.DateTimeField(
        label=_("New appointment time"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": 900}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    reason = forms.CharField(label=_("Reason"), required=False, max_length=200)

    def __init__(self, *args, reminder: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if reminder:
            del self.fields["satisfaction"]
            del self.fields["dissatisfied"]
        else:
            self.fields["outcome"].choices = [
                c for c in CallOutcome.choices if c[0] in ("reached", "no_answer", "wrong_number")
            ]
            del self.fields["new_start"]
            del self.fields["reason"]


class ComplaintOpenForm(forms.Form):
    channel = forms.ChoiceField(label=_("Channel"), choices=ComplaintChannel.choices)
    customer = forms.IntegerField(widget=forms.HiddenInput)
    repair_order = forms.IntegerField(widget=forms.HiddenInput, required=False)
    description = forms.CharField(
        label=_("What the customer says"), widget=forms.Textarea(attrs={"rows": 4})
    )


class AssignForm(forms.Form):
    handler = forms.IntegerField(widget=forms.HiddenInput, required=False)


class NoteForm(forms.Form):
    note = forms.CharField(label=_("What was said"), widget=forms.Textarea(attrs={"rows": 3}))


class DecideForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Decision"), choices=ComplaintDecision.choices, widget=forms.RadioSelect
    )
    cause = forms.ChoiceField(label=_("Cause"), choices=ComplaintCause.choices)
    apology = forms.CharField(
        label=_("Apology given"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )
    rework_start = forms.DateTimeField(
        label=_("Free rework at (the customer's choice)"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": 900}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    rework_hours = forms.DecimalField(
        label=_("Rework labour hours"), min_value=0, decimal_places=1, initial=1, required=False
    )
    remedy_cost = forms.DecimalField(
        label=_("Cost of the remedy"), min_value=0, decimal_places=2, initial=0, required=False
    )
    explanation = forms.CharField(
        label=_("Explanation given"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )
    free_inspection = forms.BooleanField(label=_("Free inspection offered"), required=False)
    labour_discount = forms.DecimalField(
        label=_("Labour discount"), min_value=0, decimal_places=2, initial=0, required=False
    )


class ResolveForm(forms.Form):
    resolution = forms.CharField(label=_("What was done"), widget=forms.Textarea(attrs={"rows": 3}))
