from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FollowupsConfig(AppConfig):
    name = "followups"
    verbose_name = _("Follow-up and outreach")

    def ready(self) -> None:
        from dms import audit

        from .webhooks import events_publish, events_publish_many

        audit.subscribe(events_publish, many=events_publish_many)

        from messaging.services import register_contact_window

        from .services import message_contact_time

        # messages to customers obey the same contact window as the tasks
        register_contact_window(message_contact_time)

        from messaging.signals import message_failed

        message_failed.connect(_on_message_failed, dispatch_uid="followups.message_failed")


def _on_message_failed(sender, message, **kwargs):
    from .services import task_message_failed

    return task_message_failed(message=message)
