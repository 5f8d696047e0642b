from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkordersConfig(AppConfig):
    name = "workorders"
    verbose_name = _("Repair orders")

    def ready(self) -> None:
        from dms.media import register_owner
        from dms.models import Role

        from .models import Approval, Photo, SignedDocument

        # photos, signatures and signed documents: for the staff of the RO's site
        staff = tuple(Role.values)
        register_owner(Photo, "image", site_path="repair_order__site", roles=staff)
        register_owner(Approval, "signature", site_path="repair_order__site", roles=staff)
        register_owner(SignedDocument, "file", site_path="repair_order__site", roles=staff)
