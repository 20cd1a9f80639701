"""Shared fixtures. Tests never reach the network: only 127.0.0.1 servers started by the tests."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("TEXTDESK_DATA_DIR", tempfile.mkdtemp(prefix="textdesk-test-"))
os.environ.setdefault("TEXTDESK_SECRET_KEY", "test-secret-key-not-for-production")

import pytest  # noqa: E402


def pytest_report_header(config):
    from django.conf import settings

    return f"textdesk database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}"


@pytest.fixture
def is_postgres():
    from django.db import connection

    return connection.vendor == "postgresql"


@pytest.fixture(autouse=True)
def _local_bus():
    """Each test starts with a fresh in-process bus (no cross-test events)."""
    from textdesk.live import bus

    bus.reset_bus()
    yield
    bus.reset_bus()


@pytest.fixture
def make_user(db):
    from django.contrib.auth.models import Group

    from textdesk.org.models import User
    from textdesk.org.roles import SALESPERSON

    counter = {"n": 0}

    def make(username=None, role=SALESPERSON, teams=(), **fields):
        counter["n"] += 1
        user = User.objects.create_user(username=username or f"user{counter['n']}", password="pw-Passw0rd!", **fields)
        if role:
            user.groups.add(Group.objects.get(name=role))
        for team in teams:
            team.members.add(user)
        return user

    return make
