"""What the customer pages do when the repair order moves (connected in PortalConfig.ready)."""

from django.template.loader import render_to_string

from . import services


def on_repair_order_opened(sender, repair_order, **kwargs) -> None:
    """Check-in: the customer gets the link to the live status of the car."""
    services.status_link_issue(repair_order=repair_order)


def on_approval_requested(sender, repair_order, **kwargs) -> None:
    """Extra work to answer: the customer is sent to the status page, where the proposed lines
    wait with their prices and photos."""
    services.approval_request_notify(repair_order=repair_order)


def on_repair_order_delivered(sender, repair_order, **kwargs) -> None:
    """Delivery: the follow-up invitation carries the link to the online survey."""
    services.survey_link_issue(repair_order=repair_order)


def status_link_panel(request, ro) -> str:
    """The advisor's RO page: the customer's status link, to read out or send again."""
    link = services.status_link_current(repair_order=ro)
    url = services.link_url(services.P.STATUS, services.link_token(link)) if link else ""
    return render_to_string(
        "portal/_ro_panel.html", {"ro": ro, "link": link, "url": url}, request=request
    )


def status_page_url(ro) -> str:
    """The RO page's "send the approval link": the customer answers on the status page."""
    return services.status_page_url(repair_order=ro)
