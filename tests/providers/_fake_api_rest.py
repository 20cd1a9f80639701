"""The recorded-fixture runner for the REST adapters (sends are replayed by ``_fake_api.FakeProviderAPI``).

Fixture files (``fixtures/<provider>/*.json``) are lists of cases built from the providers' documented examples:

- a webhook case records what the provider sends us: ``request`` = {method, url, headers, body} (raw body text),
  ``parser`` = "inbound" | "status", optional ``received_at``, and ``expect`` = the parsed result or ``rejected``;
- a send case records what the provider answers to a send: ``responses`` = [{status, headers, body}], and
  ``expect`` = ``result`` (SendResult fields) or ``error`` (class, reason, code, retry_after).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import httpx

from tests.providers._fake_api import FakeProviderAPI, Received
from textdesk.providers import base

FIXTURES = Path(__file__).parent / "fixtures"


# ---------------------------------------------------------------- fixtures


def fixture_files(provider: str) -> list[Path]:
    return sorted((FIXTURES / provider).glob("*.json"))


def load_cases(provider: str) -> list[tuple[str, dict]]:
    """(id, case) for every case of every fixture file of a provider."""
    cases = []
    for path in fixture_files(provider):
        for index, case in enumerate(json.loads(path.read_text())):
            cases.append((f"{path.stem}[{index}] {case['name']}", case))
    return cases


def webhook_request(case: dict) -> base.WebhookRequest:
    recorded = case["request"]
    return base.WebhookRequest(
        method=recorded["method"],
        url=recorded["url"],
        headers={k.lower(): v for k, v in recorded["headers"].items()},
        body=recorded["body"].encode("utf-8"),
    )


def received_at(case: dict) -> dt.datetime:
    if case.get("received_at"):
        return dt.datetime.fromisoformat(case["received_at"])
    return dt.datetime.now(dt.UTC)


def _plain(value):
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def assert_subset(actual_obj, expected: dict, label: str) -> None:
    actual = {k: _plain(v) for k, v in dataclasses.asdict(actual_obj).items()}
    for key, value in expected.items():
        assert actual[key] == value, f"{label}: {key} is {actual[key]!r}, expected {value!r}"


def run_webhook_case(provider, account: base.AccountConfig, case: dict) -> None:
    request = webhook_request(case)
    expect = case["expect"]
    parse = provider.parse_inbound if case["parser"] == "inbound" else provider.parse_status
    provider.verify(account, request, received_at(case))  # every recorded webhook is authentic
    if "rejected" in expect:
        try:
            parse(account, request)
        except base.WebhookRejected as exc:
            assert exc.status == expect["rejected"], exc.reason
            return
        raise AssertionError("malformed webhook was accepted")
    parsed = parse(account, request)
    for kind in ("inbound", "statuses"):
        if kind in expect:
            items = getattr(parsed, kind)
            assert len(items) == len(expect[kind]), f"{kind}: {items}"
            for index, (item, wanted) in enumerate(zip(items, expect[kind])):
                assert_subset(item, wanted, f"{kind}[{index}]")
    if expect.get("response"):
        wanted = expect["response"]
        assert parsed.response is not None
        assert parsed.response.status == wanted["status"]
        assert parsed.response.content_type == wanted["content_type"]
        assert json.loads(parsed.response.body) == wanted["json"]
    else:
        assert parsed.response is None


def run_send_case(provider, account_for, case: dict, message: base.OutboundSMS) -> list[Received]:
    """Replay the recorded answers from a local server and check what the adapter makes of them."""
    api = FakeProviderAPI().start()
    try:
        for recorded in case["responses"]:
            api.answer(recorded["status"], recorded["body"], recorded["headers"])
        account = account_for(api.url)
        expect = case["expect"]
        with httpx.Client(timeout=5) as client:
            if "result" in expect:
                result = provider.send(account, message, client)
                assert_subset(result, expect["result"], "result")
            else:
                wanted = expect["error"]
                try:
                    provider.send(account, message, client)
                except base.ProviderError as exc:
                    assert type(exc).__name__ == wanted["class"], f"{type(exc).__name__}: {exc}"
                    assert exc.reason == wanted["reason"], exc
                    if "code" in wanted:
                        assert exc.code == wanted["code"], exc
                    if "retry_after" in wanted:
                        assert exc.retry_after == wanted["retry_after"], exc
                else:
                    raise AssertionError("send succeeded but the recorded answer is an error")
        assert not api.answers, "the adapter did not make every expected request"
        return api.received
    finally:
        api.stop()


def covered_codes(provider: str) -> tuple[set[str], set[str]]:
    """(provider statuses, error codes) that the fixtures of a provider exercise."""
    statuses, codes = set(), set()
    for _, case in load_cases(provider):
        expect = case["expect"]
        for report in expect.get("statuses", []):
            if "provider_status" in report:
                statuses.add(report["provider_status"])
            if report.get("error_code"):
                codes.add(report["error_code"])
            if report.get("error_text"):
                codes.add(report["error_text"])
        if "result" in expect and expect["result"].get("provider_status"):
            statuses.add(expect["result"]["provider_status"])
        if "error" in expect and expect["error"].get("code"):
            codes.add(expect["error"]["code"])
    return statuses, codes
