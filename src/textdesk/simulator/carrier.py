"""The carrier's behaviour: accepting sends, then posting signed status callbacks and inbound webhooks.

Outgoing HTTP uses one ``aiohttp.ClientSession`` inside the simulator's event loop: measured on this machine,
httpx's AsyncClient cost about 1.4 ms of CPU per webhook, several times aiohttp's, and the callbacks (three per
message) are most of the simulator's work.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import secrets
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlencode

import aiohttp

from textdesk.providers import generic as generic_contract
from textdesk.providers import twilio as twilio_wire
from textdesk.simulator import link_vibes
from textdesk.simulator.state import Number, Rule, SimulatorState, count_segments, keyword_of, new_sid, now_utc

API_VERSION = twilio_wire.API_VERSION
PRICE_PER_SEGMENT = 0.0079  # USD, what the simulator charges for each part it carries

# Our own wording for the errors the simulator answers with (same codes and HTTP statuses as Twilio).
TWILIO_ERRORS: dict[int, tuple[int, str]] = {
    20003: (401, "Authentication failed: unknown account or wrong auth token."),
    20429: (429, "Too many requests."),
    21211: (400, "The 'To' number {to} is not a valid phone number."),
    21602: (400, "A message body is required."),
    21603: (400, "A 'From' phone number is required."),
    21604: (400, "A 'To' phone number is required."),
    21606: (400, "The 'From' number {from_} is not a message-capable number of this account."),
    21610: (400, "The recipient {to} has unsubscribed (replied STOP) from {from_}."),
    21612: (400, "The 'To' number {to} cannot be reached from {from_}."),
    21614: (400, "The 'To' number {to} is not a mobile number."),
    21617: (400, "The message body exceeds 1600 characters."),
    21635: (400, "The 'To' number {to} is a landline."),
    20001: (400, "A paging parameter is not a number."),
    20009: (400, "The message is still being carried: it cannot be deleted or redacted yet."),
    21220: (400, "A message body can only be updated to an empty string (redaction)."),
    21701: (400, "No number of this account belongs to that Messaging Service."),
    30409: (400, "Only a scheduled message can be canceled, and only to Status=canceled."),
    35111: (400, "SendAt is not a valid date and time."),
    35118: (400, "Scheduling a message needs a MessagingServiceSid."),
}
ASYNC_ERROR_TEXT: dict[int, str] = {
    30003: "Unreachable destination handset",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered by the carrier",
    30008: "Unknown error",
    30034: "Message from an unregistered number",
}


def twilio_error_body(code: int, http_status: int | None = None, **context: str) -> tuple[int, dict[str, Any]]:
    default_status, template = TWILIO_ERRORS.get(code, (400, "Simulated error {code}."))
    http_status = http_status or default_status
    try:
        message = template.format(code=code, **context)
    except (KeyError, IndexError):
        message = template
    return http_status, {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": http_status,
    }


def rfc2822(moment) -> str:
    return moment.strftime("%a, %d %b %Y %H:%M:%S +0000")


class Carrier:
    """Everything the simulator does on its own initiative, on top of :class:`SimulatorState`."""

    def __init__(self, state: SimulatorState | None = None) -> None:
        self.state = state or SimulatorState()
        self._client: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task] = set()
        self.loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------ plumbing

    def client(self) -> aiohttp.ClientSession:
        if self._client is None or self._client.closed:
            self.loop = asyncio.get_running_loop()
            self._client = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=200, limit_per_host=200, ttl_dns_cache=300),
                timeout=aiohttp.ClientTimeout(total=self.state.settings.webhook_timeout),
                auto_decompress=False,
            )
        return self._client

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._client is not None:
            await self._client.close()
            self._client = None

    def spawn(self, coroutine: Coroutine) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _post(self, url: str, *, content: bytes, headers: dict[str, str], record: dict[str, Any]) -> int | None:
        """POST one webhook and record it (with its answer) so tests can count what was posted."""
        status_code: int | None = None
        error = ""
        try:
            async with self.client().post(url, data=content, headers=headers, allow_redirects=False) as response:
                await response.read()
                status_code = response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        self.state.record_webhook(
            url=url, status_code=status_code, error=error, headers=headers, body=content.decode("utf-8"), **record
        )
        return status_code

    async def post_twilio(
        self, number: Number, url: str, params: dict[str, str], record: dict[str, Any], idempotency_token: str = ""
    ) -> int | None:
        signature = twilio_wire.compute_signature(url, twilio_wire.form_items(params), number.auth_token)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
            "User-Agent": "TwilioProxy/1.1",
            "I-Twilio-Idempotency-Token": idempotency_token or secrets.token_hex(16),
        }
        return await self._post(
            url,
            content=urlencode(params).encode("utf-8"),
            headers=headers,
            record={"api": "twilio", "params": params, **record},
        )

    async def post_generic(
        self, number: Number, url: str, payload: dict[str, Any], record: dict[str, Any]
    ) -> int | None:
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        headers = generic_contract.signed_headers(number.signing_secret, body)
        return await self._post(
            url, content=body, headers=headers, record={"api": "generic", "params": payload, **record}
        )

    # ------------------------------------------------------------ outbound: status callbacks

    def status_sequence(self, rule: Rule | None) -> list[tuple[str, int | None]]:
        """The statuses a message goes through after it was accepted, with the ErrorCode of a failure."""
        steps: list[tuple[str, int | None]] = []
        if self.state.settings.post_queued:
            steps.append(("queued", None))
        if rule is not None and rule.async_error_code is not None:
            if rule.final_status == "failed":
                steps.append(("failed", rule.async_error_code))
            else:
                steps += [("sent", None), ("undelivered", rule.async_error_code)]
        else:
            steps += [("sent", None), ("delivered", None)]
        return steps

    async def run_status_callbacks(self, message: dict[str, Any], number: Number, rule: Rule | None) -> None:
        send_at = message.get("send_at")
        if send_at is not None:  # a scheduled message waits for its time, unless it is canceled first
            wait = dt.datetime.fromisoformat(send_at) - now_utc()
            await asyncio.sleep(max(0.0, wait.total_seconds()))
            current = self.state.find_message(message["sid"])
            if current is None or current.get("status") != "scheduled":
                return
            self.state.update_message(message["sid"], status="queued")
        steps = self.status_sequence(rule)
        delays = list(self.state.settings.callback_delays)
        copies = 1 + (rule.duplicate_callbacks if rule else 0)
        reverse = bool(rule and rule.out_of_order)
        url = message.get("status_callback") or number.status_callback
        pending: list[tuple[str, int | None]] = []
        later_steps = 0
        for provider_status, error_code in steps:
            if provider_status != "queued":
                delay = float(delays[min(later_steps, len(delays) - 1)])
                later_steps += 1
                if delay:
                    await asyncio.sleep(delay)
            current = self.state.find_message(message["sid"])
            if current is None or current.get("status") == "canceled":
                return  # deleted or canceled meanwhile: nothing more to tell
            changes: dict[str, Any] = {"status": provider_status, "error_code": error_code}
            if provider_status == "sent":
                changes["date_sent"] = rfc2822(now_utc())
                changes["price"] = f"-{PRICE_PER_SEGMENT * int(message.get('num_segments') or 1):.5f}"
            self.state.update_message(message["sid"], **changes)
            if reverse:
                pending.append((provider_status, error_code))
                continue
            for _ in range(copies):
                await self._post_status(message, number, url, provider_status, error_code)
        for provider_status, error_code in reversed(pending):
            for _ in range(copies):
                await self._post_status(message, number, url, provider_status, error_code)

    async def _post_status(
        self, message: dict[str, Any], number: Number, url: str, provider_status: str, error_code: int | None
    ) -> None:
        if not url or not self.state.settings.status_callbacks:
            return
        record = {"kind": "status", "message_sid": message["sid"], "status": provider_status}
        if message["api"] == "link_mobility":
            report = link_vibes.link_report(message, provider_status)
            if report is not None:
                headers = {"Content-Type": "application/json"}
                await self._post(url, content=report, headers=headers, record={"api": "link_mobility", **record})
            return
        if message["api"] == "vibes":
            for report in link_vibes.vibes_reports(message, provider_status):
                await self._post(
                    url, content=report, headers={"Content-Type": "text/xml"}, record={"api": "vibes", **record}
                )
            return
        if message["api"] == "generic":
            neutral = {"sent": "sent", "delivered": "delivered"}.get(provider_status, "not_delivered")
            if provider_status == "queued":
                return  # the generic contract reports only sent / delivered / not_delivered
            payload: dict[str, Any] = {"id": message["sid"], "status": neutral}
            if error_code is not None:
                meaning = twilio_wire.error_meaning(error_code)
                payload["code"] = meaning.reason if meaning else "Unknown"
                payload["reason"] = ASYNC_ERROR_TEXT.get(error_code, f"error {error_code}")
            await self.post_generic(number, url, payload, record)
            return
        params = {
            "AccountSid": message["account_sid"],
            "ApiVersion": API_VERSION,
            "From": message["from"],
            "To": message["to"],
            "MessageSid": message["sid"],
            "SmsSid": message["sid"],
            "SmsStatus": provider_status,
            "MessageStatus": provider_status,
        }
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        if provider_status in ("delivered", "undelivered"):
            params["RawDlrDoneDate"] = now_utc().strftime("%y%m%d%H%M")
        token = secrets.token_hex(16)
        for attempt in range(1 + max(0, int(self.state.settings.status_retries))):
            if attempt:
                await asyncio.sleep(self.state.settings.retry_delay)
            answer = await self.post_twilio(number, url, params, {**record, "attempt": attempt + 1}, token)
            if answer is not None and 200 <= answer < 300:
                return

    # ------------------------------------------------------------ inbound: a customer writes to one of our numbers

    async def deliver_inbound(
        self, *, from_number: str, to_number: str, body: str, repeat: int = 1, message_sid: str = ""
    ) -> dict[str, Any]:
        """Record an inbound message and post it to the number's ``sms_url`` ``repeat`` times.

        Each post is retried (same MessageSid) while our webhook answers non-2xx, up to ``inbound_retries``.
        """
        number = self.state.number(to_number)
        if number is None:
            raise LookupError(f"{to_number} is not one of the simulator's numbers")
        keyword = keyword_of(body)
        if keyword == "opt_out":
            self.state.set_opt_out(to_number, from_number, True)
        elif keyword == "opt_in":
            self.state.set_opt_out(to_number, from_number, False)
        sid = message_sid or new_sid("SM" if number.api == "twilio" else "GW")
        if self.state.find_message(sid) is None:
            self.state.record_message(
                sid=sid,
                api=number.api,
                direction="inbound",
                account_sid=number.account_sid,
                **{"from": from_number, "to": to_number},
                body=body,
                status="received",
                error_code=None,
                num_segments=None,
            )
        deliveries = []
        for _ in range(max(1, repeat)):
            deliveries.append(await self._deliver_once(number, sid, from_number, to_number, body, keyword))
        return {"message_sid": sid, "deliveries": deliveries}

    async def _deliver_once(
        self, number: Number, sid: str, from_number: str, to_number: str, body: str, keyword: str
    ) -> dict[str, Any]:
        attempts: list[int | None] = []
        token = secrets.token_hex(16)
        for attempt in range(1 + max(0, self.state.settings.inbound_retries)):
            if attempt:
                await asyncio.sleep(self.state.settings.retry_delay)
            record = {"kind": "inbound", "message_sid": sid, "attempt": attempt + 1}
            if not number.sms_url:
                break
            if number.api in ("link_mobility", "vibes"):
                if number.api == "vibes":
                    content, kind = link_vibes.vibes_inbound(sid, from_number, to_number, body, attempt + 1), "text/xml"
                else:
                    content, kind = link_vibes.link_inbound(sid, from_number, to_number, body), "application/json"
                status_code = await self._post(
                    number.sms_url,
                    content=content,
                    headers={"Content-Type": kind},
                    record={"api": number.api, **record},
                )
            elif number.api == "generic":
                payload = {"id": sid, "from": from_number, "to": to_number, "body": body}
                status_code = await self.post_generic(number, number.sms_url, payload, record)
            else:
                params = {
                    "SmsMessageSid": sid,
                    "NumMedia": "0",
                    "SmsSid": sid,
                    "SmsStatus": "received",
                    "Body": body,
                    "To": to_number,
                    "NumSegments": str(count_segments(body)),
                    "MessageSid": sid,
                    "AccountSid": number.account_sid,
                    "From": from_number,
                    "ApiVersion": API_VERSION,
                }
                opt_out_type = {"opt_out": "STOP", "opt_in": "START", "help": "HELP"}.get(keyword)
                if opt_out_type:
                    params["OptOutType"] = opt_out_type
                status_code = await self.post_twilio(number, number.sms_url, params, record, token)
            attempts.append(status_code)
            if status_code is not None and 200 <= status_code < 300:
                break
        delivered = bool(attempts) and attempts[-1] is not None and 200 <= attempts[-1] < 300
        return {"attempts": attempts, "delivered": delivered}
