"""HTTP 504 from a provider's gateway: the message may have been taken. Against the simulator over real HTTP.

An idempotent provider (the generic gateway honours our id) is simply retried: the retry is the same
message. A provider without idempotency (Twilio's API) leaves the message ``unknown``, never resent.
"""

from __future__ import annotations

import pytest

from tests.outbound.helpers import drain
from tests.outbound.test_simulator_end_to_end import (  # noqa: F401 - fixtures
    _send,
    _settle,
    _sim_messages,
    handlers,
    receiver,
    sim,
    world,
)
from textdesk.messaging.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def generic_world(world, make_provider_account, make_sender_number):
    world.account = make_provider_account(
        kind="generic",
        options={"base_url": f"{world.sim.url}/generic"},
        credentials={"api_key": "gw-key", "signing_secret": "gw-secret"},
    )
    world.number = make_sender_number(
        "+14155550177", owner=world.user, provider_account=world.account, rate_per_second=1000
    )
    world.sim.state.add_number(
        {"number": world.number.e164, "api": "generic", "api_key": "gw-key", "signing_secret": "gw-secret"}
    )
    return world


def test_a_504_from_an_idempotent_gateway_is_retried_as_the_same_message(generic_world):
    w = generic_world
    w.sim.state.add_rule({"to_pattern": w.to, "http_status": 504, "times": 1})
    message = _send(w)
    drain()  # the 504, then (time passes) the retry
    message.refresh_from_db()
    carried = _sim_messages(w)
    assert len(carried) == 1  # the gateway took it once; the retry with the same id is recognised
    assert message.provider_message_id == carried[0]["sid"]
    assert message.attempts == 2
    assert message.status in ("sending", "sent", "delivered")
    history = list(message.events.values_list("status", flat=True))
    assert "queued" in history and "unknown" not in history


def test_a_504_from_a_provider_without_idempotency_leaves_the_message_unknown(world):
    world.sim.state.add_rule({"to_pattern": world.to, "http_status": 504, "times": 1})
    message = _send(world)
    drain()
    message.refresh_from_db()
    assert message.status == "unknown" and message.failure_reason == "OutcomeUnknown"
    assert message.provider_error_code  # the provider's code is kept
    assert len(_sim_messages(world)) == 1  # it did arrive, and was never sent again
    drain()
    assert len(_sim_messages(world)) == 1
    assert Message.objects.get(pk=message.pk).attempts == 1


def test_retries_after_an_unknown_outcome_that_run_out_end_unknown_not_failed(setup):
    """The first attempt may have arrived; when the retries then run out, the honest answer is ``unknown``."""
    from textdesk.messaging.models import ProviderAccount
    from textdesk.messaging.outbound.send import send_message
    from textdesk.org.models import OrganisationSettings

    ProviderAccount.objects.filter(pk=setup.account.pk).update(kind="fake_idem")
    setup.gateway.script(setup.to, "drop", "503")  # the answer to the first is lost; the second is refused
    message = send_message(
        user=setup.user, record=setup.contact, sender_number=setup.number, to_number=setup.to, body="Your order shipped"
    )
    drain(advance=False)
    message.refresh_from_db()
    assert message.status == "queued"  # idempotent: an unknown outcome is retried
    org = OrganisationSettings.current()
    org.send_deadline_minutes = 0  # time runs out before the next retry
    org.save()
    drain()
    message.refresh_from_db()
    assert message.attempts == 2 and len(setup.gateway.sends_to(setup.to)) == 2
    assert message.status == "unknown" and message.failure_reason == "OutcomeUnknown"


def test_retries_that_never_reached_the_provider_run_out_as_failed(generic_world):
    from textdesk.org.models import OrganisationSettings

    w = generic_world
    org = OrganisationSettings.current()
    org.send_deadline_minutes = 0
    org.save()
    w.sim.state.add_rule({"to_pattern": w.to, "http_status": 503})
    message = _send(w)
    drain()
    message.refresh_from_db()
    assert message.status == "failed" and message.failure_reason == "ProviderUnavailable"
