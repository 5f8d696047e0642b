"""The Django admin, scoped like the API.

A site's manager administers that site's records and nothing else: the lists, change pages,
foreign-key choices and list filters of a `SiteScopedAdmin` hold only rows of the sites where
the user is a manager. Every model admin that does not declare its site (users, groups, staff
roles, API tokens, sign-in records, anything a library registers) is for superusers only: the
admin site wraps it at registration, so a new admin is closed until it is scoped.
"""

from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db.models import Model, QuerySet

from .models import Role, Site, StaffRole

# models that hold no site's data: anyone who may use the admin may pick them
SHARED_MODELS = {ContentType}


def managed_site_ids(user) -> list[int]:
    """The sites whose records a user administers: all for a superuser (active or not), else
    the active sites where they are a manager (other roles make nobody an administrator)."""
    if not getattr(user, "is_active", False):
        return []
    if user.is_superuser:
        return list(Site.objects.values_list("id", flat=True))
    cached = getattr(user, "_dms_managed_sites", None)
    if cached is None:
        cached = sorted(
            StaffRole.objects.filter(
                user=user, role=Role.MANAGER, site__is_active=True
            ).values_list("site_id", flat=True)
        )
        user._dms_managed_sites = cached
    return cached


def _site_paths() -> dict[type[Model], str]:
    paths: dict[type[Model], str] = {Site: "pk"}
    for model, model_admin in admin.site._registry.items():
        if isinstance(model_admin, SiteScopedAdmin):
            paths[model] = model_admin.site_path
            for inline in model_admin.inlines:
                if issubclass(inline, SiteScopedInline):
                    paths.setdefault(inline.model, inline.site_path)
    return paths


def scoped(model: type[Model], user, qs: QuerySet | None = None) -> QuerySet:
    """The rows of `model` a user may see or pick in the admin. A model whose site is not
    known to the admin yields no rows for anyone but a superuser."""
    qs = model._default_manager.all() if qs is None else qs
    if getattr(user, "is_superuser", False) or model in SHARED_MODELS:
        return qs
    ids = managed_site_ids(user)
    if model is get_user_model():
        return qs.filter(staff_roles__site__in=ids).distinct()
    path = _site_paths().get(model)
    if path is None:
        return qs.none()
    return qs.filter(**{f"{path}__in": ids})


class ScopedRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """A list filter on a relation offers only the related rows of the user's sites."""

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin)
        allowed = scoped(field.related_model, request.user).values("pk")
        return field.get_choices(
            include_blank=False, ordering=ordering, limit_choices_to={"pk__in": allowed}
        )


class _ScopedChoices:
    """Foreign-key and many-to-many choices limited to the user's sites (this also refuses a
    typed raw id of another site: the form validates against the same queryset)."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        kwargs["queryset"] = scoped(db_field.related_model, request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        kwargs["queryset"] = scoped(db_field.related_model, request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class SiteScopedInline(_ScopedChoices):
    """Mixin for inlines of a `SiteScopedAdmin`: `site_path` leads from the inline's model to
    its site."""

    site_path = "site"


class SiteScopedTabularInline(SiteScopedInline, admin.TabularInline):
    pass


class SiteScopedAdmin(_ScopedChoices, admin.ModelAdmin):
    """A model admin whose rows belong to a site: `site_path` is the lookup from the model to
    its `Site` ("site", "repair_order__site", …)."""

    site_path = "site"

    def get_queryset(self, request):
        return scoped(self.model, request.user, super().get_queryset(request))

    def get_list_filter(self, request):
        filters = []
        for item in super().get_list_filter(request):
            if isinstance(item, str) and get_fields_from_path(self.model, item)[-1].is_relation:
                item = (item, ScopedRelatedFieldListFilter)
            filters.append(item)
        return filters

    def get_inline_instances(self, request, obj=None):
        for inline in self.inlines:
            if not issubclass(inline, SiteScopedInline):
                raise TypeError(f"{inline.__name__} must be a SiteScopedInline")
        return super().get_inline_instances(request, obj)

    def _administers(self, request) -> bool:
        return bool(managed_site_ids(request.user))

    def has_module_permission(self, request):
        return self._administers(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return self._administers(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return self._administers(request) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return self._administers(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._administers(request) and super().has_delete_permission(request, obj)


class SuperuserOnly:
    """Mixed into every model admin that is not scoped by site."""

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request, *args):
        return (
            request.user.is_active
            and request.user.is_superuser
            and super().has_add_permission(request, *args)
        )

    def has_change_permission(self, request, obj=None):
        return (
            request.user.is_active
            and request.user.is_superuser
            and super().has_change_permission(request, obj)
        )

    def has_delete_permission(self, request, obj=None):
        return (
            request.user.is_active
            and request.user.is_superuser
            and super().has_delete_permission(request, obj)
        )


class DmsAdminSite(admin.AdminSite):
    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, SiteScopedAdmin | SuperuserOnly):
            admin_class = type(
                admin_class.__name__,
                (SuperuserOnly, admin_class),
                {"__module__": admin_class.__module__},
            )
        return super().register(model_or_iterable, admin_class, **options)
