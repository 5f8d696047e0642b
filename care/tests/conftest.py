from datetime import date

import pytest

from care.models import ReminderRule
from care.services import rules_ensure


@pytest.fixture
def rules(site):
    """All of the site's rules, by kind (created with the defaults)."""
    return {r.kind: r for r in rules_ensure(site=site)}


@pytest.fixture
def only(rules):
    """`only("insurance_renewal", lead_days=30)`: switch every other rule off, set fields."""

    def _only(kind: str, **fields) -> ReminderRule:
        ReminderRule.objects.filter(site=rules[kind].site).exclude(kind=kind).update(enabled=False)
        rule = rules[kind]
        for name, value in fields.items():
            setattr(rule, name, value)
        rule.enabled = True
        rule.save()
        return rule

    return _only


@pytest.fixture
def today():
    return date(2026, 6, 15)
