from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from dms.adminsite import SiteScopedAdmin, SiteScopedTabularInline

from .models import CallTask, OutboundMessage, WebhookDelivery, WebhookSubscription


@admin.register(CallTask)
class CallTaskAdmin(SiteScopedAdmin):
    list_display = [
        "id",
        "kind",
        "channel",
        "status",
        "customer",
        "due_at",
        "due_until",
        "assignee",
    ]
    list_filter = ["site", "kind", "status", "channel"]
    search_fields = ["customer__name", "customer__phone", "source_key"]
    raw_id_fields = ["customer", "vehicle", "assignee"]
    readonly_fields = ["status", "attempts", "outcome", "claimed_at", "completed_at", "created_at"]
    date_hierarchy = "due_at"


class DeliveryInline(SiteScopedTabularInline):
    site_path = "subscription__site"
    model = WebhookDelivery
    extra = 0
    fields = ["event", "status", "attempts", "last_status_code", "last_error", "delivered_at"]
    readonly_fields = fields
    can_delete = False
    ordering = ["-id"]
    max_num = 0
    show_change_link = True


class WebhookSubscriptionForm(forms.ModelForm):
    class Meta:
        model = WebhookSubscription
        fields = ["site", "name", "url", "active", "events", "secret", "max_attempts"]
        help_texts = {
            "url": _(
                "https:// only, and only to the public internet (private and local addresses "
                "are refused)."
            ),
            "secret": _(
                "Key of the Standard Webhooks signature (webhook-signature header); a new one "
                "is generated for you."
            ),
        }


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(SiteScopedAdmin):
    form = WebhookSubscriptionForm
    list_display = ["name", "site", "url", "active", "events"]
    list_filter = ["site", "active"]
    fieldsets = [
        (None, {"fields": ["site", "name", "url", "active"]}),
        (_("Events and signing"), {"fields": ["events", "secret", "max_attempts"]}),
    ]

    def get_changeform_initial_data(self, request):
        from .webhooks import new_secret

        return {"secret": new_secret(), **super().get_changeform_initial_data(request)}


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(SiteScopedAdmin):
    site_path = "subscription__site"
    list_display = [
        "id",
        "event",
        "subscription",
        "status",
        "attempts",
        "last_status_code",
        "created_at",
    ]
    list_filter = ["status", "subscription"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]

    def has_add_permission(self, request):
        return False  # written when an event is published


@admin.register(OutboundMessage)
class OutboundMessageAdmin(SiteScopedAdmin):
    list_display = ["sent_at", "channel", "to", "backend"]
    list_filter = ["channel", "site"]
    readonly_fields = [f.name for f in OutboundMessage._meta.fields]

    def has_add_permission(self, request):
        return False  # written when a message is sent
