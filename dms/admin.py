from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .adminsite import SiteScopedAdmin, SiteScopedTabularInline
from .models import AuditEntry, ClosedDate, OpeningHours, Site, StaffRole

admin.site.site_header = _("DMS-lite administration")
admin.site.site_title = _("DMS-lite administration")
admin.site.index_title = _("Settings and users")


class OpeningHoursInline(SiteScopedTabularInline):
    model = OpeningHours
    extra = 0


class ClosedDateInline(SiteScopedTabularInline):
    model = ClosedDate
    extra = 0


@admin.register(Site)
class SiteAdmin(SiteScopedAdmin):
    """A manager edits their own site's settings; a superuser adds and deactivates sites."""

    site_path = "pk"
    list_display = [
        "name",
        "code",
        "is_active",
        "time_zone",
        "currency",
        "dispatch_mode",
        "labour_rate",
    ]
    inlines = [OpeningHoursInline, ClosedDateInline]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "code",
                    "name",
                    "is_active",
                    "phone",
                    "address",
                    "time_zone",
                    "currency",
                ]
            },
        ),
        (
            _("Workshop"),
            {
                "fields": [
                    "labour_rate",
                    "tax_rate",
                    "dispatch_mode",
                    "technicians_on_duty",
                    "technician_hours_per_day",
                    "bookable_share",
                    "comeback_days",
                ]
            },
        ),
        (
            _("Reception"),
            {
                "fields": [
                    "slot_minutes",
                    "slots_per_cycle",
                    "buffer_slots_per_cycle",
                    "no_show_grace_minutes",
                    "reminder_day_before_hour",
                    "reminder_before_minutes",
                ]
            },
        ),
        (
            _("Follow-up"),
            {
                "fields": [
                    "followup_min_days",
                    "followup_max_days",
                    "followup_max_attempts",
                    "calling_hours_start",
                    "calling_hours_end",
                    "complaint_response_hours",
                    "marketing_contacts_per_month",
                ]
            },
        ),
        (
            _("Segmentation"),
            {
                "fields": [
                    "retention_at_risk_months",
                    "retention_nearly_lost_months",
                    "retention_lost_months",
                    "abc_a_min_visits",
                    "abc_a_top_spend_share",
                ]
            },
        ),
    ]

    def has_add_permission(self, request):
        return request.user.is_superuser and super().has_add_permission(request)

    def has_delete_permission(self, request, obj=None):
        """Nobody deletes a site: its repair orders, customers and audit trail must stay. A site
        that closes is deactivated (a superuser unticks "active")."""
        return False

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        return readonly if request.user.is_superuser else [*readonly, "is_active"]


@admin.register(StaffRole)
class StaffRoleAdmin(admin.ModelAdmin):
    """Not scoped by site, so for superusers only (dms.adminsite): a role grants access."""

    list_display = ["user", "site", "role", "team_lead", "on_duty"]
    list_filter = ["site", "role", "on_duty"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    autocomplete_fields = ["user", "team_lead"]


@admin.register(AuditEntry)
class AuditEntryAdmin(SiteScopedAdmin):
    list_display = [
        "at",
        "site",
        "actor",
        "content_type",
        "object_id",
        "action",
        "from_state",
        "to_state",
    ]
    list_filter = ["site", "content_type", "action"]
    search_fields = ["note", "object_id"]
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
