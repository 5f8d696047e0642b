from django.contrib import admin

from dms.adminsite import SiteScopedAdmin, SiteScopedTabularInline

from .models import (
    Approval,
    ApprovalLine,
    ApprovalLink,
    EstimateVersion,
    Intake,
    JobLine,
    PartLine,
    Photo,
    RepairOrder,
)


class WrittenByServices:
    """Repair orders and their parts are made by the services (numbering, locks, audit); the
    admin reads and corrects them but does not add them."""

    def has_add_permission(self, request, *args):
        return False


class JobLineInline(WrittenByServices, SiteScopedTabularInline):
    site_path = "repair_order__site"
    model = JobLine
    extra = 0
    fields = [
        "position",
        "description",
        "standard_hours",
        "labour_amount",
        "approval",
        "work_status",
    ]
    readonly_fields = fields
    can_delete = False
    show_change_link = True


class ReadOnlyInline:
    """Lines and parts carry the estimate: they change only through the RO pages and the API,
    which version the estimate, recompute the totals and keep what the customer signed. The
    admin shows them."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PartLineInline(ReadOnlyInline, SiteScopedTabularInline):
    site_path = "job__repair_order__site"
    model = PartLine
    extra = 0


@admin.register(RepairOrder)
class RepairOrderAdmin(WrittenByServices, SiteScopedAdmin):
    """Read-mostly: status changes go through the services (lock, table, audit)."""

    list_display = ["number", "site", "status", "customer", "vehicle", "advisor", "opened_at"]
    list_filter = ["site", "status", "is_first_service"]
    search_fields = ["number", "vehicle__plate", "vehicle__vin", "customer__name"]
    readonly_fields = [
        "status",
        "number",
        "site",
        "customer",
        "vehicle",
        "appointment",
        "estimate_version",
        "labour_total",
        "parts_total",
        "discount_total",
        "tax_total",
        "grand_total",
        "qc_fail_count",
        "authorized_at",
        "delivered_at",
        "cancelled_at",
    ]
    inlines = [JobLineInline]
    date_hierarchy = "opened_at"


@admin.register(JobLine)
class JobLineAdmin(WrittenByServices, SiteScopedAdmin):
    """Shown, not edited: a line's work, hours and price belong to the estimate's versions
    (see ReadOnlyInline)."""

    site_path = "repair_order__site"
    list_display = ["description", "repair_order", "approval", "work_status", "technician"]
    list_filter = ["approval", "work_status"]
    search_fields = ["description", "repair_order__number"]
    readonly_fields = ["repair_order", "approval", "approved_version", "approved_amount"]
    inlines = [PartLineInline]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ApprovalLineInline(SiteScopedTabularInline):
    site_path = "approval__repair_order__site"
    model = ApprovalLine
    extra = 0
    readonly_fields = ["job", "decision", "amount", "reason"]
    can_delete = False


@admin.register(Approval)
class ApprovalAdmin(WrittenByServices, SiteScopedAdmin):
    site_path = "repair_order__site"
    list_display = [
        "repair_order",
        "kind",
        "estimate_version",
        "customer_name",
        "channel",
        "answered_at",
    ]
    list_filter = ["kind", "channel"]
    inlines = [ApprovalLineInline]

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ApprovalLink)
class ApprovalLinkAdmin(WrittenByServices, SiteScopedAdmin):
    site_path = "repair_order__site"
    list_display = ["repair_order", "estimate_version", "expires_at", "answered_at"]
    exclude = ["token"]


class RepairOrderPartAdmin(WrittenByServices, SiteScopedAdmin):
    site_path = "repair_order__site"


class EstimateVersionAdmin(RepairOrderPartAdmin):
    """A frozen estimate version is what the customer signed: shown, never edited."""

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


admin.site.register(Intake, RepairOrderPartAdmin)
admin.site.register(EstimateVersion, EstimateVersionAdmin)
admin.site.register(Photo, RepairOrderPartAdmin)
