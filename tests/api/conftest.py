"""API test helpers: a client per user that sends that user's bearer token."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from textdesk.org import roles
from textdesk.org.models import ApiToken


class ApiClient:
    """Speaks JSON to /api/v1 with one user's token (or none)."""

    def __init__(self, token: str | None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = Client(headers=headers)

    def _call(self, method: str, path: str, body=None, **params):
        url = "/api/v1" + path
        if method == "get":
            return self._client.get(url, params)
        return getattr(self._client, method)(url, json.dumps(body or {}), content_type="application/json")

    def get(self, path, **params):
        return self._call("get", path, **params)

    def post(self, path, body):
        return self._call("post", path, body)

    def put(self, path, body):
        return self._call("put", path, body)

    def patch(self, path, body):
        return self._call("patch", path, body)


@pytest.fixture
def client_for():
    def make(user) -> ApiClient:
        return ApiClient(ApiToken.issue(user)[1] if user is not None else None)

    return make


@pytest.fixture
def people(make_user, make_team):
    """An organisation: two teams, sellers in each, a manager of team A, an administrator, an outsider."""
    team_a = make_team("Team A")
    team_b = make_team("Team B")
    seller = make_user("seller", teams=[team_a])
    mate = make_user("mate", teams=[team_a])
    other = make_user("other", teams=[team_b])
    manager = make_user("manager", role=roles.SALES_MANAGER, teams=[team_a])
    admin = make_user("admin", role=roles.SYSTEM_ADMINISTRATOR)

    class People:
        pass

    p = People()
    p.__dict__.update(team_a=team_a, team_b=team_b, seller=seller, mate=mate, other=other, manager=manager, admin=admin)
    return p


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Users are created by the dozen here; a strong hash would only slow the tests down."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
