from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class DmsConfig(AppConfig):
    default = True
    name = "dms"
    verbose_name = _("Dealership and staff")

    def ready(self) -> None:
        # Staff names everywhere (pages, API, admin) follow dms.names: 李娜, not "娜 李".
        from django.contrib.auth import get_user_model
        from django.db.backends.signals import connection_created

        from .names import person_name
        from .pgtypes import fast_timestamps
        from .sqlite import register_functions

        get_user_model().get_full_name = person_name
        # the embedded SQLite database gets the few functions PostgreSQL has built in
        connection_created.connect(register_functions, dispatch_uid="dms.sqlite")
        # PostgreSQL's date-times parsed by psycopg's C parser (dms.pgtypes)
        connection_created.connect(fast_timestamps, dispatch_uid="dms.pgtypes")


class DmsAdminConfig(admin_apps.AdminConfig):
    """The Django admin with the site-scoped admin site (dms.adminsite)."""

    default = False

    default_site = "dms.adminsite.DmsAdminSite"
