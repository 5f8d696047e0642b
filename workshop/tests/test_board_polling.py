"""Polled boards answer an unchanged state with 304 and no SQL (dms.live), and in full again
after a change at the site or when the minute turns."""

import pytest
from django.core.cache import cache
from django.urls import reverse

from dms import live
from dms.models import Role
from workshop import services

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def shared_cache(settings, monkeypatch):
    settings.DMS_LIVE_ETAGS = True  # one test process: its local cache is the shared one
    cache.clear()
    clock = {"now": 1_800_000_000.0}
    monkeypatch.setattr(live, "_now", lambda: clock["now"])
    return clock


@pytest.fixture
def dispatcher(client, make_user):
    client.force_login(make_user(Role.DISPATCHER))
    return client


def poll(client, url, tag=None):
    headers = dict(HX)
    if tag:
        headers["HTTP_IF_NONE_MATCH"] = tag
    return client.get(url, **headers)


def test_an_unchanged_board_is_a_304_without_sql(dispatcher, make_job, django_assert_num_queries):
    make_job()
    url = reverse("workshop:board")
    first = poll(dispatcher, url)
    assert first.status_code == 200
    assert first["Cache-Control"] == "private, no-cache"
    tag = first["ETag"]
    with django_assert_num_queries(0):
        again = poll(dispatcher, url, tag)
    assert again.status_code == 304
    assert again["ETag"] == tag
    assert again.content == b""


def test_a_change_at_the_site_makes_the_board_answer_in_full(
    dispatcher, make_job, tech, django_capture_on_commit_callbacks
):
    job = make_job()
    url = reverse("workshop:board")
    tag = poll(dispatcher, url)["ETag"]
    user = dispatcher.get(url).wsgi_request.user
    with django_capture_on_commit_callbacks(execute=True):
        services.job_assign(job_id=job.pk, technician_id=tech.pk, actor=user)
    changed = poll(dispatcher, url, tag)
    assert changed.status_code == 200
    assert tech.get_full_name() in changed.content.decode()
    assert changed["ETag"] != tag
    assert poll(dispatcher, url, changed["ETag"]).status_code == 304


def test_the_minute_turning_makes_the_board_answer_in_full(dispatcher, make_job, shared_cache):
    make_job()
    url = reverse("workshop:board")
    tag = poll(dispatcher, url)["ETag"]
    shared_cache["now"] += live.BUCKET_SECONDS
    assert poll(dispatcher, url, tag).status_code == 200


def test_another_users_tag_is_not_answered_304(client, make_user, make_job):
    make_job()
    url = reverse("workshop:board")
    client.force_login(make_user(Role.DISPATCHER))
    tag = poll(client, url)["ETag"]
    client.force_login(make_user(Role.ADVISOR))
    assert poll(client, url, tag).status_code == 200
    client.logout()
    assert poll(client, url, tag).status_code == 302


def test_the_full_page_is_never_a_304(dispatcher, make_job):
    make_job()
    url = reverse("workshop:board")
    tag = poll(dispatcher, url)["ETag"]
    response = dispatcher.get(url, HTTP_IF_NONE_MATCH=tag)
    assert response.status_code == 200
    assert "<html" in response.content.decode()


@pytest.mark.parametrize("name", ["appointments:welcome_board", "appointments:day"])
def test_the_front_desk_boards_poll_the_same_way(
    client, make_user, name, django_assert_num_queries
):
    client.force_login(make_user(Role.ADVISOR))
    url = reverse(name)
    first = poll(client, url)
    assert first.status_code == 200
    with django_assert_num_queries(0):
        assert poll(client, url, first["ETag"]).status_code == 304


def test_without_a_shared_cache_every_poll_answers_in_full(settings, dispatcher, make_job):
    settings.DMS_LIVE_ETAGS = None  # the tests' cache is per process
    make_job()
    url = reverse("workshop:board")
    response = poll(dispatcher, url)
    assert response.status_code == 200
    assert "ETag" not in response


def test_a_change_the_board_does_not_show_keeps_it_304(
    dispatcher, make_job, django_capture_on_commit_callbacks
):
    """A follow-up call recorded at the site is not on the workshop board."""
    from dms import audit
    from dms.models import Site

    make_job()
    url = reverse("workshop:board")
    tag = poll(dispatcher, url)["ETag"]
    site = Site.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        live.bump(site.pk, "followups")
    assert poll(dispatcher, url, tag).status_code == 304
    with django_capture_on_commit_callbacks(execute=True):
        audit.record(subject=site, site=site, action="settings_changed")
    assert poll(dispatcher, url, tag).status_code == 200


def test_screens_that_see_the_board_alike_share_one_render(
    client, make_user, make_job, tech, django_capture_on_commit_callbacks
):
    """The second screen's poll answers with the first one's body without reading the board
    (no job line or repair order queried); a change renders it again; a screen that may not
    assign never gets the dispatcher's draggable cards."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    job = make_job()
    url = reverse("workshop:board")
    first_screen, second_screen = make_user(Role.DISPATCHER), make_user(Role.DISPATCHER)
    client.force_login(first_screen)
    first = poll(client, url)
    assert 'draggable="true"' in first.content.decode()
    client.force_login(second_screen)
    with CaptureQueriesContext(connection) as queries:
        second = poll(client, url)
    assert second.status_code == 200
    assert second.content == first.content
    read = " ".join(q["sql"] for q in queries.captured_queries)
    assert "workorders_jobline" not in read
    assert "workorders_repairorder" not in read
    assert second["ETag"] != first["ETag"]  # each screen still gets its own tag

    with django_capture_on_commit_callbacks(execute=True):
        services.job_assign(job_id=job.pk, technician_id=tech.pk, actor=first_screen)
    changed = poll(client, url)
    assert tech.get_full_name() in changed.content.decode()
    assert changed.content != first.content

    client.force_login(make_user(Role.TECHNICIAN))
    technician_view = poll(client, url).content.decode()
    assert tech.get_full_name() in technician_view
    assert 'draggable="true"' not in technician_view


def test_each_site_turns_the_minute_at_its_own_second(rf, shared_cache):
    """A box serving many sites does not re-render every site's boards at the same second."""
    request = rf.get(reverse("workshop:board"))

    def tags():
        return [live._tag("board", ("workshop",), request, site, 7) for site in (1, 2)]

    # one second before site 1's minute turns
    start = 1_800_000_000 - 1_800_000_000 % live.BUCKET_SECONDS
    shared_cache["now"] = float(start + live.BUCKET_SECONDS - 1 - live._offset(1))
    first_site, second_site = tags()
    shared_cache["now"] += 1
    assert tags()[0] != first_site
    assert tags()[1] == second_site
