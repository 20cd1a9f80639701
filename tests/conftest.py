"""Shared fixtures. Tests never reach the network: only 127.0.0.1 servers started by the tests."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("TEXTDESK_DATA_DIR", tempfile.mkdtemp(prefix="textdesk-test-"))
os.environ.setdefault("TEXTDESK_SECRET_KEY", "test-secret-key-not-for-production")

import pytest
from django.conf import settings

# pytest-django may have loaded the settings before this file (a plain `pytest` run, without scripts/test.sh's
# environment): the processes the tests start must sign and read sessions and credentials with the same key.
os.environ["TEXTDESK_SECRET_KEY"] = settings.SECRET_KEY


def pytest_report_header(config):
    return f"textdesk database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}"


@pytest.fixture(scope="session", autouse=True)
def _compiled_translations():
    """Pages are translated from the compiled catalogs (.mo, not in git): build any that are missing or stale.

    The install script compiles them too; this keeps a fresh checkout, or a .po just edited, honest.
    """
    import fcntl
    from pathlib import Path

    from django.core.management import call_command
    from django.utils.translation import trans_real

    import textdesk

    package = Path(textdesk.__file__).resolve().parent

    def stale() -> list[Path]:
        return [
            po
            for po in package.glob("**/locale/*/LC_MESSAGES/*.po")
            if not po.with_suffix(".mo").exists() or po.with_suffix(".mo").stat().st_mtime < po.stat().st_mtime
        ]

    if not stale():
        return
    # Parallel test processes share the source tree: one compiles, the others wait for it.
    with open(Path(tempfile.gettempdir()) / "textdesk-compilemessages.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stale():
            cwd = os.getcwd()
            os.chdir(package)  # compilemessages compiles every locale/ folder below the current one
            try:
                call_command("compilemessages", verbosity=0)
            finally:
                os.chdir(cwd)
    trans_real._translations.clear()  # nothing cached from before the catalogs existed
    trans_real._default = None


@pytest.fixture
def is_postgres():
    from django.db import connection

    return connection.vendor == "postgresql"


@pytest.fixture(scope="session", autouse=True)
def _no_connection_left_behind(django_db_setup, django_db_blocker):
    """At the end, before the test database is dropped (PostgreSQL refuses while anyone is connected): close
    the webhook connections still open, and end the sessions that threads of stopped test servers left idle."""
    yield
    from django.db import connection

    from textdesk.messaging.inbound import intake_pg

    intake_pg.close_pools()
    if connection.vendor == "postgresql":
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with no sign-in failures counted (the throttle's counters live in Django's cache)."""
    from django.core.cache import cache

    cache.clear()
    yield


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


@pytest.fixture
def make_team(db):
    from textdesk.org.models import Team

    def make(name="Team", members=()):
        team, _ = Team.objects.get_or_create(name=name)
        team.members.add(*members)
        return team

    return make


@pytest.fixture
def make_provider_account(db):
    from textdesk.messaging.models import ProviderAccount

    counter = {"n": 0}

    def make(kind="twilio", credentials=None, options=None, name=None):
        counter["n"] += 1
        account = ProviderAccount(kind=kind, name=name or f"{kind} {counter['n']}", options=options or {})
        account.credentials = credentials or {"account_sid": "AC" + "0" * 32, "auth_token": "test-token"}
        account.save()
        return account

    return make


@pytest.fixture
def make_sender_number(db, make_provider_account):
    from textdesk.messaging.models import SenderNumber

    counter = {"n": 0}

    def make(e164=None, owner=None, provider_account=None, **fields):
        from textdesk.org.models import Team

        counter["n"] += 1
        owner_field = "owner_team" if isinstance(owner, Team) else "owner_user"
        return SenderNumber.objects.create(
            e164=e164 or f"+1415555{counter['n']:04d}",
            name=fields.pop("name", f"Line {counter['n']}"),
            provider_account=provider_account or make_provider_account(),
            **{owner_field: owner},
            **fields,
        )

    return make


@pytest.fixture
def make_record(db):
    """make_record("contact", owner, mobile_phone="+1...", **fields) for any of the four record types."""
    from textdesk.crm.models import record_model
    from textdesk.org.models import Team

    defaults = {
        "contact": {"last_name": "Customer"},
        "account": {"name": "Customer Inc."},
        "lead": {"last_name": "Prospect"},
        "opportunity": {"name": "Deal"},
    }

    def make(record_type, owner, **fields):
        owner_field = "owner_team" if isinstance(owner, Team) else "owner_user"
        return record_model(record_type).objects.create(**{**defaults[record_type], owner_field: owner, **fields})

    return make
