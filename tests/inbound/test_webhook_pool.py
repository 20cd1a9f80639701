"""The webhooks' pool of asynchronous PostgreSQL connections (one per event loop) leaves no server session behind:
a server that stops closes it on its loop; the pool of a loop that has gone is closed without it."""

from __future__ import annotations

import asyncio

import pytest
from django.db import connection

from tests.inbound.conftest import LiveServer, post_signed, twilio_form, wait_for

CUSTOMER = "+14155550199"


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("the webhooks' own pool is PostgreSQL's")


def webhook_sessions() -> int:
    from textdesk.messaging.inbound.intake_pg import APPLICATION_NAME

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
            [APPLICATION_NAME],
        )
        return cursor.fetchone()[0]


def test_a_server_that_stops_closes_its_webhook_connections(transactional_db, seller_setup):
    server = LiveServer()
    server.start()
    try:
        form = twilio_form("SM" + "6" * 32, CUSTOMER, seller_setup.number.e164, "hello")
        assert post_signed(server, seller_setup.inbound_url, form).status_code == 200
        assert webhook_sessions() >= 1
    finally:
        server.server.should_exit = True
        server.thread.join(10)  # the server's own shutdown, without the test's fallback (server.stop)
        server.sock.close()
    assert wait_for(lambda: webhook_sessions() == 0, timeout=5), "the stopped server's webhook sessions are still open"


def test_the_webhook_connections_of_a_loop_that_has_gone_are_ended_without_it(transactional_db, seller_setup):
    from textdesk.messaging.inbound import intake_pg
    from textdesk.providers.base import InboundSMS

    sms = InboundSMS("SMgone", CUSTOMER, seller_setup.number.e164, "hello")
    stored = asyncio.run(intake_pg.store_single(seller_setup.account.pk, sms))  # its loop is closed afterwards
    assert stored.stored == 1 and webhook_sessions() >= 1
    intake_pg.close_pools()
    assert wait_for(lambda: webhook_sessions() == 0, timeout=5), "the gone loop's webhook sessions are still open"
