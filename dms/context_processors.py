from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .models import Role
from .permissions import current_site, has_role, roles_of, site_ids_of, sites_of

# (label, url name, roles that see it) — the same roles the views enforce. Menu labels are
# short (context "menu") so that the menu fits one row of a 1024 px tablet in both languages.
NAV = [
    (_("Front desk"), "appointments:front_desk", (Role.ADVISOR,)),
    (pgettext_lazy("menu", "Customers"), "customers:index", (Role.ADVISOR, Role.FOLLOWUP_AGENT)),
    (_("Repair orders"), "workorders:list", tuple(Role)),
    (
        pgettext_lazy("menu", "Workshop"),
        "workshop:board",
        (Role.DISPATCHER, Role.ADVISOR, Role.TECHNICIAN, Role.QC_INSPECTOR),
    ),
    (_("My jobs"), "workshop:technician", (Role.TECHNICIAN,)),
    (_("QC"), "workshop:qc", (Role.QC_INSPECTOR,)),
    (_("Parts"), "appointments:pick_list", (Role.PARTS_CLERK,)),
    (
        pgettext_lazy("menu", "Follow-ups"),
        "followups:desk",
        (Role.FOLLOWUP_AGENT, Role.ADVISOR, Role.DISPATCHER, Role.TECHNICIAN),
    ),
    (_("Complaints"), "followups:complaints", (Role.FOLLOWUP_AGENT, Role.ADVISOR)),
    (pgettext_lazy("menu", "Care"), "care:due_this_month", (Role.FOLLOWUP_AGENT, Role.ADVISOR)),
    (_("Replies"), "messaging:inbox", (Role.FOLLOWUP_AGENT, Role.ADVISOR)),
    (_("Message templates"), "messaging:templates", (Role.MANAGER,)),
    (_("Dashboard"), "kpis:dashboard", (Role.MANAGER,)),
]


def navigation(request):
    user = getattr(request, "user", None)
    if not user or not user.is_authenticated:
        return {}
    site = current_site(request)
    items = []
    for label, name, roles in NAV:
        if has_role(user, site, *roles):
            try:
                items.append({"label": label, "url": reverse(name), "name": name})
            except NoReverseMatch:
                continue
    return {
        "nav_items": items,
        "current_site": site,
        # the site switcher's choices: read only for someone who works at more than one site
        # (the menu shows no switcher otherwise; a query on every staff page saved)
        "my_sites": sites_of(user) if len(site_ids_of(user)) > 1 else [],
        "my_roles": [Role(r).label for r in sorted(roles_of(user, site))],
        "is_staff_admin": user.is_staff,
    }
