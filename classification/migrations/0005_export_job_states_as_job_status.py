"""Export jobs take the job states of model training and map runs: `pending` becomes `queued`."""

from django.db import migrations, models

# Old ExportJob.State value → JobStatus value (the other three states keep their names).
RENAMED = {"pending": "queued"}


def forwards(apps, schema_editor):
    ExportJob = apps.get_model("classification", "ExportJob")
    for old, new in RENAMED.items():
        ExportJob.objects.filter(state=old).update(state=new)


def backwards(apps, schema_editor):
    ExportJob = apps.get_model("classification", "ExportJob")
    for old, new in RENAMED.items():
        ExportJob.objects.filter(state=new).update(state=old)


class Migration(migrations.Migration):
    dependencies = [
        ("classification", "0004_training_pool_samples"),
    ]

    operations = [
        migrations.AlterField(
            model_name="exportjob",
            name="state",
            field=models.CharField(
                choices=[
                    ("queued", "Queued"),
                    ("running", "Running"),
                    ("succeeded", "Succeeded"),
                    ("failed", "Failed"),
                ],
                default="queued",
                max_length=10,
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
