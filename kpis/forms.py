"""The dashboard/API query: which sites and which period. Validates input only."""

import datetime as dt

from django import forms
from django.utils.translation import gettext_lazy as _

from .selectors import MAX_PERIOD_DAYS, PRESETS, period_for


class KpiQueryForm(forms.Form):
    site = forms.CharField(required=False, help_text=_("a site id, or “all” for all your sites"))
    preset = forms.ChoiceField(
        required=False, choices=[("", "—")] + [(k, v) for k, v in PRESETS.items()]
    )
    start = forms.DateField(required=False, input_formats=["%Y-%m-%d"])
    end = forms.DateField(required=False, input_formats=["%Y-%m-%d"])

    def __init__(self, *args, today: dt.date, allowed_site_ids: list[int], **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today
        self.allowed_site_ids = allowed_site_ids

    def clean_site(self) -> list[int] | None:
        """None = all the user's sites; a list with one id otherwise. An id the user does not
        manage is reported like one that does not exist (the view turns it into a 404)."""
        raw = (self.cleaned_data.get("site") or "").strip()
        if raw in ("", "all"):
            return None
        try:
            site_id = int(raw)
        except ValueError:
            raise forms.ValidationError(_("Give a site id or “all”.")) from None
        if site_id not in self.allowed_site_ids:
            self.unknown_site = True
            raise forms.ValidationError(_("No such site among yours."))
        return [site_id]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        start, end, preset = data.get("start"), data.get("end"), data.get("preset")
        if start or end:
            if not (start and end):
                missing = "end" if start else "start"
                self.add_error(missing, _("Give both the start and the end date."))
                return data
            if start > end:
                self.add_error("end", _("The end date must not be before the start date."))
                return data
            if (end - start).days + 1 > MAX_PERIOD_DAYS:
                self.add_error(
                    "end",
                    _("A period can be at most %(n)d days long.") % {"n": MAX_PERIOD_DAYS},
                )
                return data
            data["preset"] = preset = preset if preset == "custom" else "custom"
        else:
            data["preset"] = preset = preset or "this_month"
            if preset == "custom":
                self.add_error("start", _("Give the start and the end date."))
                return data
            data["start"], data["end"] = period_for(preset, self.today)
        return data
