"""Thin Celery tasks of the workshop, and how the board's renders are queued."""

import time

from celery import shared_task
from django.core.cache import cache

from dms import live

from . import board

# Who is watching a site's board (each kind of viewer and language whose screens polled it in
# the last few minutes): after a change the board is rendered for them before they ask.
VIEWERS_KEY = "dms:live:board-viewers:{site_id}"
BUCKET_SECONDS = live.BUCKET_SECONDS
VIEWERS_SEEN_SECONDS = 3 * BUCKET_SECONDS


@shared_task
def render_board(site_id: int, can_assign: bool, team_of: int | None, lang: str) -> None:
    """After a change at the site: the board's live fragment for one kind of viewer, rendered
    and filed for the wall screens' next poll (dms.live.latest_render). Renders the site's state
    as it is when it runs, so a second run is only a second render."""
    board.render_board_live(site_id, can_assign, team_of, lang)


def board_watched(site_id: int, can_assign: bool, team_of: int | None, lang: str) -> None:
    """A screen of this kind of viewer and language was handed a new board: they watch it."""
    key = VIEWERS_KEY.format(site_id=site_id)
    viewers = cache.get(key) or {}
    name = f"{board.board_variant(can_assign, team_of)}.{lang}"
    if time.time() - (viewers.get(name) or [0, 0, 0, 0])[3] > BUCKET_SECONDS:
        viewers[name] = [can_assign, team_of, lang, time.time()]
        cache.set(key, viewers, VIEWERS_SEEN_SECONDS)


def queue_board_render(site_id: int, can_assign: bool, team_of: int | None, lang: str) -> None:
    """A poll found the board changed: render it for this kind of viewer, who watches it."""
    board_watched(site_id, can_assign, team_of, lang)
    render_board.delay(site_id, can_assign, team_of, lang)


def queue_board_renders(site_id: int) -> None:
    """A change committed at the site (dms.live.on_change): the board of every kind of viewer
    watching it is queued for a render a second from now (the writes of one action land
    together), so the screens' next poll finds it ready."""
    now = time.time()
    for can_assign, team_of, lang, seen in (
        cache.get(VIEWERS_KEY.format(site_id=site_id)) or {}
    ).values():
        if now - seen > VIEWERS_SEEN_SECONDS:
            continue
        live.queue_render(
            "board",
            site_id,
            board.board_variant(can_assign, team_of),
            lang,
            lambda a=(site_id, can_assign, team_of, lang): render_board.apply_async(a, countdown=1),
        )
