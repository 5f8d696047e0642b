"""Each role's main screens as people see them: the demo dealership at tablet size (1024×768)
and the wall screens at 1920×1080, in Chinese and English. The pictures go to docs/screenshots/
(screen-<lang>-<name>.png) for the user guide; each page must load without a server error and
keep its menu on one row."""

import pytest
from django.core.management import call_command

from dms.demo import DEMO_PASSWORD
from tests.conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
TABLET = {"width": 1024, "height": 768}
WALL = {"width": 1920, "height": 1080}


def _screens():
    from workorders.models import RepairOrder, ROStatus

    ro = (
        RepairOrder.objects.filter(status=ROStatus.IN_PROGRESS).order_by("id").first()
        or RepairOrder.objects.order_by("id").first()
    )
    return [
        ("advisor", "/appointments/", "front-desk", TABLET),
        ("advisor", "/ro/", "repair-orders", TABLET),
        ("advisor", f"/ro/{ro.pk}/", "repair-order", TABLET),
        ("advisor", "/customers/", "customers", TABLET),
        ("dispatcher", "/workshop/board/", "workshop-board", TABLET),
        ("tech", "/workshop/technician/", "technician", TABLET),
        ("qc", "/workshop/qc/", "quality-check", TABLET),
        ("agent", "/followups/", "follow-up-desk", TABLET),
        ("parts", "/appointments/parts/", "parts", TABLET),
        ("manager", "/dashboard/", "dashboard", TABLET),
        ("dispatcher", "/workshop/board/?wall=1", "wall-board", WALL),
        ("advisor", "/appointments/board/", "welcome-board", WALL),
    ]


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
def test_each_roles_screens(live_server, login_page, lang):
    call_command("load_demo", verbosity=0)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pages = {}
    for username, path, name, size in _screens():
        key = (username, size["width"])
        if key not in pages:
            pages[key] = login_page(username, DEMO_PASSWORD, lang=lang, viewport=size)
        page = pages[key]
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, (username, path, response.status)
        page.wait_for_load_state("networkidle")
        if size is TABLET and page.locator("header.topbar").count():
            # the menu keeps one row
            assert page.locator("header.topbar").bounding_box()["height"] < 60, (lang, path)
        page.screenshot(path=str(SCREENSHOTS / f"screen-{lang}-{name}.png"))
