from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .models import ReminderRule, ReminderRun


@admin.register(ReminderRule)
class ReminderRuleAdmin(admin.ModelAdmin):
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


@admin.register(ReminderRun)
class ReminderRunAdmin(admin.ModelAdmin):
    list_display = ["day", "site", "started_at", "finished_at", "created"]
    list_filter = ["site"]
    date_hierarchy = "day"
    readonly_fields = ["site", "day", "started_at", "finished_at", "created", "skipped"]

    def has_add_permission(self, request):
        return False
