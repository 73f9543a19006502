from django.db import migrations, models

# Count the unwaived errors and warnings of the relevés already checked (set-based, any table size).
BACKFILL = """
UPDATE fieldcollect_releveqcstate AS state
SET open_errors = counts.errors, open_warnings = counts.warnings
FROM (
    SELECT releve_id,
           count(*) FILTER (WHERE severity = 'error') AS errors,
           count(*) FILTER (WHERE severity = 'warning') AS warnings
    FROM fieldcollect_qcresult
    WHERE waived_by_id IS NULL
    GROUP BY releve_id
) AS counts
WHERE counts.releve_id = state.releve_id
"""


class Migration(migrations.Migration):
    dependencies = [
        ("fieldcollect", "0004_qc_results_review_events"),
    ]

    operations = [
        migrations.AddField(
            model_name="releveqcstate",
            name="open_errors",
            field=models.PositiveIntegerField(default=0, help_text="Unwaived error findings."),
        ),
        migrations.AddField(
            model_name="releveqcstate",
            name="open_warnings",
            field=models.PositiveIntegerField(default=0, help_text="Unwaived warning findings."),
        ),
        migrations.RunSQL(BACKFILL, reverse_sql=migrations.RunSQL.noop),
    ]
