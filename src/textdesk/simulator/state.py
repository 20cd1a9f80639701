"""The simulator's memory: our numbers, the messages it carried, the webhooks it posted, and fault rules.

Plain data behind one lock, so the HTTP handlers (in the simulator's event loop) and an in-process harness
(another thread) can both read and change it.
"""

from __future__ import annotations

import collections
import datetime as dt
import fnmatch
import itertools
import random
import secrets
import threading
from dataclasses import asdict, dataclass, field, fields
from typing import Any

OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


def count_segments(body: str) -> int:
    """How many SMS parts a carrier would bill for ``body`` (GSM-7 or UCS-2)."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in body):
        septets = sum(2 if ch in GSM7_EXTENDED else 1 for ch in body)
        return 1 if septets <= 160 else -(-septets // 153)
    units = len(body.encode("utf-16-le")) // 2
    return 1 if units <= 70 else -(-units // 67)


def keyword_of(body: str) -> str:
    """``opt_out`` / ``opt_in`` / ``help`` when the whole message is one of the carrier keywords."""
    word = body.strip().upper()
    if word in OPT_OUT_WORDS:
        return "opt_out"
    if word in OPT_IN_WORDS:
        return "opt_in"
    if word in HELP_WORDS:
        return "help"
    return ""


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_sid(prefix: str = "SM") -> str:
    return prefix + secrets.token_hex(16)


@dataclass
class Number:
    """One of *our* numbers, hosted by the simulator, and where to post what arrives for it."""

    number: str
    api: str = "twilio"  # "twilio" | "generic" | "link_mobility" | "vibes"
    account_sid: str = ""  # twilio
    auth_token: str = ""  # twilio: signs the webhooks
    api_key: str = ""  # generic: the bearer token our sends must carry
    signing_secret: str = ""  # generic: signs the webhooks
    sms_url: str = ""  # inbound messages are posted here
    status_callback: str = ""  # used when a send names no callback URL
    username: str = ""  # link_mobility, vibes: HTTP Basic of our sends
    password: str = ""
    messaging_service_sid: str = ""  # twilio: a send naming only this MessagingServiceSid leaves from this number
    label: str = ""  # shown on the customer phone page (e.g. the line's name in TextDesk)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Number:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
        number = cls(**data)
        if not number.number:
            raise ValueError("number is required")
        if number.api not in ("twilio", "generic", "link_mobility", "vibes"):
            raise ValueError("api must be 'twilio', 'generic', 'link_mobility' or 'vibes'")
        if number.api in ("link_mobility", "vibes") and not (number.username and number.password):
            raise ValueError("username and password are required for a link_mobility or vibes number")
        if number.api == "twilio" and not (number.account_sid and number.auth_token):
            raise ValueError("account_sid and auth_token are required for a twilio number")
        if number.api == "generic" and not (number.api_key and number.signing_secret):
            raise ValueError("api_key and signing_secret are required for a generic number")
        return number


@dataclass
class Rule:
    """A fault to inject into sends whose ``To`` matches ``to_pattern`` (shell-style, e.g. ``+1555*``)."""

    id: int = 0
    to_pattern: str = "*"
    rate: float = 1.0  # chance that a matching send is affected
    times: int | None = None  # how many more sends it affects; None = no limit
    error_code: int | None = None  # refuse the send with this Twilio error code (synchronous)
    http_status: int | None = None  # answer with this HTTP status (e.g. 500, 503) and an error body
    delay: float = 0.0  # seconds to wait before answering (a slow provider)
    async_error_code: int | None = None  # accept, then report failure with this ErrorCode
    final_status: str = "undelivered"  # "undelivered" or "failed", with async_error_code
    duplicate_callbacks: int = 0  # post every status callback this many extra times
    out_of_order: bool = False  # post the status callbacks newest first

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rule:
        known = {f.name for f in fields(cls)} - {"id"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
        rule = cls(**data)
        if not 0 <= float(rule.rate) <= 1:
            raise ValueError("rate must be between 0 and 1")
        if rule.final_status not in ("undelivered", "failed"):
            raise ValueError("final_status must be 'undelivered' or 'failed'")
        if rule.http_status is not None and not 400 <= int(rule.http_status) <= 599:
            raise ValueError("http_status must be a 4xx or 5xx status")
        if rule.delay < 0 or rule.duplicate_callbacks < 0:
            raise ValueError("delay and duplicate_callbacks cannot be negative")
        return rule


@dataclass
class Settings:
    # Seconds between accepting a send and each later status callback: [→ sent, → delivered/failed].
    callback_delays: list[float] = field(default_factory=lambda: [0.05, 0.1])
    post_queued: bool = True  # also post a "queued" callback right after accepting
    inbound_retries: int = 1  # extra attempts when our inbound webhook answers non-2xx (Twilio's default)
    status_retries: int = 1  # extra attempts when a status callback is answered non-2xx (Twilio's default)
    # Whether status callbacks are posted at all (messages still move on): off for load tests of sending alone.
    status_callbacks: bool = True
    retry_delay: float = 0.2
    webhook_timeout: float = 15.0
    seed: int | None = None
    # Messages and webhook records kept (each); the oldest are forgotten, so a long-running simulator
    # (a demo left on, a benchmark) does not grow without bound.
    keep_records: int = 10_000

    def update(self, data: dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
        for name, value in data.items():
            setattr(self, name, value)
        if len(self.callback_delays) != 2 or any(float(d) < 0 for d in self.callback_delays):
            raise ValueError("callback_delays must be two non-negative numbers")
        if int(self.keep_records) < 1:
            raise ValueError("keep_records must be at least 1")


class SimulatorState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.numbers: dict[str, Number] = {}
        self.rules: list[Rule] = []
        self.settings = Settings()
        self.messages: dict[str, dict[str, Any]] = {}  # by sid, oldest first
        self.webhooks: collections.deque[dict[str, Any]] = collections.deque()
        self._webhook_seq = itertools.count(1)
        self.opted_out: set[tuple[str, str]] = set()  # (our number, customer number)
        self.idempotency: dict[tuple[str, str], str] = {}  # (api key, our id) → message sid
        self._rule_ids = itertools.count(1)
        self._random = random.Random()

    # ------------------------------------------------------------ configuration

    def add_number(self, number: Number | dict[str, Any]) -> Number:
        if isinstance(number, dict):
            number = Number.from_dict(number)
        with self.lock:
            self.numbers[number.number] = number
        return number

    def add_rule(self, rule: Rule | dict[str, Any]) -> Rule:
        if isinstance(rule, dict):
            rule = Rule.from_dict(rule)
        with self.lock:
            rule.id = next(self._rule_ids)
            self.rules.append(rule)
        return rule

    def clear_rules(self) -> None:
        with self.lock:
            self.rules.clear()

    def remove_rule(self, rule_id: int) -> bool:
        with self.lock:
            before = len(self.rules)
            self.rules = [r for r in self.rules if r.id != rule_id]
            return len(self.rules) != before

    def configure(self, data: dict[str, Any]) -> Settings:
        with self.lock:
            self.settings.update(data)
            if "seed" in data:
                self._random.seed(data["seed"])
        return self.settings

    def reset(self, *, keep_numbers: bool = True) -> None:
        with self.lock:
            if not keep_numbers:
                self.numbers.clear()
            self.rules.clear()
            self.messages.clear()
            self.webhooks.clear()
            self._webhook_seq = itertools.count(1)
            self.opted_out.clear()
            self.idempotency.clear()
            self.settings = Settings()

    # ------------------------------------------------------------ lookups

    def twilio_account_token(self, account_sid: str) -> str | None:
        with self.lock:
            for number in self.numbers.values():
                if number.api == "twilio" and number.account_sid == account_sid:
                    return number.auth_token
        return None

    def generic_account_known(self, api_key: str) -> bool:
        with self.lock:
            return any(n.api == "generic" and n.api_key == api_key for n in self.numbers.values())

    def service_number(self, account_sid: str, service_sid: str) -> Number | None:
        """The first Twilio number of the account configured for a Messaging Service."""
        with self.lock:
            for number in self.numbers.values():
                if number.account_sid == account_sid and service_sid and number.messaging_service_sid == service_sid:
                    return number
        return None

    def delete_message(self, sid: str) -> bool:
        with self.lock:
            return self.messages.pop(sid, None) is not None

    def number(self, e164: str) -> Number | None:
        with self.lock:
            return self.numbers.get(e164)

    def matching_rule(self, to_number: str) -> Rule | None:
        """The first rule that applies to a send to ``to_number`` (and uses up one of its ``times``)."""
        with self.lock:
            for rule in self.rules:
                if rule.times is not None and rule.times <= 0:
                    continue
                if not fnmatch.fnmatchcase(to_number, rule.to_pattern):
                    continue
                if rule.rate < 1 and self._random.random() >= rule.rate:
                    continue
                if rule.times is not None:
                    rule.times -= 1
                return rule
        return None

    # ------------------------------------------------------------ records

    def record_message(self, **message: Any) -> dict[str, Any]:
        message.setdefault("created_at", now_utc().isoformat())
        with self.lock:
            self.messages[message["sid"]] = message
            while len(self.messages) > self.settings.keep_records:
                del self.messages[next(iter(self.messages))]
        return message

    def find_message(self, sid: str) -> dict[str, Any] | None:
        with self.lock:
            return self.messages.get(sid)

    def update_message(self, sid: str, **changes: Any) -> None:
        with self.lock:
            message = self.find_message(sid)
            if message is not None:
                message.update(changes)

    def record_webhook(self, **webhook: Any) -> dict[str, Any]:
        webhook.setdefault("posted_at", now_utc().isoformat())
        with self.lock:
            webhook["seq"] = next(self._webhook_seq)
            self.webhooks.append(webhook)
            while len(self.webhooks) > self.settings.keep_records:
                self.webhooks.popleft()
        return webhook

    def list_messages(self, **filters: str) -> list[dict[str, Any]]:
        with self.lock:
            return [
                dict(m)
                for m in self.messages.values()
                if all(not value or str(m.get(name, "")) == value for name, value in filters.items())
            ]

    def list_webhooks(self, **filters: str) -> list[dict[str, Any]]:
        with self.lock:
            return [
                dict(w)
                for w in self.webhooks
                if all(not value or str(w.get(name, "")) == value for name, value in filters.items())
            ]

    def set_opt_out(self, our_number: str, customer: str, opted_out: bool) -> None:
        with self.lock:
            if opted_out:
                self.opted_out.add((our_number, customer))
            else:
                self.opted_out.discard((our_number, customer))

    def is_opted_out(self, our_number: str, customer: str) -> bool:
        with self.lock:
            return (our_number, customer) in self.opted_out

    def snapshot_numbers(self) -> list[dict[str, Any]]:
        with self.lock:
            return [asdict(n) for n in self.numbers.values()]
