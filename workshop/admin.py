from django.contrib import admin

from dms.adminsite import SiteScopedAdmin

from .models import Bay, ClockEntry, JobSignOff, PartsRequest, QCInspection


@admin.register(Bay)
class BayAdmin(SiteScopedAdmin):
    list_display = ["code", "site", "has_lift"]
    list_filter = ["site", "has_lift"]
    search_fields = ["code"]


@admin.register(ClockEntry)
class ClockEntryAdmin(SiteScopedAdmin):
    """Clock entries are written by the job clock; the admin reads them."""

    site_path = "job__repair_order__site"
    list_display = ["technician", "job", "started_at", "ended_at"]
    list_filter = ["job__repair_order__site"]
    search_fields = ["technician__username", "job__repair_order__number"]
    raw_id_fields = ["job", "technician"]
    date_hierarchy = "started_at"

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


@admin.register(PartsRequest)
class PartsRequestAdmin(SiteScopedAdmin):
    site_path = "job__repair_order__site"
    list_display = ["part", "job", "expected_date", "requested_by", "requested_at", "arrived_at"]
    list_filter = ["job__repair_order__site"]
    raw_id_fields = ["job", "requested_by"]
    readonly_fields = ["job", "part", "expected_date", "requested_by", "requested_at", "arrived_at"]

    def has_add_permission(self, request):
        return False


@admin.register(JobSignOff)
class JobSignOffAdmin(SiteScopedAdmin):
    site_path = "job__repair_order__site"
    list_display = ["job", "technician", "signed_at"]
    raw_id_fields = ["job", "technician"]
    readonly_fields = ["job", "technician", "self_check", "report", "signed_at"]

    def has_add_permission(self, request):
        return False


@admin.register(QCInspection)
class QCInspectionAdmin(SiteScopedAdmin):
    site_path = "repair_order__site"
    list_display = ["repair_order", "inspector", "passed", "inspected_at"]
    list_filter = ["passed", "repair_order__site"]
    raw_id_fields = ["repair_order", "inspector"]
    readonly_fields = ["repair_order", "inspector", "passed", "checklist", "reason", "inspected_at"]

    def has_add_permission(self, request):
        return False
