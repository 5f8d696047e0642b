"""Proactive care (主动关怀): the reminder rules each site sets, and a log of the nightly runs.

The reminders themselves are `outreach.CallTask` rows (kinds maintenance_due, first_service, …):
the outreach engine puts them on the follow-up desk or sends them by SMS/e-mail.
"""

import string

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from customers.models import Channel
from dms.models import Site
from outreach.models import TaskKind


class RuleKind(models.TextChoices):
    """The task kinds this engine creates (a subset of followups.TaskKind, same values)."""

    MAINTENANCE_DUE = TaskKind.MAINTENANCE_DUE.value, TaskKind.MAINTENANCE_DUE.label
    FIRST_SERVICE = TaskKind.FIRST_SERVICE.value, TaskKind.FIRST_SERVICE.label
    INSURANCE_RENEWAL = TaskKind.INSURANCE_RENEWAL.value, TaskKind.INSURANCE_RENEWAL.label
    ANNUAL_INSPECTION = TaskKind.ANNUAL_INSPECTION.value, TaskKind.ANNUAL_INSPECTION.label
    LICENCE_REVIEW = TaskKind.LICENCE_REVIEW.value, TaskKind.LICENCE_REVIEW.label
    DECLINED_WORK = TaskKind.DECLINED_WORK.value, TaskKind.DECLINED_WORK.label
    WINBACK_AT_RISK = TaskKind.WINBACK_AT_RISK.value, TaskKind.WINBACK_AT_RISK.label
    WINBACK_NEARLY_LOST = TaskKind.WINBACK_NEARLY_LOST.value, TaskKind.WINBACK_NEARLY_LOST.label


CARE_KINDS: tuple[str, ...] = tuple(RuleKind.values)

# Placeholders a message template may use; the runner fills every one of them.
PLACEHOLDERS = (
    "customer",
    "plate",
    "vehicle",
    "due_date",
    "due_km",
    "items",
    "amount",
    "months",
    "site",
    "site_phone",
)


def validate_template(value: str) -> None:
    """A template may only use the known {placeholders}, with balanced braces."""
    try:
        names = [name for _text, name, _spec, _conv in string.Formatter().parse(value) if name]
    except ValueError as exc:
        raise ValidationError(_("The template has an unbalanced “{” or “}”.")) from exc
    unknown = sorted({n for n in names if n not in PLACEHOLDERS})
    if unknown:
        raise ValidationError(
            _("Unknown placeholder(s): %(names)s. Allowed: %(allowed)s.")
            % {
                "names": ", ".join("{" + n + "}" for n in unknown),
                "allowed": ", ".join("{" + n + "}" for n in PLACEHOLDERS),
            }
        )


class ReminderRule(models.Model):
    """One site's setting for one kind of reminder.

    `lead_days` means: days before the due date (maintenance, first service, insurance,
    inspection, licence); days after delivery (declined work); days after the customer enters
    the retention bucket (win-back). A trigger older than `window_days` is not fired any more (for
    maintenance and first service: `window_days` after the due date), so switching a rule on does
    not call about last year's dates.
    """

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="reminder_rules")
    kind = models.CharField(_("kind"), max_length=24, choices=RuleKind.choices)
    enabled = models.BooleanField(_("on"), default=True)
    lead_days = models.PositiveSmallIntegerField(
        _("lead time (days)"),
        default=14,
        validators=[MaxValueValidator(365)],
        help_text=_(
            "Before the due date; for declined work: after delivery; "
            "for win-back: after entering the bucket."
        ),
    )
    window_days = models.PositiveSmallIntegerField(
        _("window (days)"),
        default=14,
        validators=[MaxValueValidator(180)],
        help_text=_("How long the task stays on the desk, and how late a missed one still fires."),
    )
    channel = models.CharField(
        _("channel"), max_length=8, choices=Channel.choices, default=Channel.CALL
    )
    is_marketing = models.BooleanField(
        _("marketing"),
        default=False,
        help_text=_("Marketing reminders go only to customers who agreed to marketing."),
    )
    min_gap_days = models.PositiveSmallIntegerField(
        _("quiet period after a contact (days)"),
        default=7,
        validators=[MaxValueValidator(90)],
        help_text=_("No reminder to a customer contacted by the care engine this recently."),
    )
    interval_months = models.PositiveSmallIntegerField(
        _("first service after (months)"),
        null=True,
        blank=True,
        help_text=_("First service only: months after the purchase date."),
    )
    interval_km = models.PositiveIntegerField(
        _("first service at (km)"),
        null=True,
        blank=True,
        help_text=_("First service only: kilometres after delivery of the new car."),
    )
    message_zh = models.TextField(
        _("message (Chinese)"), blank=True, validators=[validate_template]
    )
    message_en = models.TextField(
        _("message (English)"), blank=True, validators=[validate_template]
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("reminder rule")
        verbose_name_plural = _("reminder rules")
        ordering = ["site", "kind"]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "kind"],
                name="reminder_rule_one_per_site_kind",
                violation_error_message=_("This site already has a rule of this kind."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.site} · {self.get_kind_display()}"


SKIP_REASONS = {
    "done_before": _("already reminded"),
    "open_task": _("a reminder is still open"),
    "booked": _("already booked"),
    "no_consent": _("opted out"),
    "recently_contacted": _("contacted recently"),
    "monthly_cap": _("monthly contact limit"),
}


class ReminderRun(models.Model):
    """One nightly run for one site and day: what was created and why others were skipped."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="reminder_runs")
    day = models.DateField(_("day"))
    started_at = models.DateTimeField(_("started"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    created = models.JSONField(_("created"), default=dict, blank=True)
    skipped = models.JSONField(_("skipped"), default=dict, blank=True)

    class Meta:
        verbose_name = _("reminder run")
        verbose_name_plural = _("reminder runs")
        ordering = ["-day", "-id"]
        indexes = [models.Index(fields=["site", "day"])]

    def __str__(self) -> str:
        return f"{self.site} {self.day:%Y-%m-%d}"

    @property
    def created_total(self) -> int:
        return sum(self.created.values())

    def summary(self) -> list[tuple[str, int, dict[str, int]]]:
        """[(kind label, created, {skip reason label: count})] for people to read."""
        labels = dict(RuleKind.choices)
        kinds = sorted(set(self.created) | set(self.skipped), key=list(labels).index)
        return [
            (
                str(labels.get(k, k)),
                self.created.get(k, 0),
                {str(SKIP_REASONS.get(r, r)): n for r, n in self.skipped.get(k, {}).items()},
            )
            for k in kinds
        ]
