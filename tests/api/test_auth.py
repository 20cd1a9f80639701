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
