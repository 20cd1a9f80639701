"""Helpers shared by the adapters: timestamps, numbers, Retry-After, webhook bodies."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from textdesk.providers import _http, _webhooks
from textdesk.providers.base import WebhookRejected, WebhookRequest

UTC = dt.UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019-11-09T16:00:00.000+0000", dt.datetime(2019, 11, 9, 16, tzinfo=UTC)),
        ("2020-09-18T00:27:45.32Z", dt.datetime(2020, 9, 18, 0, 27, 45, 320000, tzinfo=UTC)),
        ("Thu, 23 Jun 2022 19:03:44 GMT", dt.datetime(2022, 6, 23, 19, 3, 44, tzinfo=UTC)),
        ("2016-05-03T14:26:57+02:00", dt.datetime(2016, 5, 3, 12, 26, 57, tzinfo=UTC)),
        ("", None),
        ("yesterday", None),
        (None, None),
    ],
)
def test_parse_timestamp(text, expected):
    assert _webhooks.parse_timestamp(text) == expected


def test_numbers():
    assert _webhooks.e164("15555555555") == "+15555555555"
    assert _webhooks.e164("+15555555555") == "+15555555555"
    assert _webhooks.e164("12345") == "12345"  # a short code stays as it is
    assert _http.without_plus("+41793026727") == "41793026727"


def test_retry_after():
    assert _http.retry_after(httpx.Response(429, headers={"retry-after": "7"})) == 7.0
    assert _http.retry_after(httpx.Response(429, headers={"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0
    assert _http.retry_after(httpx.Response(429)) is None
    assert _http.retry_after(httpx.Response(429, headers={"retry-after": "soon"})) is None


def _request(
    body: bytes, content_type: str = "application/json", url: str = "https://td.example.com/w"
) -> WebhookRequest:
    return WebhookRequest("POST", url, {"content-type": content_type}, body)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body"),
        (b"\xff\xfe", "body is not UTF-8"),
        (b"{not json", "body is not valid JSON"),
    ],
)
def test_webhook_json_rejects_bad_bodies(body, reason):
    with pytest.raises(WebhookRejected) as caught:
        _webhooks.json_value(_request(body).body)
    assert (caught.value.status, caught.value.reason) == (400, reason)


def test_webhook_params_merges_query_and_form():
    request = _request(b"b=2&c=3", "application/x-www-form-urlencoded", "https://td.example.com/w?a=1&b=0")
    assert _webhooks.merged_params(request) == {"a": "1", "b": "2", "c": "3"}
    with pytest.raises(WebhookRejected):
        _webhooks.merged_params(_request(b"[1, 2]"))
