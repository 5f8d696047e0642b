"""What the minute sweep runs besides the outreach engine's own work.

An app above the engine registers a periodic step in its AppConfig.ready() (e.g. followups:
escalating complaints nobody responded to in time); the sweep runs each one after claiming due
tasks and reports its result under the registered name. The engine never imports those apps."""

from collections.abc import Callable

_STEPS: dict[str, Callable[[], object]] = {}


def register(name: str, step: Callable[[], object]) -> None:
    """Run `step()` on every sweep and report its result as `name` (registering twice under the
    same name replaces the step)."""
    _STEPS[name] = step


def run_steps() -> dict[str, object]:
    return {name: step() for name, step in _STEPS.items()}
