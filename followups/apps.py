from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FollowupsConfig(AppConfig):
    name = "followups"
    verbose_name = _("Follow-up desk")

    def ready(self) -> None:
        from customers import history
        from outreach import sweeper
        from outreach.webhooks import register_subject

        from .models import Complaint

        register_subject(Complaint, "complaint")  # audit entries about complaints: webhook events
        from workorders.signals import repair_order_delivered

        from .handlers import on_repair_order_delivered
        from .models import Complaint
        from .selectors import vehicle_visits
        from .services import complaints_escalate

        # a delivery schedules its follow-up call, in the delivery's transaction
        repair_order_delivered.connect(
            on_repair_order_delivered, dispatch_uid="followups.followup_for_delivery"
        )
        # the archive's vehicle history: visits with their follow-up call and complaints
        history.register("visits", vehicle_visits)
        history.register_choices("complaint_status", Complaint.status.field.choices)
        # the minute sweep also escalates complaints nobody responded to in time
        sweeper.register("escalated", complaints_escalate)
