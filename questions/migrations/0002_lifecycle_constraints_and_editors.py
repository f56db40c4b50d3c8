from django.conf import settings
from django.db import migrations, models

# What an editor does every day: write and publish questions, pick
# categories, resolve, watch the panel and edit its seats. No deletes (annul
# a question instead; removing history is for an administrator), no users.
EDITOR_PERMISSIONS = {
    "questions": ["view_category", "add_category", "change_category", "view_question", "add_question", "change_question"],
    "forecasts": ["view_panelmodel", "change_panelmodel", "view_round", "view_modelrun", "view_snapshot"],
}


def repair_rows(apps, schema_editor):
    """Bring older rows in line with the lifecycle constraints added below."""
    Question = apps.get_model("questions", "Question")
    for question in Question.objects.exclude(status="draft").filter(published_at__isnull=True):
        question.published_at = question.created_at
        question.save(update_fields=["published_at"])
    Question.objects.exclude(status__in=["resolved", "annulled"]).update(resolved_at=None, resolved_by=None)


def create_editors_group(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations have run; create
    # them now so the group can be given them on a fresh database.
    for label in EDITOR_PERMISSIONS:
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="Editors")
    wanted = [
        Permission.objects.get(content_type__app_label=label, codename=codename)
        for label, codenames in EDITOR_PERMISSIONS.items()
        for codename in codenames
    ]
    group.permissions.set(wanted)


def remove_editors_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="Editors").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("questions", "0001_initial"),
        ("forecasts", "0002_default_panel"),
        ("auth", "__latest__"),
        ("contenttypes", "__latest__"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(repair_rows, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="question",
            constraint=models.CheckConstraint(
                condition=models.Q(("status__in", ["draft", "open", "closed", "resolved", "annulled"])),
                name="question_status_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="question",
            constraint=models.CheckConstraint(
                condition=models.Q(("status", "draft"), ("published_at__isnull", False), _connector="OR"),
                name="question_published_has_date",
            ),
        ),
        migrations.AddConstraint(
            model_name="question",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("status__in", ["resolved", "annulled"]),
                    models.Q(("resolved_at__isnull", True), ("resolved_by__isnull", True)),
                    _connector="OR",
                ),
                name="question_resolution_stamp_only_when_decided",
            ),
        ),
        migrations.RunPython(create_editors_group, remove_editors_group),
    ]
