"""The demo site and its staff. Each domain app adds its own demo data in `<app>/demo.py`."""

from datetime import time

from django.contrib.auth import get_user_model

from .models import OpeningHours, Role, Site, StaffRole

DEMO_PASSWORD = "dms-demo"  # noqa: S105 - documented demo logins, local demo data only

# username, full name (family name first), roles
DEMO_STAFF = [
    ("manager", "周", "建国", [Role.MANAGER]),
    ("advisor", "李", "娜", [Role.ADVISOR]),
    ("advisor2", "王", "磊", [Role.ADVISOR]),
    ("dispatcher", "赵", "强", [Role.DISPATCHER]),
    ("tech", "张", "伟", [Role.TECHNICIAN]),
    ("tech2", "刘", "洋", [Role.TECHNICIAN]),
    ("qc", "陈", "刚", [Role.QC_INSPECTOR]),
    ("agent", "杨", "静", [Role.FOLLOWUP_AGENT]),
    ("parts", "吴", "敏", [Role.PARTS_CLERK]),
]


def load_site(
    code: str = "demo", name: str = "DMS-lite Demo 4S", login_suffix: str = ""
) -> tuple[Site, dict]:
    """The demo site and its staff; another `code` and `login_suffix` make a second site with
    its own logins (manager_b, …), as the cross-site tests use."""
    site, _created = Site.objects.get_or_create(
        code=code,
        defaults={
            "name": name,
            "phone": "+862188886666",
            "address": "上海市浦东新区汽车城路 88 号",
        },
    )
    for weekday in range(7):
        opens, closes = (time(8, 30), time(17, 30)) if weekday < 6 else (time(9, 0), time(16, 0))
        OpeningHours.objects.get_or_create(
            site=site, weekday=weekday, defaults={"opens": opens, "closes": closes}
        )
    user_model = get_user_model()
    users = {}
    for username, family, given, roles in DEMO_STAFF:
        user, created = user_model.objects.get_or_create(
            username=username + login_suffix, defaults={"last_name": family, "first_name": given}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            if Role.MANAGER in roles:
                user.is_staff = True
                user.is_superuser = False
            user.save()
        for role in roles:
            StaffRole.objects.get_or_create(user=user, site=site, role=role)
        users[username] = user
    # the manager may use the Django admin for settings
    manager = users["manager"]
    if not manager.is_staff:
        manager.is_staff = True
        manager.save(update_fields=["is_staff"])
    _grant_admin(manager)
    return site, users


def _grant_admin(user) -> None:
    """The manager's admin permissions: the models the admin scopes by site, nothing else (no
    users, groups, staff roles or tokens), and their own site's settings but no new sites.
    Grants from earlier versions of the demo are taken back."""
    from django.contrib import admin
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType

    from .adminsite import SiteScopedAdmin

    models = [m for m, ma in admin.site._registry.items() if isinstance(ma, SiteScopedAdmin)]
    types = ContentType.objects.get_for_models(*models).values()
    perms = Permission.objects.filter(content_type__in=types).exclude(
        codename__in=["add_site", "delete_site"]
    )
    user.user_permissions.set(perms)
