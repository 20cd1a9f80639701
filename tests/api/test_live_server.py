"""The API over a real socket, as a company's sync job would call it."""

from __future__ import annotations

import threading

import httpx
import pytest

from textdesk.crm.actions.records import upsert_record
from textdesk.crm.models import Contact
from textdesk.org.models import ApiToken


@pytest.mark.django_db(transaction=True)
def test_post_contact_over_http_returns_e164(live_server, make_user):
    seller = make_user("sam")
    token = ApiToken.issue(seller)[1]
    with httpx.Client(base_url=live_server.url, headers={"Authorization": f"Bearer {token}"}) as http:
        response = http.post(
            "/api/v1/contacts",
            json={
                "last_name": "Costa",
                "mobile_phone": "(11) 91234-5678",
                "country": "BR",
                "owner_user_id": seller.pk,
            },
        )
        assert response.status_code == 201
        assert response.json()["mobile_phone"]["e164"] == "+5511912345678"
        assert http.get("/api/v1/contacts", params={"phone": "+5511912345678"}).json()["count"] == 1
        assert httpx.get(f"{live_server.url}/api/v1/contacts").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_simultaneous_upserts_of_one_external_id_make_one_record(make_user):
    """Two syncs racing on the same new external id: one creates, the other updates; nobody fails."""
    from django.db import connection

    seller = make_user("sam")
    barrier = threading.Barrier(4)
    outcomes: list = []

    def sync(n: int) -> None:
        try:
            barrier.wait()
            _record, created = upsert_record(
                Contact, "crm-race", {"last_name": f"Writer {n}", "owner_user_id": seller.pk}
            )
            outcomes.append(created)
        except Exception as exc:  # reported below, with the others
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sync, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes, key=str) == [False, False, False, True], outcomes
    assert Contact.objects.filter(external_id="crm-race").count() == 1
