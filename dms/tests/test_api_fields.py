"""MomentField: a date-time input a person means; year 1, 9999 and 30 February are field errors,
never an OverflowError deep in DRF's time-zone checks."""

from datetime import datetime

import pytest
from rest_framework import serializers

from dms.api.fields import MomentField


class _In(serializers.Serializer):
    at = MomentField()


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-08:00",
        "9999-12-31",
        "2999-01-01T10:00",
        "2027-02-30T10:00:00+08:00",
        "1899-12-31T23:00",
    ],
)
def test_out_of_range_or_impossible_moments_are_field_errors(value):
    data = _In(data={"at": value})
    assert not data.is_valid()
    assert data.errors["at"]


def test_an_ordinary_moment_passes():
    data = _In(data={"at": "2026-11-24T09:30:00+08:00"})
    assert data.is_valid(), data.errors
    assert isinstance(data.validated_data["at"], datetime)
