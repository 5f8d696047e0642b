from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkshopConfig(AppConfig):
    name = "workshop"
    verbose_name = _("Workshop")

    def ready(self):
        from dms import live

        from . import board, tasks

        # a change the board shows: render it for the screens watching it, before they ask
        live.on_change(board.BOARD_APPS, tasks.queue_board_renders)
