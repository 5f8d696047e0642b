"""Thin Celery tasks of the workshop."""

from celery import shared_task

from . import board


@shared_task
def render_board(site_id: int, can_assign: bool, team_of: int | None, lang: str) -> None:
    """After a change at the site: the board's live fragment for one kind of viewer, rendered
    and filed for the wall screens' next poll (dms.live.latest_render). Renders the site's state
    as it is when it runs, so a second run is only a second render."""
    board.render_board_live(site_id, can_assign, team_of, lang)
