"""Batch moves (`move_many`) and batch audit entries (`record_many`): the same entries `move()`
writes, the table checked, nothing moved when a row is stale, listeners told after commit."""

import pytest
from django.db import transaction

from dms import audit
from dms.exceptions import ConflictError
from dms.models import AuditEntry, Site
from dms.statemachine import move, move_many
from dms.tests.factories import SiteFactory

pytestmark = pytest.mark.django_db
TABLE = {"dispatcher": {"team"}, "team": {"dispatcher"}}
SHAPE = ("content_type_id", "action", "from_state", "to_state", "actor_id", "note", "data")


def _modes() -> dict[int, str]:
    return dict(Site.objects.values_list("pk", "dispatch_mode"))


@pytest.fixture
def listeners(monkeypatch):
    """A listener with a batch variant and one without, on a copy of the registry."""
    monkeypatch.setattr(audit, "_listeners", list(audit._listeners))
    heard = {"one": [], "many": [], "plain": []}
    audit.subscribe(heard["one"].append, many=heard["many"].append)
    audit.subscribe(heard["plain"].append)
    return heard


def test_move_many_writes_the_entries_move_writes_and_tells_listeners_once(
    make_user, listeners, django_capture_on_commit_callbacks
):
    # given three sites in "dispatcher" mode, and a fourth moved the one-row way
    user = make_user("manager")
    sites = [SiteFactory(dispatch_mode="dispatcher") for _ in range(3)]
    single = SiteFactory(dispatch_mode="dispatcher")
    with transaction.atomic():
        move(single, to="team", table=TABLE, actor=user, field="dispatch_mode", note="new mode")
    one_row = AuditEntry.objects.values(*SHAPE).get()
    AuditEntry.objects.all().delete()
    listeners["one"].clear()
    listeners["plain"].clear()
    # when the three make the same move as a batch
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        moved = move_many(
            Site,
            rows=[(s.pk, s.pk) for s in sites],
            from_state="dispatcher",
            to="team",
            table=TABLE,
            actor=user,
            field="dispatch_mode",
            note="new mode",
        )
        assert listeners["many"] == []  # nobody hears of it before the commit
    # then each moved, with one entry each, shaped as the one-row move's entry
    assert moved == 3
    assert {_modes()[s.pk] for s in sites} == {"team"}
    entries = list(AuditEntry.objects.order_by("id"))
    assert [e.object_id for e in entries] == [s.pk for s in sites]
    assert [e.site_id for e in entries] == [s.pk for s in sites]
    assert all(e.at is not None for e in entries)
    for entry in AuditEntry.objects.values(*SHAPE):
        assert entry == one_row
    # and the batch listener heard all of them at once; the plain one heard each
    ids = [e.pk for e in entries]
    assert listeners["many"] == [ids]
    assert listeners["one"] == []
    assert listeners["plain"] == ids


def test_move_many_refuses_a_move_the_table_does_not_allow(make_user):
    sites = [SiteFactory(dispatch_mode="dispatcher") for _ in range(2)]
    with pytest.raises(ConflictError) as err, transaction.atomic():
        move_many(
            Site,
            rows=[(s.pk, s.pk) for s in sites],
            from_state="dispatcher",
            to="nowhere",
            table=TABLE,
            field="dispatch_mode",
        )
    assert err.value.extra["allowed"] == ["team"]
    assert {_modes()[s.pk] for s in sites} == {"dispatcher"}
    assert not AuditEntry.objects.exists()


def test_move_many_moves_none_when_a_row_is_no_longer_in_the_state():
    # given one of three sites was moved by someone else meanwhile
    sites = [SiteFactory(dispatch_mode="dispatcher") for _ in range(3)]
    Site.objects.filter(pk=sites[1].pk).update(dispatch_mode="team")
    # when the batch moves all three from "dispatcher"
    with pytest.raises(ConflictError), transaction.atomic():
        move_many(
            Site,
            rows=[(s.pk, s.pk) for s in sites],
            from_state="dispatcher",
            to="team",
            table=TABLE,
            field="dispatch_mode",
        )
    # then none moved and nothing was audited
    assert [_modes()[s.pk] for s in sites] == ["dispatcher", "team", "dispatcher"]
    assert not AuditEntry.objects.exists()
