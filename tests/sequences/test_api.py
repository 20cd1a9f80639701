"""Sequences in the REST API: who may do what, precise refusals, the work list."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from textdesk.org.models import ApiToken
from textdesk.sequences import actions
from textdesk.sequences.models import Sequence, SequenceConnection

from .conftest import T0

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    _, token = ApiToken.issue(user)
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def test_without_a_token_everything_is_refused():
    assert Client().get("/api/v1/sequences/").status_code == 401
    assert Client().get("/api/v1/sequences/work-list").status_code == 401


def test_only_managers_author_sequences_and_steps(seller, manager, make_template):
    body = {
        "name": "Onboarding",
        "steps": [
            {"kind": "text_manual", "template_id": make_template(manager).pk},
            {"kind": "wait", "wait_seconds": 3600},
            {"kind": "text_automated", "template_id": make_template(manager).pk},
            {"kind": "call", "name": "Call to confirm"},
        ],
    }
    as_seller = _client(seller).post("/api/v1/sequences/", body, content_type="application/json")
    assert as_seller.status_code == 403 and as_seller.json()["code"] == "forbidden"
    assert not Sequence.objects.exists()

    api = _client(manager)
    created = api.post("/api/v1/sequences/", body, content_type="application/json")
    assert created.status_code == 201, created.content
    data = created.json()
    assert [s["kind"] for s in data["steps"]] == ["text_manual", "wait", "text_automated", "call"]
    assert data["steps"][1]["wait_seconds"] == 3600
    sid = data["id"]

    assert api.post("/api/v1/sequences/", body, content_type="application/json").json()["code"] == "name_taken"
    bad = api.post(f"/api/v1/sequences/{sid}/steps", {"kind": "text_automated"}, content_type="application/json")
    assert bad.status_code == 422 and bad.json()["code"] == "template_required"
    wrong_kind = api.post(f"/api/v1/sequences/{sid}/steps", {"kind": "fax"}, content_type="application/json")
    assert wrong_kind.status_code == 422

    assert (
        _client(seller)
        .post(f"/api/v1/sequences/{sid}/steps", {"kind": "email"}, content_type="application/json")
        .status_code
        == 403
    )
    added = api.post(f"/api/v1/sequences/{sid}/steps?position=1", {"kind": "email"}, content_type="application/json")
    assert added.status_code == 201 and added.json()["order"] == 1
    step_id = added.json()["id"]
    assert (
        _client(seller)
        .patch(f"/api/v1/sequences/{sid}/steps/{step_id}", {"name": "x"}, content_type="application/json")
        .status_code
        == 403
    )
    patched = api.patch(
        f"/api/v1/sequences/{sid}/steps/{step_id}",
        {"name": "Intro email", "position": 5},
        content_type="application/json",
    )
    assert patched.status_code == 200 and patched.json()["order"] == 5
    assert api.delete(f"/api/v1/sequences/{sid}/steps/{step_id}").status_code == 204
    assert api.delete(f"/api/v1/sequences/{sid}/steps/999999").status_code == 404
    # Everyone may read sequences (sellers connect their records to them).
    listed = _client(seller).get("/api/v1/sequences/").json()
    assert [s["name"] for s in listed] == ["Onboarding"] and len(listed[0]["steps"]) == 4
    assert _client(seller).delete(f"/api/v1/sequences/{sid}").status_code == 403
    assert (
        api.patch(f"/api/v1/sequences/{sid}", {"active": False}, content_type="application/json").json()["active"]
        is False
    )
    assert api.delete(f"/api/v1/sequences/{sid}").status_code == 204


def test_connect_in_bulk_then_work_through_the_steps(seller, make_user, make_record, make_sequence):
    sequence = make_sequence("call", "email")
    other = make_user("other")
    mine = [make_record("contact", seller), make_record("lead", seller)]
    theirs = make_record("contact", other)
    api = _client(seller)
    resp = api.post(
        f"/api/v1/sequences/{sequence.pk}/connections",
        {"record_keys": [r.record_key for r in mine] + [theirs.record_key, "bogus"]},
        content_type="application/json",
    )
    assert resp.status_code == 200
    assert [r["outcome"] for r in resp.json()] == ["connected", "connected", "not_found", "invalid"]
    assert (
        api.post(
            f"/api/v1/sequences/{sequence.pk}/connections", {"record_keys": []}, content_type="application/json"
        ).status_code
        == 422
    )
    assert (
        api.post(
            "/api/v1/sequences/999999/connections",
            {"record_keys": [mine[0].record_key]},
            content_type="application/json",
        ).status_code
        == 404
    )

    cid = resp.json()[0]["connection_id"]
    conn = api.get(f"/api/v1/sequences/connections/{cid}").json()
    step_id = conn["step"]["id"]
    done = api.post(
        f"/api/v1/sequences/connections/{cid}/complete", {"step_id": step_id}, content_type="application/json"
    )
    assert done.status_code == 200 and done.json()["step"]["kind"] == "email"
    again = api.post(
        f"/api/v1/sequences/connections/{cid}/complete", {"step_id": step_id}, content_type="application/json"
    )
    assert again.status_code == 409 and again.json()["code"] == "step_moved_on"
    skipped = api.post(f"/api/v1/sequences/connections/{cid}/skip", {}, content_type="application/json")
    assert skipped.json()["state"] == "completed"
    detail = api.get(f"/api/v1/sequences/connections/{cid}").json()
    assert [(h["step_kind"], h["outcome"]) for h in detail["history"]] == [("call", "completed"), ("email", "skipped")]

    # Another seller neither sees nor changes it.
    stranger = _client(make_user("stranger"))
    other_cid = resp.json()[1]["connection_id"]
    assert stranger.get(f"/api/v1/sequences/connections/{other_cid}").status_code == 404
    assert (
        stranger.post(
            f"/api/v1/sequences/connections/{other_cid}/skip", {}, content_type="application/json"
        ).status_code
        == 404
    )
    assert stranger.delete(f"/api/v1/sequences/connections/{other_cid}").status_code == 404
    assert stranger.get(f"/api/v1/sequences/connections?record_key={mine[1].record_key}").status_code == 404
    assert stranger.get("/api/v1/sequences/work-list").json()["items"] == []

    stopped = api.delete(f"/api/v1/sequences/connections/{other_cid}")
    assert stopped.status_code == 200 and stopped.json()["state"] == "stopped"
    assert api.delete(f"/api/v1/sequences/connections/{other_cid}").status_code == 409
    history = api.get(f"/api/v1/sequences/connections?record_key={mine[1].record_key}").json()
    assert [c["state"] for c in history] == ["stopped"]


def test_work_list_is_mine_sorted_by_due_time_and_filterable(seller, make_user, make_team, make_record, make_sequence):
    team = make_team("Desk", members=[seller])
    calls = make_sequence("call", name="Calls")
    texts = make_sequence("text_manual", name="Texts")
    waits = make_sequence("wait", "call", name="Waits", wait=dt.timedelta(hours=3))
    late = make_record("contact", seller, last_name="Late")
    early = make_record("lead", team, last_name="Early")
    middle = make_record("account", seller, name="Middle")
    upcoming = make_record("contact", seller, last_name="Upcoming")
    done = make_record("contact", seller, last_name="Done")
    not_mine = make_record("contact", make_user("other"), last_name="NotMine")
    actions.connect(seller, calls.pk, [late.record_key], now=T0 + dt.timedelta(hours=2))
    actions.connect(seller, texts.pk, [early.record_key], now=T0)
    actions.connect(seller, calls.pk, [middle.record_key], now=T0 + dt.timedelta(hours=1))
    actions.connect(seller, waits.pk, [upcoming.record_key], now=T0)  # due at T0 + 3h
    [d] = actions.connect(seller, calls.pk, [done.record_key], now=T0)
    actions.complete_step(seller, d.connection_id, now=T0)
    actions.connect(actions_user := not_mine.owner_user, calls.pk, [not_mine.record_key], now=T0)
    assert actions_user.pk != seller.pk

    api = _client(seller)
    page = api.get("/api/v1/sequences/work-list").json()
    assert page["count"] == 4
    rows = page["items"]
    assert [r["record_name"] for r in rows] == ["Early", "Middle", "Late", "Upcoming"]
    second = api.get("/api/v1/sequences/work-list?limit=2&offset=2").json()
    assert [r["record_name"] for r in second["items"]] == ["Late", "Upcoming"]
    assert [r["step"]["kind"] for r in rows] == ["text_manual", "call", "call", "wait"]
    assert [r["record_name"] for r in api.get("/api/v1/sequences/work-list?step_kind=call").json()["items"]] == [
        "Middle",
        "Late",
    ]
    assert [r["record_name"] for r in api.get("/api/v1/sequences/work-list?record_type=contact").json()["items"]] == [
        "Late",
        "Upcoming",
    ]
    assert api.get("/api/v1/sequences/work-list?record_type=planet").status_code == 422
    assert SequenceConnection.objects.count() == 6


def test_bad_input_gets_a_precise_4xx_and_writes_nothing(manager):
    api = _client(manager)
    cases = [
        ({"name": "x" * 151}, "name_too_long"),
        ({"name": "   "}, "name_required"),
        ({"name": "W", "steps": [{"kind": "wait", "wait_seconds": 10**15}]}, "wait_too_long"),
        ({"name": "W", "steps": [{"kind": "wait", "wait_seconds": -5}]}, "wait_required"),
        ({"name": "W", "steps": [{"kind": "call", "wait_seconds": 60}]}, "wait_only_on_wait_steps"),
        ({"name": "W", "steps": [{"kind": "text_manual", "template_id": 999999}]}, "template_not_found"),
        ({"name": "W", "steps": [{"kind": "call"}, {"kind": "email", "name": "y" * 151}]}, "name_too_long"),
    ]
    for body, code in cases:
        resp = api.post("/api/v1/sequences/", body, content_type="application/json")
        assert (resp.status_code, resp.json().get("code")) == (422, code), body
    assert api.post("/api/v1/sequences/", "not json", content_type="application/json").status_code in (400, 422)
    assert api.post("/api/v1/sequences/", {"steps": []}, content_type="application/json").status_code == 422
    assert (
        api.post("/api/v1/sequences/", {"name": "N", "colour": "red"}, content_type="application/json").status_code
        == 422
    )
    assert not Sequence.objects.exists()
