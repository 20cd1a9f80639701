"""A durable, database-backed job queue (works on SQLite and PostgreSQL)."""
