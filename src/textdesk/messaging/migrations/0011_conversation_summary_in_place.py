"""A conversation's summary (its last status) is written in place.

Every status change of a conversation's latest message writes ``last_status``, which no index holds; with room
left in each page (fillfactor 90) PostgreSQL makes that a heap-only update instead of a new entry in each of the
conversation's ten indexes (one of them a trigram index).
"""

from django.db import migrations


def leave_room(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE messaging_conversation SET (fillfactor = 90)")


def fill_pages(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE messaging_conversation RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0010_search_indexes"),
    ]

    operations = [
        migrations.RunPython(leave_room, fill_pages),
    ]
