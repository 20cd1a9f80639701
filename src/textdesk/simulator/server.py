"""The simulator's HTTP side: Twilio's Messages API, the generic gateway API, the admin API and the phone page.

Run it on its own with ``textdesk simulator``, or in-process with :func:`start_in_thread`.

Admin API (JSON, under ``/_sim``):

- ``POST /_sim/numbers`` ``{"number", "account_sid", "auth_token", "sms_url", "status_callback"}`` hosts one of
  our numbers (``"api": "generic"`` with ``"api_key"`` and ``"signing_secret"`` for the generic contract);
  ``GET /_sim/numbers`` lists them.
- ``POST /_sim/rules`` adds a fault rule (fields of :class:`textdesk.simulator.state.Rule`); ``GET`` lists,
  ``DELETE /_sim/rules`` clears, ``DELETE /_sim/rules/{id}`` removes one.
- ``POST /_sim/config`` changes settings (callback delays, inbound retries, random seed).
- ``POST /_sim/inbound`` ``{"from", "to", "body", "repeat": 1, "message_sid": ""}`` makes a customer write
  to one of our numbers; answers once every post (and retry) is done.
- ``GET /_sim/messages`` and ``GET /_sim/webhooks`` list what was received and posted (filters as query).
- ``POST /_sim/reset`` forgets messages, webhooks, rules and opt-outs (``{"numbers": true}``: numbers too).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hmac
import json
import re
import threading
import time
from dataclasses import asdict, dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from textdesk.simulator import link_vibes
from textdesk.simulator.carrier import Carrier, rfc2822, twilio_error_body
from textdesk.simulator.state import SimulatorState, count_segments, new_sid, now_utc

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
MAX_BODY_CHARS = 1600


# A rule answering 504 plays a gateway that timed out waiting for the provider *after* the provider took the
# message: the message is carried (and reported) but the answer is the 504.
GATEWAY_TIMEOUT = 504


# Statuses of a message the carrier is still working on: it cannot be deleted or redacted yet.
IN_FLIGHT = frozenset({"queued", "sending", "accepted"})


def _parse_send_at(value: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _sent_on(message: dict[str, Any], days: dict[str, str]) -> bool:
    """Whether a message's ``date_sent`` matches the DateSent filters (on, before, after a day)."""
    if not message.get("date_sent"):
        return False
    day = parsedate_to_datetime(message["date_sent"]).date().isoformat()
    return (
        (not days[""] or day == days[""][:10])
        and (not days["<"] or day <= days["<"][:10])
        and (not days[">"] or day >= days[">"][:10])
    )


def _json_error(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status)


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def _basic_auth(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        user, _, password = base64.b64decode(encoded).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, password


def build_app(carrier: Carrier | None = None) -> Starlette:
    carrier = carrier or Carrier()
    state = carrier.state

    # -------------------------------------------------------------- Twilio Messages API

    def twilio_error(code: int, http_status: int | None = None, /, **context: str) -> JSONResponse:
        status, body = twilio_error_body(code, http_status, **context)
        headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if status == 401 else None
        return JSONResponse(body, status_code=status, headers=headers)

    def twilio_message_json(message: dict[str, Any]) -> dict[str, Any]:
        account_sid, sid = message["account_sid"], message["sid"]
        created = message.get("date_created") or rfc2822(now_utc())
        base = f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}"
        inbound = message.get("direction") == "inbound"
        return {
            "account_sid": account_sid,
            "api_version": "2010-04-01",
            "body": message["body"],
            "date_created": created,
            "date_sent": message.get("date_sent") or (created if inbound else None),
            "date_updated": message.get("date_updated") or created,
            "direction": "inbound" if inbound else "outbound-api",
            "error_code": message.get("error_code"),
            "error_message": None,
            "from": message["from"] if message.get("from_shown", True) else None,
            "messaging_service_sid": message.get("messaging_service_sid"),
            "num_media": "0",
            "num_segments": str(message.get("num_segments") or 1),
            "price": message.get("price"),
            "price_unit": "USD",
            "sid": sid,
            "status": message["status"],
            "subresource_uris": {"media": f"{base}/Media.json"},
            "to": message["to"],
            "uri": f"{base}.json",
        }

    def authenticated_account(request: Request) -> str | None:
        account_sid = request.path_params["account_sid"]
        credentials = _basic_auth(request)
        token = state.twilio_account_token(account_sid)
        if credentials is None or token is None or credentials[0] != account_sid:
            return None
        if not hmac.compare_digest(credentials[1].encode(), token.encode()):
            return None
        return account_sid

    async def apply_rule_answer(rule) -> tuple[int | None, int | None]:
        """Wait if the rule says so; return (http_status, error_code) when the send must be refused."""
        if rule is None:
            return None, None
        if rule.delay:
            await asyncio.sleep(rule.delay)
        return rule.http_status, rule.error_code

    async def twilio_create_message(request: Request) -> Response:
        account_sid = authenticated_account(request)
        if account_sid is None:
            return twilio_error(20003)
        try:
            form = parse_qs((await request.body()).decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return twilio_error(21211, 400, to="")
        to = (form.get("To") or [""])[0].strip()
        from_ = (form.get("From") or [""])[0].strip()
        service_sid = (form.get("MessagingServiceSid") or [""])[0].strip()
        body = (form.get("Body") or [""])[0]
        callback = (form.get("StatusCallback") or [""])[0]
        context = {"to": to, "from_": from_}
        if not to:
            return twilio_error(21604)
        if not E164.match(to):
            return twilio_error(21211, **context)
        if not from_ and not service_sid:
            return twilio_error(21603)
        if from_:
            number = state.number(from_)
        else:  # the Messaging Service picks the sender
            number = state.service_number(account_sid, service_sid)
            if number is None:
                return twilio_error(21701, **context)
            from_ = context["from_"] = number.number
        if number is None or number.api != "twilio" or number.account_sid != account_sid:
            return twilio_error(21606, **context)
        send_at = None
        if (form.get("ScheduleType") or [""])[0] == "fixed":
            send_at = _parse_send_at((form.get("SendAt") or [""])[0])
            if send_at is None or not service_sid:
                return twilio_error(35111 if send_at is None else 35118, **context)
        if not body.strip():
            return twilio_error(21602)
        if len(body) > MAX_BODY_CHARS:
            return twilio_error(21617)
        if state.is_opted_out(from_, to):
            return twilio_error(21610, **context)
        rule = state.matching_rule(to)
        http_status, error_code = await apply_rule_answer(rule)
        if error_code is not None:
            return twilio_error(int(error_code), http_status, **context)
        if http_status is not None and int(http_status) != GATEWAY_TIMEOUT:
            fallback_code = 20500 if http_status >= 500 else 20429 if http_status == 429 else 20001
            return twilio_error(fallback_code, int(http_status), **context)
        message = state.record_message(
            sid=new_sid("SM"),
            api="twilio",
            direction="outbound",
            account_sid=account_sid,
            **{"from": from_, "to": to},
            body=body,
            status="scheduled" if send_at else "accepted" if service_sid and "From" not in form else "queued",
            error_code=None,
            status_callback=callback,
            num_segments=count_segments(body),
            date_created=rfc2822(now_utc()),
            messaging_service_sid=service_sid or None,
            from_shown=bool(form.get("From")),
            send_at=send_at.isoformat() if send_at else None,
        )
        answer = twilio_message_json(message)
        carrier.spawn(carrier.run_status_callbacks(message, number, rule))
        if http_status is not None:  # 504: the message was taken, but the answer is a gateway timeout
            return twilio_error(20500, GATEWAY_TIMEOUT, **context)
        return JSONResponse(answer, status_code=201)

    def not_found() -> JSONResponse:
        return JSONResponse(
            {
                "code": 20404,
                "message": "The requested resource was not found",
                "more_info": "https://www.twilio.com/docs/errors/20404",
                "status": 404,
            },
            status_code=404,
        )

    def owned_message(request: Request, account_sid: str) -> dict[str, Any] | None:
        message = state.find_message(request.path_params["message_sid"])
        if message is None or message.get("account_sid") != account_sid or message["api"] != "twilio":
            return None
        return message

    async def twilio_message(request: Request) -> Response:
        """Fetch (GET), update (POST: ``Body=""`` redacts, ``Status=canceled`` cancels a scheduled message)
        and delete (DELETE) one message."""
        account_sid = authenticated_account(request)
        if account_sid is None:
            return twilio_error(20003)
        message = owned_message(request, account_sid)
        if message is None:
            return not_found()
        if request.method == "DELETE":
            if message["status"] in IN_FLIGHT:
                return twilio_error(20009)
            state.delete_message(message["sid"])
            return Response(status_code=204)
        if request.method == "POST":
            form = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
            changes: dict[str, Any] = {"date_updated": rfc2822(now_utc())}
            if "Body" in form:
                if form["Body"][0] != "" or message["status"] in IN_FLIGHT:
                    return twilio_error(20009 if form["Body"][0] == "" else 21220)
                changes["body"] = ""
            if "Status" in form:
                if form["Status"][0] != "canceled" or message["status"] not in ("scheduled", "accepted"):
                    return twilio_error(30409)
                changes["status"] = "canceled"
            state.update_message(message["sid"], **changes)
            message = state.find_message(message["sid"]) or message
        return JSONResponse(twilio_message_json(message))

    async def twilio_list_messages(request: Request) -> Response:
        """Messages newest first, in pages (``PageSize``, ``Page``, ``PageToken``), filtered by ``To``, ``From``
        and ``DateSent`` (also ``DateSent<`` and ``DateSent>``, ``YYYY-MM-DD``)."""
        account_sid = authenticated_account(request)
        if account_sid is None:
            return twilio_error(20003)
        query = request.query_params
        try:
            size = min(1000, max(1, int(query.get("PageSize") or 50)))
            page = max(0, int(query.get("Page") or 0))
            offset = int(query.get("PageToken", "PT0").removeprefix("PT") or 0) if "PageToken" in query else page * size
        except ValueError:
            return twilio_error(20001, 400)
        to, from_ = query.get("To", ""), query.get("From", "")
        days = {op: query.get(f"DateSent{op}", "") for op in ("", "<", ">")}
        with state.lock:
            messages = [m for m in state.messages.values() if m.get("account_sid") == account_sid]
        selected = []
        for message in reversed(messages):
            if message["api"] != "twilio" or (to and message["to"] != to) or (from_ and message["from"] != from_):
                continue
            if any(days.values()) and not _sent_on(twilio_message_json(message), days):
                continue
            selected.append(message)
        chunk = selected[offset : offset + size]
        path = request.url.path
        filters = {k: v for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")}

        def page_uri(number: int, start: int) -> str:
            return f"{path}?{urlencode({**filters, 'PageSize': size, 'Page': number, 'PageToken': f'PT{start}'})}"

        current = offset // size
        return JSONResponse(
            {
                "messages": [twilio_message_json(m) for m in chunk],
                "page": current,
                "page_size": size,
                "start": offset,
                "end": offset + max(0, len(chunk) - 1),
                "uri": page_uri(current, offset),
                "first_page_uri": page_uri(0, 0),
                "next_page_uri": page_uri(current + 1, offset + size) if offset + size < len(selected) else None,
                "previous_page_uri": page_uri(current - 1, max(0, offset - size)) if offset else None,
            }
        )

    # -------------------------------------------------------------- the generic gateway contract

    def generic_refusal(status: int, code: str, reason: str, permanent: bool = True) -> JSONResponse:
        return JSONResponse(
            {"accepted": False, "reason": reason, "code": code, "permanent": permanent}, status_code=status
        )

    async def generic_send(request: Request) -> Response:
        scheme, _, api_key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not state.generic_account_known(api_key):
            return generic_refusal(401, "ProviderAuthFailed", "unknown API key")
        try:
            data = await _json_body(request)
        except (ValueError, UnicodeDecodeError):
            return generic_refusal(400, "InvalidSendingParameters", "body is not a JSON object")
        our_id, to, from_ = str(data.get("id") or ""), str(data.get("to") or ""), str(data.get("from") or "")
        body = str(data.get("body") or "")
        if not our_id:
            return generic_refusal(400, "InvalidSendingParameters", "missing id")
        with state.lock:
            existing = state.idempotency.get((api_key, our_id))
        if existing:
            return JSONResponse({"accepted": True, "id": existing})
        if not E164.match(to):
            return generic_refusal(200, "InvalidSendingParameters", f"'to' {to!r} is not an E.164 number")
        number = state.number(from_)
        if number is None or number.api != "generic" or number.api_key != api_key:
            return generic_refusal(200, "InvalidSendingParameters", f"'from' {from_!r} is not a number of this account")
        if not body.strip():
            return generic_refusal(200, "EmptyBody", "empty body")
        if state.is_opted_out(from_, to):
            return generic_refusal(200, "RecipientOptedOut", f"{to} has opted out")
        rule = state.matching_rule(to)
        http_status, error_code = await apply_rule_answer(rule)
        if error_code is not None:
            from textdesk.providers.twilio import error_meaning

            meaning = error_meaning(error_code)
            return generic_refusal(
                http_status or 200,
                meaning.reason if meaning else "Unknown",
                f"simulated error {error_code}",
                meaning.permanent if meaning else True,
            )
        if http_status is not None and int(http_status) != GATEWAY_TIMEOUT:
            return generic_refusal(int(http_status), "ProviderUnavailable", "simulated failure", False)
        with state.lock:  # the same id may have arrived again while this request waited
            existing = state.idempotency.get((api_key, our_id))
            if existing:
                return JSONResponse({"accepted": True, "id": existing})
            message = state.record_message(
                sid=new_sid("GW"),
                api="generic",
                direction="outbound",
                account_sid="",
                our_id=our_id,
                **{"from": from_, "to": to},
                body=body,
                status="accepted",
                error_code=None,
                status_callback=str(data.get("status_callback_url") or ""),
                num_segments=count_segments(body),
            )
            state.idempotency[(api_key, our_id)] = message["sid"]
        carrier.spawn(carrier.run_status_callbacks(message, number, rule))
        if http_status is not None:  # 504: the message was taken, but the answer is a gateway timeout
            return generic_refusal(GATEWAY_TIMEOUT, "ProviderUnavailable", "gateway timeout", False)
        return JSONResponse({"accepted": True, "id": message["sid"]})

    # -------------------------------------------------------------- admin API

    async def admin_numbers(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(state.snapshot_numbers())
        try:
            number = state.add_number(await _json_body(request))
        except (ValueError, TypeError) as exc:
            return _json_error(400, str(exc))
        return JSONResponse(asdict(number), status_code=201)

    async def admin_rules(request: Request) -> Response:
        if request.method == "GET":
            with state.lock:
                return JSONResponse([asdict(rule) for rule in state.rules])
        if request.method == "DELETE":
            state.clear_rules()
            return Response(status_code=204)
        try:
            rule = state.add_rule(await _json_body(request))
        except (ValueError, TypeError) as exc:
            return _json_error(400, str(exc))
        return JSONResponse(asdict(rule), status_code=201)

    async def admin_rule(request: Request) -> Response:
        if not state.remove_rule(int(request.path_params["rule_id"])):
            return _json_error(404, "no such rule")
        return Response(status_code=204)

    async def admin_config(request: Request) -> Response:
        if request.method == "POST":
            try:
                state.configure(await _json_body(request))
            except (ValueError, TypeError) as exc:
                return _json_error(400, str(exc))
        return JSONResponse(asdict(state.settings))

    async def admin_inbound(request: Request) -> Response:
        try:
            data = await _json_body(request)
            from_number, to_number = str(data["from"]).strip(), str(data["to"]).strip()
            body = str(data.get("body", ""))
            repeat = int(data.get("repeat", 1))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            return _json_error(400, f"expected {{'from', 'to', 'body'}}: {exc}")
        if not E164.match(from_number):
            return _json_error(400, f"'from' {from_number!r} is not an E.164 number")
        if not 1 <= repeat <= 20:
            return _json_error(400, "repeat must be between 1 and 20")
        try:
            result = await carrier.deliver_inbound(
                from_number=from_number,
                to_number=to_number,
                body=body,
                repeat=repeat,
                message_sid=str(data.get("message_sid") or ""),
            )
        except LookupError as exc:
            return _json_error(404, str(exc))
        return JSONResponse(result, status_code=201)

    async def admin_messages(request: Request) -> Response:
        return JSONResponse(state.list_messages(**dict(request.query_params)))

    async def admin_webhooks(request: Request) -> Response:
        return JSONResponse(state.list_webhooks(**dict(request.query_params)))

    async def admin_reset(request: Request) -> Response:
        try:
            data = await _json_body(request)
        except (ValueError, UnicodeDecodeError):
            data = {}
        state.reset(keep_numbers=not data.get("numbers"))
        return Response(status_code=204)

    async def phone_page(request: Request) -> Response:
        from textdesk.simulator.phone import render_phone_page

        return HTMLResponse(
            render_phone_page(request.headers.get("accept-language", "")), headers={"Vary": "Accept-Language"}
        )

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        await carrier.aclose()

    accounts = "/2010-04-01/Accounts/{account_sid}"
    app = Starlette(
        routes=[
            Route(accounts + "/Messages.json", twilio_create_message, methods=["POST"]),
            Route(accounts + "/Messages.json", twilio_list_messages, methods=["GET"]),
            Route(accounts + "/Messages/{message_sid}.json", twilio_message, methods=["GET", "POST", "DELETE"]),
            Route("/generic/messages", generic_send, methods=["POST"]),
            *(Route(path, endpoint, methods=methods) for path, endpoint, methods in link_vibes.routes(carrier)),
            Route("/_sim/numbers", admin_numbers, methods=["GET", "POST"]),
            Route("/_sim/rules", admin_rules, methods=["GET", "POST", "DELETE"]),
            Route("/_sim/rules/{rule_id:int}", admin_rule, methods=["DELETE"]),
            Route("/_sim/config", admin_config, methods=["GET", "POST"]),
            Route("/_sim/inbound", admin_inbound, methods=["POST"]),
            Route("/_sim/messages", admin_messages, methods=["GET"]),
            Route("/_sim/webhooks", admin_webhooks, methods=["GET"]),
            Route("/_sim/reset", admin_reset, methods=["POST"]),
            Route("/_sim/health", health, methods=["GET"]),
            Route("/phone", phone_page, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.carrier = carrier
    return app


# ---------------------------------------------------------------- running it


@dataclass
class SimulatorHandle:
    """A simulator running in a background thread of this process."""

    url: str
    carrier: Carrier
    _server: Any
    _thread: threading.Thread

    @property
    def state(self) -> SimulatorState:
        return self.carrier.state

    def wait(self) -> None:
        """Block until the server stops (Ctrl+C interrupts the wait)."""
        while self._thread.is_alive():
            self._thread.join(0.5)

    def stop(self, timeout: float = 5.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)


def start_in_thread(
    host: str = "127.0.0.1", port: int = 0, carrier: Carrier | None = None, startup_timeout: float = 10.0
) -> SimulatorHandle:
    """Serve the simulator from a daemon thread; ``port=0`` picks a free port (see ``handle.url``)."""
    import uvicorn

    carrier = carrier or Carrier()
    config = uvicorn.Config(
        build_app(carrier),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="sms-simulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the SMS simulator could not start on {host}:{port}")
        time.sleep(0.01)
    bound_port = server.servers[0].sockets[0].getsockname()[1]
    return SimulatorHandle(url=f"http://{host}:{bound_port}", carrier=carrier, _server=server, _thread=thread)


def serve(host: str = "127.0.0.1", port: int = 8025) -> None:
    """Serve the simulator in the foreground until interrupted."""
    import uvicorn

    uvicorn.run(build_app(), host=host, port=port, log_level="warning", access_log=False, lifespan="on")
