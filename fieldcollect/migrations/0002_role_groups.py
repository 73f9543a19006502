from django.db import migrations

ROLES = ("botanist", "coordinator", "modeller")


def create_role_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [("fieldcollect", "0001_initial")]

    operations = [migrations.RunPython(create_role_groups, migrations.RunPython.noop)]
