"""Every resource needs a bearer token."""

from __future__ import annotations

import pytest

from tests.api.test_openapi import RESOURCES

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("resource", RESOURCES)
def test_no_token_is_401_on_every_resource(client_for, resource):
    anonymous = client_for(None)
    for response in (
        anonymous.get(f"/{resource}"),
        anonymous.get(f"/{resource}/1"),
        anonymous.post(f"/{resource}", {}),
        anonymous.patch(f"/{resource}/1", {}),
    ):
        assert response.status_code == 401
        assert response.json() == {"detail": "Unauthorized"}


def test_session_login_alone_does_not_open_the_api(make_user):
    from django.test import Client

    browser = Client()
    browser.force_login(make_user("sam"))
    assert browser.get("/api/v1/contacts").status_code == 401


def test_token_use_is_written_at_most_once_a_minute(client_for, make_user):
    import datetime as dt

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from textdesk.org.models import ApiToken

    api = client_for(make_user("sam"))
    assert api.get("/contacts").status_code == 200
    first = ApiToken.objects.get().last_used_at
    assert first is not None
    with CaptureQueriesContext(connection) as queries:
        assert api.get("/contacts").status_code == 200
    assert not [q for q in queries if q["sql"].startswith("UPDATE")]
    assert ApiToken.objects.get().last_used_at == first
    ApiToken.objects.update(last_used_at=first - dt.timedelta(minutes=2))
    assert api.get("/contacts").status_code == 200
    assert ApiToken.objects.get().last_used_at > first
