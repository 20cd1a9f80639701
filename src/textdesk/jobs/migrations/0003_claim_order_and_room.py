"""Claims read pending jobs in their order, and a job's lease is written in place.

A claim orders by (run_at, id): with the index on run_at alone PostgreSQL sorted every due job on each claim. A
lease changes no indexed column, so with room left in each page (fillfactor 70) PostgreSQL writes it as a
heap-only update: no new entry in every index per lease, and claims no longer walk past one dead entry per lease
taken since the last vacuum.
"""

from django.db import migrations, models


def leave_room(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE jobs_job SET (fillfactor = 70)")


def fill_pages(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE jobs_job RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0002_worker_heartbeat"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="job", name="job_pending_run_at"),
        migrations.AddIndex(
            model_name="job",
            index=models.Index(
                condition=models.Q(("state", "pending")), fields=["run_at", "id"], name="job_pending_due"
            ),
        ),
        migrations.RunPython(leave_room, fill_pages),
    ]
