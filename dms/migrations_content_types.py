"""Used by the migrations that move models between apps with SeparateDatabaseAndState.

A model's ContentType row names its app. When a model changes app its table and rows stay, and
so must everything that points at its content type (the audit trail's entries, permissions):
the existing row is renamed to the new app instead of Django creating a second one."""


def content_types_move(old_app: str, new_app: str, models: list[str]):
    """A RunPython pair (forwards, backwards) renaming the content types of `models` from
    `old_app` to `new_app`. If the new app's row already exists (created by an earlier
    `migrate` run), rows pointing at the old one are moved to it and the old one removed."""

    def move(apps, from_app: str, to_app: str) -> None:
        ContentType = apps.get_model("contenttypes", "ContentType")
        AuditEntry = apps.get_model("dms", "AuditEntry")
        Permission = apps.get_model("auth", "Permission")
        for model in models:
            old = ContentType.objects.filter(app_label=from_app, model=model).first()
            if old is None:
                continue
            new = ContentType.objects.filter(app_label=to_app, model=model).first()
            if new is None:
                old.app_label = to_app
                old.save(update_fields=["app_label"])
                continue
            AuditEntry.objects.filter(content_type=old).update(content_type=new)
            existing = set(
                Permission.objects.filter(content_type=new).values_list("codename", flat=True)
            )
            Permission.objects.filter(content_type=old).exclude(codename__in=existing).update(
                content_type=new
            )
            old.delete()

    def forwards(apps, schema_editor) -> None:
        move(apps, old_app, new_app)

    def backwards(apps, schema_editor) -> None:
        move(apps, new_app, old_app)

    return forwards, backwards
