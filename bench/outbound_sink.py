"""The cheapest honest provider for outbound benchmarks: Twilio's "create message" answered by a bare Starlette app.

    uvicorn --app-dir bench outbound_sink:app --port 8200 --log-level warning

``POST /2010-04-01/Accounts/{sid}/Messages.json`` answers 201 with a fresh message sid and status ``queued``,
exactly the fields TextDesk's Twilio adapter reads. Nothing is checked or stored (no signature, no callbacks):
it measures the sender, not the provider.
"""

from __future__ import annotations

import itertools
import json
import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_ids = itertools.count(1)
_prefix = f"SM{os.getpid():08x}"


async def create_message(request: Request) -> Response:
    await request.body()  # read the form: an honest server takes the whole request
    sid = f"{_prefix}{next(_ids):024x}"
    body = json.dumps({"sid": sid, "status": "queued", "num_segments": "1"}).encode()
    return Response(body, status_code=201, media_type="application/json")


app = Starlette(
    routes=[
        Route("/2010-04-01/Accounts/{sid}/Messages.json", create_message, methods=["POST"]),
    ]
)
