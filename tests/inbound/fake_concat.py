"""A test-only provider that delivers long messages in parts (like Vonage's concat-* fields).

JSON body {"id", "from", "to", "text", "ref", "total", "part"}, signed with
HMAC-SHA256 of the body in X-Test-Signature. Registered only by the tests.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from textdesk.providers.base import ConcatPart, InboundSMS, ParsedWebhook, WebhookRejected


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class FakeConcat:
    kind = "test_concat"

    def verify(self, account, request, now=None):
        expected = sign(account.credentials["secret"], request.body)
        if not hmac.compare_digest(expected, request.header("x-test-signature")):
            raise WebhookRejected(403, "bad signature")

    def parse_inbound(self, account, request):
        try:
            data = json.loads(request.body)
        except ValueError:
            raise WebhookRejected(400, "not JSON") from None
        concat = None
        if data.get("ref"):
            concat = ConcatPart(reference=data["ref"], total=int(data["total"]), number=int(data["part"]))
        return ParsedWebhook(
            inbound=[
                InboundSMS(
                    provider_message_id=data["id"],
                    from_number=data["from"],
                    to_number=data["to"],
                    body=data["text"],
                    concat=concat,
                )
            ]
        )

    def parse_status(self, account, request):
        return ParsedWebhook()


PROVIDER = FakeConcat()
