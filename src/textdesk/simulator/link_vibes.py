"""The simulator speaking LINK Mobility (Common Platform SMS REST API, JSON) and Vibes Connect (XML), so the demo
can run on either: their send endpoints, their delivery reports and their inbound posts.

A number hosted with ``"api": "link_mobility"`` or ``"api": "vibes"`` (plus ``username``/``password``, the Basic
credentials our sends must carry) is sent from through ``POST /sms/send`` or ``POST /MessageApi/mt/messages``.
Reports follow the provider's own sequence: LINK 1000 (sent) then 1001 (delivered) or 1006 (not delivered);
Vibes System, Carrier and Handset reports, one set per part of a long text.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import xml.etree.ElementTree as ET
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from textdesk.simulator.state import Number, count_segments, now_utc

XML = '<?xml version="1.0" encoding="UTF-8"?>'


def _basic(request: Request) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, password


def _authorised(number: Number | None, api: str, request: Request) -> bool:
    credentials = _basic(request)
    if number is None or number.api != api or credentials is None:
        return False
    return credentials[0] == number.username and hmac.compare_digest(credentials[1].encode(), number.password.encode())


def routes(carrier) -> list[tuple[str, Any, list[str]]]:
    state = carrier.state

    async def link_send(request: Request) -> Response:
        try:
            data = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return JSONResponse({"resultCode": 4000, "description": "body is not JSON"}, status_code=400)
        if not isinstance(data, dict):
            return JSONResponse({"resultCode": 4000, "description": "body is not a JSON object"}, status_code=400)
        number = state.number(str(data.get("source") or ""))
        if not _authorised(number, "link_mobility", request):
            return Response(status_code=401, headers={"WWW-Authenticate": 'Basic realm="sms"'})
        to, body = str(data.get("destination") or ""), str(data.get("userData") or "")
        if not to.startswith("+") or not to[1:].isdigit():
            return JSONResponse({"resultCode": 2106, "description": "Number error"}, status_code=400)
        if state.is_opted_out(number.number, to):
            return JSONResponse({"resultCode": 2105, "description": "Permanently barred"}, status_code=400)
        message = state.record_message(
            sid=secrets.token_urlsafe(12),
            api="link_mobility",
            direction="outbound",
            account_sid="",
            **{"from": number.number, "to": to},
            body=body,
            status="1005",
            error_code=None,
            status_callback=number.status_callback,
            num_segments=count_segments(body),
            our_id=str(data.get("refId") or ""),
        )
        carrier.spawn(carrier.run_status_callbacks(message, number, state.matching_rule(to)))
        return JSONResponse(
            {
                "messageId": message["sid"],
                "resultCode": 1005,
                "description": "Queued",
                "smsCount": message["num_segments"],
            }
        )

    async def vibes_send(request: Request) -> Response:
        try:
            root = ET.fromstring(await request.body())
            source_element, destination = root.find("source"), root.find("destination")
            if source_element is None or destination is None:
                raise ET.ParseError("mtMessage without source or destination")
            source = source_element.get("address", "")
            to = destination.get("address", "")
            body = root.findtext("text") or ""
        except (ET.ParseError, AttributeError):
            return Response(
                f'{XML}<errors><error code="400" description="malformed mtMessage"/></errors>',
                status_code=400,
                media_type="application/xml",
            )
        number = state.number(source)
        if not _authorised(number, "vibes", request):
            return Response(status_code=401, headers={"WWW-Authenticate": 'Basic realm="Vibes"'})
        receipt = root.find("receiptOption")
        message = state.record_message(
            sid=secrets.token_hex(16),
            api="vibes",
            direction="outbound",
            account_sid="",
            **{"from": number.number, "to": to},
            body=body,
            status="accepted",
            error_code=None,
            status_callback=(receipt.get("callbackUrl") if receipt is not None else "") or number.status_callback,
            num_segments=count_segments(body),
            our_id=root.get("submitterMessageId", ""),
            carrier=destination.get("carrier", ""),
        )
        carrier.spawn(carrier.run_status_callbacks(message, number, state.matching_rule(to)))
        answer = (
            f"{XML}<mtMessage messageId={quoteattr(message['sid'])} submitterMessageId={quoteattr(message['our_id'])}/>"
        )
        return Response(answer, media_type="application/xml")

    return [("/sms/send", link_send, ["POST"]), ("/MessageApi/mt/messages", vibes_send, ["POST"])]


# ---------------------------------------------------------------- what the carrier posts


LINK_CODES = {"sent": 1000, "delivered": 1001, "undelivered": 1006, "failed": 1006}
VIBES_TYPES = {"queued": "System", "sent": "Carrier", "delivered": "Handset", "undelivered": "Handset"}


def link_report(message: dict[str, Any], provider_status: str) -> bytes | None:
    if provider_status not in LINK_CODES:
        return None
    report = {
        "id": message["sid"],
        "refId": message.get("our_id", ""),
        "resultCode": LINK_CODES[provider_status],
        "operatorResultCode": "0" if provider_status in ("sent", "delivered") else "34",
        "segments": message.get("num_segments") or 1,
        "timestamp": now_utc().isoformat(),
    }
    return json.dumps(report).encode()


def vibes_reports(message: dict[str, Any], provider_status: str) -> list[bytes]:
    """One report per part (a failure is a Handset error, or a System error when it never left)."""
    kind = "System" if provider_status == "failed" else VIBES_TYPES.get(provider_status)
    if kind is None:
        return []
    is_error = provider_status in ("undelivered", "failed")
    parts = max(1, int(message.get("num_segments") or 1))
    documents = []
    for number in range(1, parts + 1):
        multipart = (
            f'<multipart isMultipart="true" originalMessageId={quoteattr(message["sid"])} noOfParts="{parts}" '
            f'partNumber="{number}"/>'
            if parts > 1
            else '<multipart isMultipart="false"/>'
        )
        message_id = f"{message['sid']}-{number}" if parts > 1 else message["sid"]
        status = (
            '<status isError="true"><description>Not delivered</description><errorCode>5001</errorCode></status>'
            if is_error
            else '<status isError="false"><description>Success</description></status>'
        )
        documents.append(
            (
                f"{XML}<mtMessageResponse messageId={quoteattr(message_id)} "
                f"submitterMessageId={quoteattr(message.get('our_id', ''))} "
                f'receiptDate="{now_utc():%Y-%m-%d %H:%M:%S}">{multipart}<type>{kind}</type>{status}'
                "</mtMessageResponse>"
            ).encode()
        )
    return documents


def link_inbound(sid: str, from_number: str, to_number: str, body: str) -> bytes:
    return json.dumps(
        {
            "messageId": sid,
            "source": from_number,
            "destination": to_number,
            "content": {"type": "TEXT", "userData": body},
            "timestamp": now_utc().isoformat(),
        }
    ).encode()


def vibes_inbound(sid: str, from_number: str, to_number: str, body: str, attempt: int) -> bytes:
    return (
        f'{XML}<moMessage messageId={quoteattr(sid)} receiptDate="{now_utc():%Y-%m-%d %H:%M:%S}" '
        f'attemptNumber="{attempt}"><source address={quoteattr(from_number)} carrier="103" type="MDN"/>'
        f'<destination address={quoteattr(to_number)} type="MDN"/><message>{escape(body)}</message></moMessage>'
    ).encode()
