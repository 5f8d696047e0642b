"""The workshop board's live fragment: what it shows to a kind of viewer, its cards as HTML, and
its render outside a request (by a worker after a change at the site, dms.live.latest_render).
"""

from html import escape as html_escape

from django.template.defaultfilters import floatformat
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from dms import live
from dms.models import Site

from . import selectors
from .models import Bay
from .templatetags.workshop_tags import duration_formats


def board_context(site, can_assign: bool, team_of: int | None, *, wall: bool = False) -> dict:
    """What the board shows to a viewer who may assign (or not), to the technicians of
    `team_of`'s team (a team lead in team dispatch mode) or to all."""
    now = timezone.now()
    workload = selectors.technician_workload(
        site=site, day=timezone.localtime(now, site.tzinfo).date(), now=now
    )
    technicians = workload["technicians"]
    if team_of is not None:
        technicians = [t for t in technicians if t["team_lead_id"] == team_of]
    assignable = {t["id"] for t in technicians if t["on_duty"]} if can_assign else set()
    for t in workload["technicians"]:
        t["assignable"] = t["id"] in assignable
    return {
        "site": site,
        "now": now,
        "columns": present_board(
            selectors.board_columns(site=site, now=now), site.tzinfo, can_assign=can_assign
        ),
        "workload": workload,
        "can_assign": can_assign,
        "bays": list(Bay.objects.filter(site=site).values_list("code", flat=True)),
        "wall": wall,
    }


BOARD_APPS = ("workorders", "workshop", "appointments", "customers", "dms")


def page_context(site, can_assign: bool, team_of: int | None, lang: str, *, wall: bool) -> dict:
    """The board page: its live fragment as the site's screens are handed it by their polls,
    when that body is current (filed by a worker after the site's last change, in this minute),
    else rendered here. A wall screen or tablet opening the board then costs a cache read
    instead of the board's queries and render (docs/benchmarks.md, "the board page")."""
    body = live.filed_body("board", BOARD_APPS, site.pk, board_variant(can_assign, team_of), lang)
    if body is None:
        return board_context(site, can_assign, team_of, wall=wall)
    return {
        "site": site,
        "can_assign": can_assign,
        "bays": list(Bay.objects.filter(site=site).values_list("code", flat=True)),
        "wall": wall,
        # the fragment as rendered by the template (render_board_live), escaped there
        "live_html": mark_safe(body.decode()),  # noqa: S308
    }


def render_board_live(site_id: int, can_assign: bool, team_of: int | None, lang: str) -> None:
    """The board's live fragment for one kind of viewer, rendered outside a request (a worker,
    after a change at the site) and filed for the screens' polls (dms.live.latest_render)."""
    site = Site.objects.filter(pk=site_id).first()
    if site is None:  # the site is gone since the poll: nothing to show
        return
    with translation.override(lang or None):
        # the state is read before the rows: a change during the render is a later state
        filed_under = live.head("board", BOARD_APPS, site_id)
        body = render_to_string(
            "workshop/board.html#live", board_context(site, can_assign, team_of)
        )
    live.store(
        "board",
        site_id,
        board_variant(can_assign, team_of),
        lang,
        filed_under,
        "text/html; charset=utf-8",
        body.encode(),
    )


def board_variant(can_assign: bool, team_of: int | None) -> str:
    return f"{int(can_assign)}.{team_of or 0}"


def _esc(value) -> str:
    """What django.utils.html.escape writes, without its lazy-string check and SafeString per
    call: a full wall escapes ~1,700 values, and the whole fragment is marked safe once."""
    return html_escape(str(value))


def present_board(columns: list[dict], tz=None, *, can_assign: bool = False) -> list[dict]:
    """Each column's cards as one HTML fragment, built in Python with every value escaped.

    A full wall has a couple of hundred cards; rendering them node by node in the template
    engine took most of the page's time (SPEC §9: the board within 100 ms). The markup is the
    same a template would produce; the column frame stays in workshop/board.html.
    """
    t = {
        "promised": _esc(_("Promised")),
        "none": _esc(_("no promised time")),
        "rework": _esc(_("Rework")),
        "qc_failed": _("QC failed"),
        "clocked": _esc(_("Clocked on")),
        "unassigned": _esc(_("unassigned")),
        "late": _("late %(d)s"),
        "at_risk": _("at risk: %(h)s h work, %(d)s left"),
        "left": _("%(d)s left"),
        "parts_day": _("waits for %(part)s · %(day)s"),
        "parts": _("waits for %(part)s"),
    }
    spans = duration_formats()
    drag = ' draggable="true" tabindex="0" role="button" aria-pressed="false"' if can_assign else ""

    def parts_text(part, expected) -> str:
        if expected:
            return t["parts_day"] % {"part": part, "day": expected.strftime("%m-%d")}
        return t["parts"] % {"part": part}

    for column in columns:
        out = []
        for card in column["cards"]:
            risk, minutes = card["risk"], card["minutes_left"]
            css = {"late": " late", "at_risk": " at-risk"}.get(risk, "")
            if card["promised_at"] is None:
                promise = f'<span class="muted">{t["none"]}</span>'
            else:
                local = timezone.localtime(card["promised_at"], tz)
                day = f" <small>{local:%m-%d}</small>" if abs(minutes) > 1440 else ""
                promise = (
                    f'<span class="promised"><small class="muted">{t["promised"]}</small> '
                    f"{local:%H:%M}{day}</span>"
                )
                span = spans(minutes)
                if risk == "late":
                    flag = ("badge bad risk-flag", t["late"] % {"d": span})
                elif risk == "at_risk":
                    hours = floatformat(card["remaining_hours"], 1)
                    flag = ("badge warn risk-flag", t["at_risk"] % {"h": hours, "d": span})
                elif card["status"] != "ready":
                    flag = ("left", t["left"] % {"d": span})
                else:
                    flag = None
                if flag:
                    promise += f' <span class="{flag[0]}">{_esc(flag[1])}</span>'
            if card["rework"]:
                promise += f' <span class="badge bad">{t["rework"]}</span>'
            if card["waiting_part"]:
                note = parts_text(card["waiting_part"], card["parts_expected_date"])
            elif card["qc_fail_reason"]:
                note = f"{t['qc_failed']}: {card['qc_fail_reason']}"
            else:
                note = ""
            jobs = []
            for job in card["jobs"]:
                job_css = (" clocked" if job["clocked_on"] else "") + (
                    "" if job["workable"] else " proposed"
                )
                dot = (
                    f'<span class="dot" title="{t["clocked"]}">●</span> '
                    if job["clocked_on"]
                    else ""
                )
                if job["technician"]:
                    who = f'<span class="tech">{_esc(job["technician"])}</span>'
                elif job["workable"]:
                    who = f'<span class="badge warn">{t["unassigned"]}</span>'
                else:
                    who = ""
                if job["bay"]:
                    who += f' <span class="bay">{_esc(job["bay"])}</span>'
                if not job["workable"]:
                    who += f' <span class="badge info">{_esc(job["approval_label"])}</span>'
                elif job["work_status"] == "done":
                    who += ' <span class="badge ok">✓</span>'
                parts = (
                    '<span class="parts">'
                    f"{_esc(parts_text(job['parts']['part'], job['parts']['expected_date']))}"
                    "</span>"
                    if job["parts"]
                    else ""
                )
                jobs.append(
                    f'<li class="job{job_css}" data-job-id="{job["id"]}"{drag}>'
                    f'<span class="desc">{dot}{_esc(job["description"])}</span>'
                    f'<span class="who">{who}</span>{parts}</li>'
                )
            plate = _esc(card["plate"])
            out.append(
                f'<article class="ro-card{css}" data-ro-id="{card["id"]}" aria-label="{plate}">'
                f'<header><span class="plate">{plate}</span> '
                f'<span class="model">{_esc(card["model"])}</span></header>'
                f'<div class="promise">{promise}</div>'
                + (f'<p class="waiting-part">{_esc(note)}</p>' if note else "")
                + f'<ul class="jobs">{"".join(jobs)}</ul>'
                f'<footer class="muted small">{_esc(card["number"])} · '
                f"{_esc(card['advisor'])}</footer></article>"
            )
        column["html"] = mark_safe("".join(out))  # noqa: S308 - every value above is escaped
    return columns
