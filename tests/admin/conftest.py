from __future__ import annotations

import pytest
from django.test import Client

from textdesk.org import roles


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin_user(make_user):
    """A System Administrator as the API would create one: staff through the role, not a superuser."""
    return make_user("sysadmin", role=roles.SYSTEM_ADMINISTRATOR, is_staff=True)


@pytest.fixture
def admin_client(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client
