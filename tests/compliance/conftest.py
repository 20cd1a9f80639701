"""Compliance test fixtures: the API clients and people of tests/api, the live server and signed Twilio
webhooks of tests/inbound, and a real worker thread."""

from __future__ import annotations

import pytest

from tests.api.conftest import _fast_password_hashing, client_for, people  # noqa: F401
from tests.inbound.conftest import _providers, asgi_server, seller_setup  # noqa: F401
from tests.inbound.test_end_to_end import start_worker


@pytest.fixture
def worker(transactional_db):
    stop = start_worker("compliance-worker", 0.1)
    yield
    stop()


@pytest.fixture
def no_gateway(seller_setup):
    """Sends of the tests go to a closed local port: refused at once, never to the network."""
    account = seller_setup.account
    account.options = {**(account.options or {}), "base_url": "http://127.0.0.1:9"}
    account.save()
    return seller_setup
