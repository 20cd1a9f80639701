"""Search: message bodies by words, conversations by a fragment of the customer's number, records by name.

PostgreSQL: a GIN index over ``textdesk_search_vector(body)`` (the body lower-cased, accents removed, split by the
``simple`` configuration: words match alike in English, Portuguese, Spanish and Italian, "sao" finds "São"),
and trigram (pg_trgm) indexes for number fragments and names (``LIKE '%…%'``). SQLite: an FTS5 table over the bodies (accents
removed by its tokenizer) kept in step with the messages by triggers.
"""

from django.db import migrations

PG_FUNCTIONS = """
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE OR REPLACE FUNCTION textdesk_fold(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, coalesce($1, ''))) $$;
CREATE OR REPLACE FUNCTION textdesk_search_vector(text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT to_tsvector('pg_catalog.simple'::regconfig, textdesk_fold($1)) $$;
"""

PG_INDEXES = [
    "CREATE INDEX message_body_search ON messaging_message USING gin (textdesk_search_vector(body))",
    "CREATE INDEX conversation_customer_trgm ON messaging_conversation USING gin (customer_e164 gin_trgm_ops)",
    "CREATE INDEX account_name_trgm ON crm_account USING gin (textdesk_fold(name) gin_trgm_ops)",
    "CREATE INDEX contact_name_trgm ON crm_contact "
    "USING gin (textdesk_fold(first_name || ' ' || last_name) gin_trgm_ops)",
    "CREATE INDEX lead_name_trgm ON crm_lead "
    "USING gin (textdesk_fold(first_name || ' ' || last_name || ' ' || company_name) gin_trgm_ops)",
    "CREATE INDEX opportunity_name_trgm ON crm_opportunity USING gin (textdesk_fold(name) gin_trgm_ops)",
] + [
    f"CREATE INDEX {table}_phones_trgm ON crm_{table} "
    "USING gin (business_phone_e164 gin_trgm_ops, mobile_phone_e164 gin_trgm_ops)"
    for table in ("account", "contact", "lead")
]

PG_DROP = """
DROP INDEX IF EXISTS message_body_search, conversation_customer_trgm, account_name_trgm, contact_name_trgm,
    lead_name_trgm, opportunity_name_trgm, account_phones_trgm, contact_phones_trgm, lead_phones_trgm;
DROP FUNCTION IF EXISTS textdesk_search_vector(text);
DROP FUNCTION IF EXISTS textdesk_fold(text);
"""

SQLITE = [
    "CREATE VIRTUAL TABLE messaging_message_fts USING fts5("
    "body, content='messaging_message', content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER messaging_message_fts_insert AFTER INSERT ON messaging_message BEGIN "
    "INSERT INTO messaging_message_fts(rowid, body) VALUES (new.id, new.body); END",
    "CREATE TRIGGER messaging_message_fts_delete AFTER DELETE ON messaging_message BEGIN "
    "INSERT INTO messaging_message_fts(messaging_message_fts, rowid, body) VALUES ('delete', old.id, old.body); END",
    "CREATE TRIGGER messaging_message_fts_update AFTER UPDATE OF body ON messaging_message BEGIN "
    "INSERT INTO messaging_message_fts(messaging_message_fts, rowid, body) VALUES ('delete', old.id, old.body); "
    "INSERT INTO messaging_message_fts(rowid, body) VALUES (new.id, new.body); END",
    "INSERT INTO messaging_message_fts(messaging_message_fts) VALUES ('rebuild')",
]

SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS messaging_message_fts_insert",
    "DROP TRIGGER IF EXISTS messaging_message_fts_delete",
    "DROP TRIGGER IF EXISTS messaging_message_fts_update",
    "DROP TABLE IF EXISTS messaging_message_fts",
]


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FUNCTIONS)
        for statement in PG_INDEXES:
            schema_editor.execute(statement)
    elif vendor == "sqlite":
        for statement in SQLITE:
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_DROP)
    elif vendor == "sqlite":
        for statement in SQLITE_DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0002_initial"),
        ("messaging", "0009_outbound_no_delivery_report_status"),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
