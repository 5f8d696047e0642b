from django.contrib import admin

from .models import InboundMessage, MessageTemplate, OutboundMessage, SiteChannel, WeChatLink


@admin.register(SiteChannel)
class SiteChannelAdmin(admin.ModelAdmin):
    list_display = ("site", "channel", "provider", "account", "sign_name", "sender", "active")
    list_filter = ("channel", "provider", "active")


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    list_display = ("site", "kind", "channel", "language", "provider_template", "updated_at")
    list_filter = ("kind", "channel", "language")


@admin.register(OutboundMessage)
class OutboundMessageAdmin(admin.ModelAdmin):
    """Read only: a message's state moves through the services (and their audit rows)."""

    list_display = ("created_at", "site", "kind", "channel", "to", "status", "attempts")
    list_filter = ("status", "channel", "kind", "provider")
    search_fields = ("to", "provider_message_id", "source_key")
    readonly_fields = [f.name for f in OutboundMessage._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(InboundMessage)
class InboundMessageAdmin(admin.ModelAdmin):
    list_display = ("received_at", "site", "channel", "sender", "text", "handled", "read_at")
    list_filter = ("channel", "handled")
    readonly_fields = [f.name for f in InboundMessage._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(WeChatLink)
class WeChatLinkAdmin(admin.ModelAdmin):
    list_display = ("customer", "openid", "consent", "linked_at")
