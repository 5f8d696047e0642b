"""The wall board rendered by a worker after a change (dms.live.latest_render): a poll that
finds the site changed is answered at once with the last board and that board's tag, a real
Celery worker renders the new one, and the screens get it at their next poll. Without a
worker (none running, or the broker down) the polls render the board themselves, as before."""

import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dms import live
from dms.models import Role
from tests.conftest import _free_port, _wait_for
from workshop import services

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def shared_cache(settings):
    """This process and the worker on one Redis cache, under a prefix of this test's own."""
    if not settings.HAVE_REDIS:
        pytest.skip("needs Redis on 127.0.0.1")
    prefix = f"dms-test-{settings.RUN_ID}-{uuid.uuid4().hex[:8]}"
    settings.CACHES = {
        "default": {
            "BACKEND": "dms.cache.RedisCache",
            "LOCATION": settings.REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    settings.DMS_LIVE_ETAGS = None  # on by itself: the cache is shared
    settings.DMS_LIVE_RENDER_IN_WORKER = True
    return {"DMS_TEST_CACHE": "redis", "DMS_TEST_CACHE_PREFIX": prefix}


def poll(client, url, tag=None, **headers):
    if tag:
        headers["HTTP_IF_NONE_MATCH"] = tag
    return client.get(url, **HX, **headers)


def _read(queries) -> str:
    return " ".join(q["sql"] for q in queries.captured_queries)


def _on_a_card(name: str) -> str:
    return f'<span class="tech">{name}</span>'


def _without_clock(body: bytes) -> str:
    """The fragment without the moment it was rendered at (data-updated, to the second)."""
    return re.sub(r'data-updated="[^"]*"', "", body.decode())


def test_a_change_is_rendered_by_the_worker_not_by_the_poll(
    shared_cache, celery_worker, client, make_user, make_job, tech, settings
):
    assert live.in_worker()
    job = make_job()
    url = reverse("workshop:board")
    dispatcher = make_user(Role.DISPATCHER)
    client.force_login(dispatcher)
    first = poll(client, url)  # nothing filed yet: this poll renders
    assert first.status_code == 200
    assert _on_a_card(tech.get_full_name()) not in first.content.decode()
    tag = first["ETag"]
    # a screen in Chinese sees its own board
    chinese = type(client)()
    chinese.force_login(make_user(Role.DISPATCHER))
    zh_first = poll(chinese, url, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "待派工" in zh_first.content.decode()

    # when a technician is assigned (committed: the site's version moves)
    services.job_assign(job_id=job.pk, technician_id=tech.pk, actor=dispatcher)

    # then the next poll is answered at once with the board it has (304, its own tag again),
    # without reading the board: the render is the worker's
    with CaptureQueriesContext(connection) as queries:
        stale = poll(client, url, tag)
    assert stale.status_code == 304
    assert stale["ETag"] == tag
    assert "workorders_jobline" not in _read(queries)
    assert "workorders_repairorder" not in _read(queries)
    worker = celery_worker(concurrency=1, env=shared_cache)  # the render waits for it

    # and a later poll gets the worker's board, with the change and a new tag
    def rendered():
        response = poll(client, url, tag)
        return response if response.status_code == 200 else None

    fresh = _wait_for(rendered, timeout=60, what="the worker's render of the board")
    assert _on_a_card(tech.get_full_name()) in fresh.content.decode()
    assert fresh["ETag"] != tag
    assert poll(client, url, fresh["ETag"]).status_code == 304
    assert "workshop.tasks.render_board" in worker.log()

    zh_tag = zh_first["ETag"]

    def rendered_zh():
        response = poll(chinese, url, zh_tag, HTTP_ACCEPT_LANGUAGE="zh-hans")
        return response if response.status_code == 200 else None

    zh_fresh = _wait_for(rendered_zh, timeout=60, what="the Chinese board's render")
    assert "待派工" in zh_fresh.content.decode()
    assert _on_a_card(tech.get_full_name()) in zh_fresh.content.decode()

    # the worker's board is the one the poll would have rendered itself
    settings.DMS_LIVE_RENDER_IN_WORKER = False
    assert _without_clock(poll(client, url).content) == _without_clock(fresh.content)
    own_zh = poll(chinese, url, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert _without_clock(own_zh.content) == _without_clock(zh_fresh.content)


def test_without_a_worker_the_polls_render_the_board_after_the_grace(
    shared_cache, client, make_user, make_job, tech, monkeypatch
):
    clock = {"now": 1_800_000_000.0}
    monkeypatch.setattr(live, "_now", lambda: clock["now"])
    job = make_job()
    url = reverse("workshop:board")
    dispatcher = make_user(Role.DISPATCHER)
    client.force_login(dispatcher)
    tag = poll(client, url)["ETag"]
    services.job_assign(job_id=job.pk, technician_id=tech.pk, actor=dispatcher)

    # no worker consumes the render: the screen keeps the board it has for the grace period
    assert poll(client, url, tag).status_code == 304
    clock["now"] += live.WORKER_GRACE_SECONDS / 2
    assert poll(client, url, tag).status_code == 304
    # then the poll renders it itself
    clock["now"] += live.WORKER_GRACE_SECONDS
    late = poll(client, url, tag)
    assert late.status_code == 200
    assert _on_a_card(tech.get_full_name()) in late.content.decode()


def test_with_the_broker_down_the_poll_renders_the_board(
    shared_cache, client, make_user, make_job, tech, use_broker
):
    job = make_job()
    url = reverse("workshop:board")
    dispatcher = make_user(Role.DISPATCHER)
    client.force_login(dispatcher)
    tag = poll(client, url)["ETag"]
    with use_broker(f"redis://127.0.0.1:{_free_port()}/0"):
        # the render queued as the change commits fails too: the change itself is kept
        services.job_assign(job_id=job.pk, technician_id=tech.pk, actor=dispatcher)
        changed = poll(client, url, tag)
    assert changed.status_code == 200
    assert _on_a_card(tech.get_full_name()) in changed.content.decode()
    assert changed["ETag"] != tag


def test_a_watched_board_is_rendered_when_the_change_commits(
    shared_cache, celery_worker, client, make_user, make_job, tech, site
):
    """Once a screen is known to watch the board, a change queues its render as it commits:
    the screen's next poll is handed the new board at once, with no poll in between."""
    from django.core.cache import cache

    from workshop.board import BOARD_APPS, board_variant

    job = make_job()
    url = reverse("workshop:board")
    dispatcher = make_user(Role.DISPATCHER)
    client.force_login(dispatcher)
    tag = poll(client, url)["ETag"]
    worker = celery_worker(concurrency=1, env=shared_cache)
    # a first change, found by a poll: the screen is now known to watch the board
    services.job_assign(job_id=job.pk, technician_id=tech.pk, actor=dispatcher)
    assert poll(client, url, tag).status_code == 304
    first = _wait_for(
        lambda: (r := poll(client, url, tag)).status_code == 200 and r,
        timeout=60,
        what="the first render",
    )
    renders = worker.log().count("Task workshop.tasks.render_board[")

    # when another technician is assigned, and no screen polls
    other = make_user(Role.TECHNICIAN)
    services.job_assign(job_id=job.pk, technician_id=other.pk, actor=dispatcher)
    latest = live.LATEST_KEY.format(
        name="board", site_id=site.pk, variant=board_variant(True, None), lang="en"
    )
    _wait_for(
        lambda: cache.get(latest)[0] == live.head("board", BOARD_APPS, site.pk),
        timeout=60,
        what="the board rendered after the change",
    )

    # then the worker rendered it, and the next poll gets it straight away
    assert worker.log().count("Task workshop.tasks.render_board[") > renders
    after = poll(client, url, first["ETag"])
    assert after.status_code == 200
    assert _on_a_card(other.get_full_name()) in after.content.decode()
    assert _on_a_card(tech.get_full_name()) not in after.content.decode()


def test_the_board_page_frames_the_board_the_screens_are_handed(
    shared_cache, client, make_user, make_job, tech, monkeypatch
):
    """A screen that opens the board page while the site's screens poll gets the board they
    are handed (filed under the site's state now), not a render of its own; once the site has
    changed since, or for a board in another language, the page renders its own."""
    monkeypatch.setattr(live, "_now", lambda: 1_800_000_000.0)  # one minute throughout
    job = make_job(technician=tech)
    url = reverse("workshop:board")
    client.force_login(make_user(Role.DISPATCHER))
    filed = poll(client, url)  # nothing filed yet: this poll renders the board and files it
    assert filed.status_code == 200
    opener = type(client)()
    dispatcher = make_user(Role.DISPATCHER)
    opener.force_login(dispatcher)

    with CaptureQueriesContext(connection) as queries:
        page = opener.get(url)
    assert page.status_code == 200
    assert filed.content.decode() in page.content.decode()  # to the second it was rendered at
    assert page.content.decode().count('id="board-live"') == 1
    assert 'id="assign-form"' in page.content.decode()  # the page's own frame, for its user
    assert "workorders_jobline" not in _read(queries)
    assert "workorders_repairorder" not in _read(queries)

    with CaptureQueriesContext(connection) as queries:
        chinese = opener.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "待派工" in chinese.content.decode()
    assert "workorders_jobline" in _read(queries)

    other = make_user(Role.TECHNICIAN)
    services.job_assign(job_id=job.pk, technician_id=other.pk, actor=dispatcher)
    with CaptureQueriesContext(connection) as queries:
        changed = opener.get(url)
    assert "workorders_jobline" in _read(queries)
    assert _on_a_card(other.get_full_name()) in changed.content.decode()
    assert _on_a_card(tech.get_full_name()) not in changed.content.decode()
