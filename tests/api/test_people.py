"""Users and teams over the API: everyone reads, administrators write."""

from __future__ import annotations

import pytest

from textdesk.org import roles
from textdesk.org.models import Team, User

pytestmark = pytest.mark.django_db


def test_every_member_lists_and_reads_users_and_teams(people, client_for):
    api = client_for(people.seller)
    listed = api.get("/users", team_id=people.team_a.pk).json()
    assert {u["username"] for u in listed["items"]} == {"seller", "mate", "manager"}
    me = api.get(f"/users/{people.seller.pk}").json()
    assert me["role"] == roles.SALESPERSON and me["team_ids"] == [people.team_a.pk]
    assert "password" not in me
    assert api.get(f"/teams/{people.team_a.pk}").json()["member_ids"] == sorted(
        [people.seller.pk, people.mate.pk, people.manager.pk]
    )
    assert api.get("/users/999999").status_code == 404
    assert api.get("/teams/999999").status_code == 404


@pytest.mark.parametrize("who", ["seller", "manager"])
def test_only_administrators_create_and_change_people(people, client_for, who):
    api = client_for(getattr(people, who))
    assert api.post("/users", {"username": "newbie"}).status_code == 403
    assert api.patch(f"/users/{people.mate.pk}", {"first_name": "X"}).status_code == 403
    assert api.post("/teams", {"name": "New"}).status_code == 403
    assert api.patch(f"/teams/{people.team_a.pk}", {"name": "Renamed"}).status_code == 403
    assert not User.objects.filter(username="newbie").exists()
    assert Team.objects.filter(name="Team A").exists()


def test_admin_creates_a_user_with_role_teams_and_password(people, client_for):
    api = client_for(people.admin)
    response = api.post(
        "/users",
        {
            "username": "nina",
            "first_name": "Nina",
            "email": "nina@example.com",
            "password": "a-Long-passw0rd",
            "role": roles.SALES_MANAGER,
            "team_ids": [people.team_b.pk],
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["role"] == roles.SALES_MANAGER and body["team_ids"] == [people.team_b.pk]
    assert body["is_staff"] is False and "password" not in body
    nina = User.objects.get(username="nina")
    assert nina.check_password("a-Long-passw0rd")
    assert nina.has_perm("org.manage_phone_numbers")


def test_system_administrator_role_grants_admin_site_and_taking_it_revokes(people, client_for):
    api = client_for(people.admin)
    created = api.post("/users", {"username": "root2", "role": roles.SYSTEM_ADMINISTRATOR}).json()
    assert created["is_staff"] is True
    demoted = api.patch(f"/users/{created['id']}", {"role": roles.SALESPERSON}).json()
    assert demoted["is_staff"] is False and demoted["role"] == roles.SALESPERSON


@pytest.mark.parametrize(
    "body,field",
    [
        ({"username": "seller"}, "username"),
        ({"username": "x", "role": "Overlord"}, "role"),
        ({"username": "x", "password": "123"}, "body"),
        ({"username": "x", "team_ids": [999999]}, "team_ids"),
        ({"username": "x", "email": "nope"}, "email"),
    ],
)
def test_invalid_users_are_422(people, client_for, body, field):
    response = client_for(people.admin).post("/users", body)
    assert response.status_code == 422, response.content
    assert any(field in e["loc"] for e in response.json()["detail"])
    assert not User.objects.filter(username="x").exists()


def test_admin_creates_and_changes_teams(people, client_for):
    api = client_for(people.admin)
    team = api.post("/teams", {"name": "Brazil Desk", "member_ids": [people.other.pk]})
    assert team.status_code == 201
    changed = api.patch(f"/teams/{team.json()['id']}", {"member_ids": [people.other.pk, people.mate.pk]})
    assert changed.json()["member_ids"] == sorted([people.other.pk, people.mate.pk])
    duplicate = api.post("/teams", {"name": "Brazil Desk"})
    assert duplicate.status_code == 422
    assert api.get("/teams", q="brazil").json()["count"] == 1
