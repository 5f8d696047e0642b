"""Loads the demo site's data, app by app, in the order the flow runs. Idempotent."""

from appointments import demo as appointments
from care import demo as care
from followups import demo as followups
from workorders import demo as workorders
from workshop import demo as workshop

from . import archive

# Order matters: later apps use what earlier ones made.
LOADERS = (archive, appointments, workorders, workshop, followups, care)


def load_apps(*, site, users) -> None:
    """Each app's demo data for a site (the demo site, or a second one in tests)."""
    for module in LOADERS:
        module.load(site=site, users=users)
