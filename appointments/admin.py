from django.contrib import admin

from dms.adminsite import SiteScopedAdmin, SiteScopedTabularInline

from .models import Appointment, DayCapacity, PartReservation, ServiceOffering


class PartReservationInline(SiteScopedTabularInline):
    site_path = "appointment__site"
    model = PartReservation
    extra = 0
    readonly_fields = ["reserved_at", "reserved_by"]


@admin.register(Appointment)
class AppointmentAdmin(SiteScopedAdmin):
    """Read-mostly: bookings change through the front desk so rules, locks and audit apply."""

    list_display = ["start", "site", "advisor", "vehicle", "customer", "status", "estimated_hours"]
    list_filter = ["site", "status", "source", "channel", "is_buffer_slot"]
    search_fields = ["vehicle__plate", "vehicle__vin", "customer__name", "customer__phone"]
    date_hierarchy = "start"
    readonly_fields = [f.name for f in Appointment._meta.fields]
    inlines = [PartReservationInline]

    def has_add_permission(self, request):
        return False


@admin.register(ServiceOffering)
class ServiceOfferingAdmin(SiteScopedAdmin):
    list_display = ["name", "code", "site", "standard_hours", "active", "position"]
    list_filter = ["site", "active"]
    list_editable = ["active", "position"]
    search_fields = ["name", "code"]


@admin.register(DayCapacity)
class DayCapacityAdmin(SiteScopedAdmin):
    list_display = ["day", "site", "booked_hours"]
    list_filter = ["site"]
    readonly_fields = ["site", "day", "booked_hours"]

    def has_add_permission(self, request):
        return False
