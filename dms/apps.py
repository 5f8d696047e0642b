from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DmsConfig(AppConfig):
    name = "dms"
    verbose_name = _("Dealership and staff")
