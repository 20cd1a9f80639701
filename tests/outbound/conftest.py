"""Fixtures of the outbound tests: a local gateway over real HTTP, a seller, a record and a number."""

from __future__ import annotations

import pytest

from tests.outbound import fake_gateway


@pytest.fixture
def gateway():
    from textdesk.providers import registry

    server, state, url = fake_gateway.start_gateway()
    added = fake_gateway.register(registry.MODULES)
    state.url = url
    yield state
    for kind in added:
        registry.MODULES.pop(kind, None)
    server.shutdown()
    server.server_close()


@pytest.fixture
def handlers():
    from textdesk.jobs.worker import load_handlers

    load_handlers()


@pytest.fixture
def setup(db, gateway, handlers, make_user, make_provider_account, make_sender_number, make_record):
    """A seller with their own number at the gateway and a contact with a Brazilian mobile."""

    class Setup:
        pass

    s = Setup()
    s.gateway = gateway
    s.user = make_user("seller")
    s.account = make_provider_account(kind="fake", options={"base_url": gateway.url}, credentials={"token": "t"})
    s.number = make_sender_number("+14155550100", owner=s.user, provider_account=s.account, rate_per_second=1000)
    s.contact = make_record("contact", s.user, mobile_phone="+5511912345678", country="BR")
    s.to = "+5511912345678"
    return s
