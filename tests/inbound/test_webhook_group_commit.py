"""Webhooks of one process written together under load (PostgreSQL's event-loop path): every message once,
each answer after its own statement's commit, and a row that fails fails only its own webhook."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from tests.inbound.conftest import post_signed, twilio_form

CUSTOMER = "+14155550199"


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("the event-loop write path is PostgreSQL's")


@pytest.fixture
def batch_sizes(monkeypatch, settings):
    """One statement in flight at a time, so concurrent webhooks must share the next one; records the number of
    messages of each statement (the write itself runs unchanged)."""
    from textdesk.messaging.inbound import intake_pg

    settings.WEBHOOK_WRITERS = 1
    sizes: list[int] = []
    write = intake_pg._Writer._write

    async def recording(self, batch):
        sizes.append(len(batch))
        return await write(self, batch)

    monkeypatch.setattr(intake_pg._Writer, "_write", recording)
    yield sizes


def run_on_a_loop(webhooks):
    """Run ``webhooks()`` on a loop of its own, then close that loop's webhook connections on it (as a server's
    shutdown does)."""
    from textdesk.messaging.inbound import intake_pg

    async def then_close():
        try:
            return await webhooks()
        finally:
            await intake_pg.aclose_pool()

    return asyncio.run(then_close())


def test_concurrent_webhooks_share_statements_and_each_message_is_stored_once(asgi_server, seller_setup, batch_sizes):
    from textdesk.messaging.models import Message

    forms = [twilio_form(f"SM{i:032d}", CUSTOMER, seller_setup.number.e164, f"message {i}") for i in range(60)]
    retries = forms[:20]  # a provider's retries, arriving while the first tries are being written
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda form: post_signed(asgi_server, seller_setup.inbound_url, form), forms + retries))
    assert {a.status_code for a in answers} == {200}
    assert all(a.text.startswith("<?xml") for a in answers)  # Twilio's empty TwiML, for a retry too
    bodies = sorted(Message.objects.filter(direction="inbound").values_list("body", flat=True))
    assert bodies == sorted(f"message {i}" for i in range(60))
    assert sum(batch_sizes) == 80 and max(batch_sizes) > 1, batch_sizes


def test_a_row_that_fails_fails_only_its_own_webhook(transactional_db, seller_setup, batch_sizes):
    """A message whose row the database refuses (here: an account that does not exist, caught by the foreign
    key at commit) makes its batch's statement fail; the others are written one by one and stored."""
    import psycopg

    from textdesk.messaging.inbound import intake_pg
    from textdesk.messaging.models import Message
    from textdesk.providers.base import InboundSMS

    def sms(i: int) -> InboundSMS:
        return InboundSMS(f"SMrow{i}", CUSTOMER, seller_setup.number.e164, f"row {i}")

    async def webhooks():
        first = asyncio.ensure_future(intake_pg.store_single(seller_setup.account.pk, sms(0)))
        await asyncio.sleep(0)  # the first holds the one writer; the next ones wait for it, together
        rest = [intake_pg.store_single(seller_setup.account.pk if i != 3 else 987654321, sms(i)) for i in range(1, 6)]
        return await asyncio.gather(first, *rest, return_exceptions=True)

    results = run_on_a_loop(webhooks)
    assert isinstance(results[3], psycopg.errors.ForeignKeyViolation)
    assert [r.stored for i, r in enumerate(results) if i != 3] == [1, 1, 1, 1, 1]
    assert sorted(Message.objects.values_list("body", flat=True)) == ["row 0", "row 1", "row 2", "row 4", "row 5"]
    assert batch_sizes == [1, 5]


def test_the_same_message_twice_in_one_statement_is_new_once(transactional_db, seller_setup, batch_sizes):
    from textdesk.messaging.inbound import intake_pg
    from textdesk.messaging.models import Message
    from textdesk.providers.base import InboundSMS

    retried = InboundSMS("SMtwice", CUSTOMER, seller_setup.number.e164, "hello")

    async def webhooks():
        first = asyncio.ensure_future(
            intake_pg.store_single(seller_setup.account.pk, InboundSMS("SMother", CUSTOMER, "+14155550100", "x"))
        )
        await asyncio.sleep(0)
        return await asyncio.gather(
            first, *[intake_pg.store_single(seller_setup.account.pk, retried) for _ in range(3)]
        )

    results = run_on_a_loop(webhooks)
    assert [(r.stored, r.duplicates) for r in results[1:]] == [(1, 0), (0, 1), (0, 1)]
    assert Message.objects.filter(provider_message_id="SMtwice").count() == 1
    assert batch_sizes == [1, 3]


def test_a_writer_cancelled_with_its_loop_leaves_no_webhook_waiting(transactional_db, seller_setup, batch_sizes):
    """Its statement's messages and those waiting for the next one are cancelled, not left hanging."""
    from textdesk.messaging.inbound import intake_pg
    from textdesk.providers.base import InboundSMS

    def store(i: int):
        return asyncio.ensure_future(
            intake_pg.store_single(
                seller_setup.account.pk, InboundSMS(f"SMcancel{i}", CUSTOMER, seller_setup.number.e164, "x")
            )
        )

    async def webhooks():
        stores = [store(0)]
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # the writer has started its statement, with the first message alone
        stores += [store(1), store(2)]
        await asyncio.sleep(0)  # these two wait for the next statement
        for task in list(intake_pg._writer().tasks):
            task.cancel()
        return await asyncio.wait_for(asyncio.gather(*stores, return_exceptions=True), timeout=5)

    results = run_on_a_loop(webhooks)
    assert all(isinstance(r, asyncio.CancelledError) for r in results), results
    assert batch_sizes == [1]  # the waiting two were not written by a writer meant to stop
