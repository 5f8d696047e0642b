from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from dms.adminsite import SiteScopedAdmin

from . import services
from .models import ReminderRule, ReminderRun, RuleKind


@admin.register(ReminderRule)
class ReminderRuleAdmin(SiteScopedAdmin):
    list_display = [
        "kind",
        "site",
        "enabled",
        "lead_days",
        "window_days",
        "channel",
        "is_marketing",
    ]
    list_filter = ["site", "enabled", "channel", "kind"]
    list_editable = ["enabled", "lead_days", "window_days", "channel"]
    readonly_fields = ["updated_at"]
    fieldsets = [
        (None, {"fields": ["site", "kind", "enabled", "channel", "is_marketing"]}),
        (
            _("Timing"),
            {
                "fields": [
                    "lead_days",
                    "window_days",
                    "min_gap_days",
                    "interval_months",
                    "interval_km",
                ]
            },
        ),
        (_("Messages"), {"fields": ["message_zh", "message_en", "updated_at"]}),
    ]

    list_select_related = ["site"]

    def get_readonly_fields(self, request, obj=None):
        return ["site", "kind", "updated_at"] if obj else ["updated_at"]

    def save_model(self, request, obj, form, change):
        """Changes go through the service, so they are validated and audited like the API's."""
        if not change:
            super().save_model(request, obj, form, change)
            if obj.kind == RuleKind.FIRST_SERVICE:
                services.first_service_rule_changed(site_id=obj.site_id)
            return None
        fields = {name: form.cleaned_data[name] for name in form.changed_data}
        fields.pop("site", None)
        fields.pop("kind", None)
        if fields:
            services.rule_update(rule=obj, actor=request.user, **fields)
        return None


@admin.register(ReminderRun)
class ReminderRunAdmin(SiteScopedAdmin):
    list_display = ["day", "site", "started_at", "finished_at", "created"]
    list_filter = ["site"]
    date_hierarchy = "day"
    readonly_fields = ["site", "day", "started_at", "finished_at", "created", "skipped"]

    def has_add_permission(self, request):
        return False
