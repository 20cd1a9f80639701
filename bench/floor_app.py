"""The floor: the fastest Python pipeline for the inbound webhook job, to compare TextDesk against.

Starlette + asyncpg: parse the form, verify the Twilio signature, one
lookup-and-insert statement. No framework, no ORM, no routing. Run with
uvicorn; it creates its own two tables in the benchmark database.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
from urllib.parse import parse_qsl

import asyncpg
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

DSN = os.environ["FLOOR_DSN"]
PUBLIC_URL = os.environ.get("FLOOR_PUBLIC_URL", "http://127.0.0.1:8100").rstrip("/")
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'

SCHEMA = """
CREATE TABLE IF NOT EXISTS floor_account (id serial PRIMARY KEY, key text UNIQUE NOT NULL, auth_token text NOT NULL);
CREATE TABLE IF NOT EXISTS floor_message (
  id bigserial PRIMARY KEY, account_id int NOT NULL REFERENCES floor_account(id),
  provider_message_id text NOT NULL, from_number text NOT NULL, to_number text NOT NULL, body text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(), UNIQUE (account_id, provider_message_id));
"""
INSERT = """
INSERT INTO floor_message (account_id, provider_message_id, from_number, to_number, body)
VALUES ((SELECT id FROM floor_account WHERE key = $1), $2, $3, $4, $5)
ON CONFLICT (account_id, provider_message_id) DO NOTHING
"""

pool: asyncpg.Pool | None = None
tokens: dict[str, bytes] = {}


def twilio_signature(token: bytes, url: str, params: list[tuple[str, str]]) -> str:
    data = url + "".join(k + v for k, v in sorted(params))
    return base64.b64encode(hmac.new(token, data.encode(), hashlib.sha1).digest()).decode()


async def startup() -> None:
    global pool
    pool = await asyncpg.create_pool(DSN, min_size=4, max_size=8)
    async with pool.acquire() as conn:
        async with conn.transaction():  # every uvicorn worker runs this at start: one at a time
            await conn.execute("SELECT pg_advisory_xact_lock(20261121)")
            await conn.execute(SCHEMA)
        for key, token in await conn.fetch("SELECT key, auth_token FROM floor_account"):
            tokens[key] = token.encode()


async def inbound(request):
    key = request.path_params["key"]
    token = tokens.get(key)
    if token is None:
        return Response(status_code=404)
    body = (await request.body()).decode()
    params = parse_qsl(body, keep_blank_values=True)
    expected = twilio_signature(token, f"{PUBLIC_URL}{request.url.path}", params)
    if not hmac.compare_digest(expected, request.headers.get("x-twilio-signature", "")):
        return Response(status_code=403)
    form = dict(params)
    await pool.execute(INSERT, key, form["MessageSid"], form["From"], form["To"], form.get("Body", ""))
    return Response(EMPTY_TWIML, media_type="text/xml")


@contextlib.asynccontextmanager
async def lifespan(app):
    await startup()
    yield
    await pool.close()


app = Starlette(routes=[Route("/webhooks/{key}/inbound", inbound, methods=["POST"])], lifespan=lifespan)
