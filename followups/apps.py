from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FollowupsConfig(AppConfig):
    name = "followups"
    verbose_name = _("Follow-up desk")

    def ready(self) -> None:
        from outreach import sweeper

        from .services import complaints_escalate

        # the minute sweep also escalates complaints nobody responded to in time
        sweeper.register("escalated", complaints_escalate)
