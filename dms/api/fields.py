"""Input fields shared by the API's serializers."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from dms.inputs import EARLIEST_DAY, LATEST_DAY


class MomentField(serializers.DateTimeField):
    """A date-time a person means: years 1900–2100 only, so that no later arithmetic (time zones,
    comparisons) can overflow on year 1 or 9999."""

    default_error_messages = {
        "range": _("Enter a date and time between 1900 and 2100."),
    }

    def to_internal_value(self, value):
        try:
            moment = super().to_internal_value(value)
        except OverflowError:  # DRF's time-zone checks on year 1 / 9999
            self.fail("range")
        if not EARLIEST_DAY.year <= moment.year <= LATEST_DAY.year:
            self.fail("range")
        return moment
