from django.db import migrations


class Migration(migrations.Migration):
    """The links moved to `appointments.AppointmentCallTask` and
    `workorders.RepairOrderCallTask` (copied there by those apps' migrations, which run
    first): the engine's table drops its columns naming appointments and repair orders."""

    dependencies = [
        ("outreach", "0003_call_task_links_unnamed"),
        ("appointments", "0009_call_task_links"),
        ("workorders", "0010_call_task_links"),
    ]

    operations = [
        migrations.RemoveField(model_name="calltask", name="appointment"),
        migrations.RemoveField(model_name="calltask", name="repair_order"),
    ]
