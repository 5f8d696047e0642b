from django.contrib import admin

from dms.adminsite import SiteScopedAdmin

from .models import Complaint


@admin.register(Complaint)
class ComplaintAdmin(SiteScopedAdmin):
    """Read-mostly: the steps happen on the complaint pages so each one is audited."""

    list_display = ["id", "site", "customer", "channel", "status", "cause", "handler", "respond_by"]
    list_filter = ["site", "status", "channel", "cause", "decision"]
    search_fields = ["customer__name", "description"]
    raw_id_fields = ["customer", "vehicle", "repair_order", "advisor", "call_task", "confirm_task"]
    readonly_fields = [f.name for f in Complaint._meta.fields if f.name not in ("cause",)]
