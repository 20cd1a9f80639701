"""Running the routing pass's own statements: prepared on PostgreSQL, through Django's cursor elsewhere; and a
batch of rows as a table the statements read (``WITH v (…) AS (…)``)."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from django.db import connection


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


def run(sql: str, params: Sequence) -> list[tuple]:
    """Run one statement and return its rows. On PostgreSQL it is prepared: planned once per connection, not per
    batch (the plan of the ranking statement costs more than running it). Errors come out as Django's."""
    if not is_postgresql():
        with connection.cursor() as cursor:
            cursor.execute(sql, list(params))
            return cursor.fetchall() if cursor.description else []
    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        # Django turns psycopg's prepared statements off (None), which also ignores ``prepare=True``. A threshold
        # nobody reaches keeps every other statement unprepared and lets these be prepared when asked.
        raw.prepare_threshold = 2**31 - 1
    with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchall() if cursor.description else []


def rows(columns: Sequence[tuple[str, str]], values: Sequence[tuple]) -> tuple[str, list]:
    """``v (names) AS (…)`` holding ``values`` (at least one row), for a ``WITH`` clause, and its parameters.

    ``columns`` are (name, PostgreSQL type). PostgreSQL gets one array per column, so the statement's text (and its
    prepared plan) is the same for any number of rows; other databases a ``VALUES`` list."""
    names = ", ".join(name for name, _ in columns)
    if is_postgresql():
        arrays = ", ".join(f"%s::{kind}[]" for _, kind in columns)
        return f"v ({names}) AS (SELECT * FROM unnest({arrays}))", [
            list(column) for column in zip(*values, strict=True)
        ]
    row = f"({', '.join(['%s'] * len(columns))})"
    return f"v ({names}) AS (VALUES {', '.join([row] * len(values))})", [x for value in values for x in value]
