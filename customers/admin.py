from django.contrib import admin

from dms.adminsite import SiteScopedAdmin, SiteScopedTabularInline

from .models import Customer, ImportBatch, MileageReading, Vehicle, VehicleOwnership


class VehicleInline(SiteScopedTabularInline):
    model = Vehicle
    fields = ["plate", "vin", "make", "model", "year", "mileage_km"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Customer)
class CustomerAdmin(SiteScopedAdmin):
    list_display = ["name", "phone", "site", "abc_class", "retention", "last_delivery_at"]
    list_filter = ["site", "abc_class", "retention", "kind"]
    search_fields = ["name", "phone", "phone2", "email"]
    readonly_fields = [
        "retention",
        "abc_class",
        "last_delivery_at",
        "visits_12m",
        "spend_12m",
        "segmented_at",
        "merged_into",
        "consent_call_at",
        "consent_sms_at",
        "consent_email_at",
        "consent_marketing_at",
        "created_at",
        "updated_at",
    ]
    inlines = [VehicleInline]


class OwnershipInline(SiteScopedTabularInline):
    site_path = "vehicle__site"
    model = VehicleOwnership
    extra = 0
    raw_id_fields = ["customer"]
    readonly_fields = ["recorded_by"]


class ReadingInline(SiteScopedTabularInline):
    site_path = "vehicle__site"
    model = MileageReading
    extra = 0
    readonly_fields = ["km", "read_on", "source", "recorded_by", "created_at"]
    can_delete = False


@admin.register(Vehicle)
class VehicleAdmin(SiteScopedAdmin):
    list_display = ["plate", "vin", "make", "model", "owner", "site", "next_service_due_date"]
    list_filter = ["site", "make", "sold_by_site"]
    search_fields = ["plate", "vin", "owner__name", "owner__phone"]
    raw_id_fields = ["owner"]
    readonly_fields = ["vin_last6", "km_per_day", "km_due_on", "created_at", "updated_at"]
    inlines = [OwnershipInline, ReadingInline]


@admin.register(ImportBatch)
class ImportBatchAdmin(SiteScopedAdmin):
    list_display = ["filename", "site", "status", "created_by", "created_at", "applied_at"]
    list_filter = ["status", "site"]
    readonly_fields = [f.name for f in ImportBatch._meta.fields]

    def has_add_permission(self, request):
        return False  # written by the import screen
