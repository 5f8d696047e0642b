"""The repair order's allowed status moves, as data (SPEC §3.2–3.5).

draft → authorized → in_progress ⇄ waiting_approval / waiting_parts → work_done → qc
→ (rework → in_progress …) → washing → ready → invoiced → delivered; cancelled from any state
before invoiced.
"""

from .models import ROStatus as S

TRANSITIONS: dict[str, set[str]] = {
    S.DRAFT: {S.AUTHORIZED, S.CANCELLED},
    S.AUTHORIZED: {S.IN_PROGRESS, S.WAITING_APPROVAL, S.WAITING_PARTS, S.CANCELLED},
    S.IN_PROGRESS: {S.WAITING_APPROVAL, S.WAITING_PARTS, S.WORK_DONE, S.CANCELLED},
    S.WAITING_APPROVAL: {S.IN_PROGRESS, S.AUTHORIZED, S.CANCELLED},
    S.WAITING_PARTS: {S.IN_PROGRESS, S.AUTHORIZED, S.WAITING_APPROVAL, S.CANCELLED},
    S.WORK_DONE: {S.QC, S.CANCELLED},
    S.QC: {S.WASHING, S.REWORK, S.CANCELLED},
    S.REWORK: {S.IN_PROGRESS, S.CANCELLED},
    S.WASHING: {S.READY, S.CANCELLED},
    S.READY: {S.INVOICED, S.CANCELLED},
    S.INVOICED: {S.DELIVERED},
    S.DELIVERED: set(),
    S.CANCELLED: set(),
}

# States in which the estimate (lines and prices) may still be edited.
EDITABLE = {S.DRAFT, S.AUTHORIZED, S.IN_PROGRESS, S.WAITING_APPROVAL, S.WAITING_PARTS}
# States in which the workshop may work on lines.
WORKING = {S.IN_PROGRESS}
PAUSED = {S.WAITING_APPROVAL, S.WAITING_PARTS}

# The actions a person can take in each state (buttons on the RO page, API actions).
STATE_ACTIONS: dict[str, list[str]] = {
    S.DRAFT: ["authorize", "cancel"],
    S.AUTHORIZED: ["start", "request-approval", "wait-parts", "cancel"],
    S.IN_PROGRESS: ["complete-work", "request-approval", "wait-parts", "cancel"],
    S.WAITING_APPROVAL: ["answer-approval", "resume", "cancel"],
    S.WAITING_PARTS: ["resume", "request-approval", "cancel"],
    S.WORK_DONE: ["qc-pass", "qc-fail", "cancel"],
    S.QC: ["qc-pass", "qc-fail", "cancel"],
    S.REWORK: ["start", "cancel"],
    S.WASHING: ["wash-done", "final-check", "cancel"],
    S.READY: ["invoice", "cancel"],
    S.INVOICED: ["deliver"],
    S.DELIVERED: [],
    S.CANCELLED: [],
}


def allowed_actions(state: str) -> list[str]:
    return list(STATE_ACTIONS.get(state, []))
