"""Panels that apps above add to the advisor's RO page, registered in their AppConfig.ready()
(workorders never imports them). A panel is `fn(request, ro) -> str`: safe HTML or ""."""

from collections.abc import Callable

_detail_panels: list[Callable] = []


def register_detail_panel(fn: Callable) -> None:
    if fn not in _detail_panels:
        _detail_panels.append(fn)


def detail_panels(request, ro) -> list[str]:
    return [html for html in (fn(request, ro) for fn in _detail_panels) if html]
