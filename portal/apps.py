from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = _("Customer pages")

    def ready(self) -> None:
        from messaging.services import register_withdrawal
        from workorders import hooks, signals

        from . import receivers, services

        signals.repair_order_opened.connect(receivers.on_repair_order_opened)
        signals.approval_requested.connect(receivers.on_approval_requested)
        signals.repair_order_delivered.connect(receivers.on_repair_order_delivered)
        hooks.register_detail_panel(receivers.status_link_panel)
        hooks.register_approval_page(receivers.status_page_url)
        register_withdrawal("followup_survey", services.survey_withdrawn)
