"""What apps above add to the repair order, registered in their AppConfig.ready() (workorders
never imports them):

- panels on the advisor's RO page: `fn(request, ro) -> str`, safe HTML or "";
- the customer's page for answering extra work: `fn(ro) -> str`, its full URL or "" (the RO
  page's "send the approval link" sends it; without one, the RO's own approval link).
"""

from collections.abc import Callable

_detail_panels: list[Callable] = []


def register_detail_panel(fn: Callable) -> None:
    if fn not in _detail_panels:
        _detail_panels.append(fn)


def detail_panels(request, ro) -> list[str]:
    return [html for html in (fn(request, ro) for fn in _detail_panels) if html]


_approval_pages: list[Callable] = []


def register_approval_page(fn: Callable) -> None:
    if fn not in _approval_pages:
        _approval_pages.append(fn)


def approval_page_url(ro) -> str:
    """The first registered customer page for answering this RO's extra work, or ""."""
    for fn in _approval_pages:
        url = fn(ro)
        if url:
            return url
    return ""
