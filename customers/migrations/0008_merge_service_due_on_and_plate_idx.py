# Joins the two migrations made side by side after 0006: the vehicle's service-due date and the
# vehicle list's (site, plate, id) index.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0007_vehicle_service_due_on"),
        ("customers", "0007_vehicle_site_plate_idx"),
    ]

    operations = []
