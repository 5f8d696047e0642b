"""Messages to customers: the channels a site sends through, its templates, every message sent
with its delivery state, and what customers write back."""

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from customers.models import Customer
from dms.models import Site


class MessageChannel(models.TextChoices):
    SMS = "sms", _("SMS")
    WECHAT = "wechat", _("WeChat")
    EMAIL = "email", _("E-mail")


class Provider(models.TextChoices):
    RECORDING = "recording", _("Recorded only (not sent)")
    SMTP = "smtp", _("E-mail (SMTP)")
    ALIYUN = "aliyun", _("Alibaba Cloud SMS")
    TWILIO = "twilio", _("Twilio")
    WECHAT = "wechat", _("WeChat service account")


class MessageKind(models.TextChoices):
    APPOINTMENT_CONFIRMATION = "appointment_confirmation", _("Appointment confirmation")
    REMINDER_DAY_BEFORE = "reminder_day_before", _("Reminder the day before")
    CAN_YOU_MAKE_IT = "can_you_make_it", _("Can you make it?")
    ADDITIONAL_WORK = "additional_work", _("Extra work found (approval link)")
    DELAY_NOTICE = "delay_notice", _("Delay notice")
    CAR_READY = "car_ready", _("Car ready")
    FOLLOWUP_SURVEY = "followup_survey", _("Follow-up survey")
    CARE_REMINDER = "care_reminder", _("Care reminder")
    ONE_TIME_CODE = "one_time_code", _("One-time code")
    STATUS_LINK = "status_link", _("Status link")


class MessageStatus(models.TextChoices):
    QUEUED = "queued", pgettext_lazy("message status", "Queued")
    SENDING = "sending", pgettext_lazy("message status", "Handed to the provider")
    SENT = "sent", pgettext_lazy("message status", "Sent")
    DELIVERED = "delivered", pgettext_lazy("message status", "Delivered")
    FAILED = "failed", pgettext_lazy("message status", "Failed")


class SiteChannel(models.Model):
    """How a site sends on one channel: the provider, the account whose credentials are in the
    settings (`DMS_MESSAGING_ACCOUNTS`), and the provider's public names (SMS signature, sender
    number or address). Never a secret."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="message_channels")
    channel = models.CharField(_("channel"), max_length=8, choices=MessageChannel.choices)
    provider = models.CharField(_("provider"), max_length=12, choices=Provider.choices)
    account = models.CharField(
        _("account"),
        max_length=40,
        blank=True,
        help_text=_("Name of the provider account in the server settings (credentials)."),
    )
    sign_name = models.CharField(
        _("SMS signature"), max_length=40, blank=True, help_text=_("e.g. 【某某汽车服务】")
    )
    sender = models.CharField(
        _("sender"), max_length=254, blank=True, help_text=_("Sending number or e-mail address.")
    )
    per_second = models.PositiveSmallIntegerField(
        _("messages per second"), default=10, help_text=_("The provider's rate limit.")
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("site channel")
        verbose_name_plural = _("site channels")
        constraints = [
            models.UniqueConstraint(fields=["site", "channel"], name="site_channel_once")
        ]

    def __str__(self) -> str:
        return f"{self.site} · {self.get_channel_display()} · {self.get_provider_display()}"


class MessageTemplate(models.Model):
    """What a site says for one kind of message, on one channel, in one language. `{name}`
    placeholders are filled from the message's context; `provider_template` is the provider's
    approved template code (Alibaba Cloud SMS_…, WeChat template id) where it needs one."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="message_templates")
    kind = models.CharField(_("kind"), max_length=32, choices=MessageKind.choices)
    channel = models.CharField(_("channel"), max_length=8, choices=MessageChannel.choices)
    language = models.CharField(_("language"), max_length=10, default="zh-hans")
    subject = models.CharField(_("subject (e-mail)"), max_length=200, blank=True)
    body = models.TextField(_("text"))
    provider_template = models.CharField(_("provider template code"), max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["site", "kind", "channel", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "kind", "channel", "language"], name="message_template_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.get_channel_display()} · {self.language}"


class WeChatLink(models.Model):
    """A customer who followed the site's service account and linked it: their openid."""

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="wechat")
    openid = models.CharField(max_length=64)
    consent = models.BooleanField(_("WeChat messages allowed"), default=True)
    consent_at = models.DateTimeField(null=True, blank=True)
    linked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("WeChat link")
        verbose_name_plural = _("WeChat links")

    def __str__(self) -> str:
        return f"{self.customer} · {self.openid}"


class OutboundMessage(models.Model):
    """One message to one customer (or address). `key` is our idempotency key towards the
    provider (Alibaba OutId; the status-callback reference); `(site, kind, source_key)` is
    unique, so whatever causes a message sends it once."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="outbound_messages")
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, null=True, blank=True, related_name="messages"
    )
    kind = models.CharField(_("kind"), max_length=32, choices=MessageKind.choices)
    source_key = models.CharField(max_length=80, blank=True)
    channel = models.CharField(_("channel"), max_length=8, choices=MessageChannel.choices)
    provider = models.CharField(_("provider"), max_length=12, choices=Provider.choices)
    language = models.CharField(_("language"), max_length=10)
    to = models.CharField(pgettext_lazy("recipient", "to"), max_length=254)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("text"))
    provider_template = models.CharField(max_length=64, blank=True)
    params = models.JSONField(default=dict, blank=True)
    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField(
        _("status"), max_length=10, choices=MessageStatus.choices, default=MessageStatus.QUEUED
    )
    provider_message_id = models.CharField(_("provider message id"), max_length=80, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(_("error code"), max_length=64, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(_("queued at"), auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "kind", "source_key"],
                condition=~models.Q(source_key=""),
                name="outbound_message_once_per_source",
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["provider", "provider_message_id"]),
            models.Index(fields=["customer", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} → {self.to} ({self.status})"


class InboundMessage(models.Model):
    """What a customer wrote back. `reply_to` is the latest message we sent them on that
    channel; `handled` says an upper layer acted on it (a reminder's answer, an opt-out);
    the rest wait on the staff's queue until someone marks them read."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="inbound_messages")
    customer = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="replies"
    )
    channel = models.CharField(_("channel"), max_length=8, choices=MessageChannel.choices)
    provider = models.CharField(_("provider"), max_length=12, choices=Provider.choices)
    provider_message_id = models.CharField(max_length=80, blank=True)
    sender = models.CharField(_("from"), max_length=254)
    text = models.TextField(_("text"))
    reply_to = models.ForeignKey(
        OutboundMessage, on_delete=models.SET_NULL, null=True, blank=True, related_name="replies"
    )
    handled = models.CharField(_("handled as"), max_length=40, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)

    class Meta:
        verbose_name = _("reply")
        verbose_name_plural = _("replies")
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_message_id"],
                condition=~models.Q(provider_message_id=""),
                name="inbound_message_once",
            )
        ]
        indexes = [models.Index(fields=["site", "handled", "read_at"])]

    def __str__(self) -> str:
        return f"{self.sender}: {self.text[:40]}"
