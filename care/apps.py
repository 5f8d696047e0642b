from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CareConfig(AppConfig):
    name = "care"
    verbose_name = _("Proactive care")

    def ready(self):
        from customers import service_due

        from .selectors import first_service_figures

        # the archive stores each vehicle's first service due by the site's first-service rule
        service_due.register_first_service_rule(first_service_figures)
