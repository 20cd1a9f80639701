"""Records moving through sequences with a controlled clock (passed as ``now``); no sleeping."""

from __future__ import annotations

import datetime as dt

import pytest

from textdesk.sequences import actions
from textdesk.sequences.errors import Conflict, Forbidden, NotFound
from textdesk.sequences.models import SequenceConnection

from .conftest import T0

pytestmark = pytest.mark.django_db


def _reload(connection_or_id):
    pk = getattr(connection_or_id, "pk", connection_or_id)
    return SequenceConnection.objects.select_related("current_step").get(pk=pk)


def _jobs():
    from textdesk.jobs.models import Job

    return list(Job.objects.filter(kind=actions.RUN_STEP_JOB).order_by("id"))


def test_seller_steps_advance_in_order_and_finish(seller, make_record, make_sequence):
    sequence = make_sequence("call", "email", "text_manual")
    record = make_record("contact", seller, first_name="Alice")
    [result] = actions.connect(seller, sequence.pk, [record.record_key], now=T0)
    assert result.outcome == "connected"
    conn = _reload(result.connection_id)
    assert conn.current_step.kind == "call" and conn.due_at == T0 and conn.state == "active"

    later = T0 + dt.timedelta(hours=1)
    actions.complete_step(seller, conn.pk, conn.current_step_id, now=later)
    conn = _reload(conn)
    assert conn.current_step.kind == "email" and conn.due_at == later
    actions.skip_step(seller, conn.pk, conn.current_step_id, now=later)
    conn = _reload(conn)
    assert conn.current_step.kind == "text_manual"
    actions.skip_step(seller, conn.pk, conn.current_step_id, now=later)
    conn = _reload(conn)
    assert conn.state == "completed" and conn.current_step is None and conn.finished_at == later
    assert [(h.step_kind, h.outcome, h.by_id) for h in conn.history.all()] == [
        ("call", "completed", seller.pk),
        ("email", "skipped", seller.pk),
        ("text_manual", "skipped", seller.pk),
    ]
    assert _jobs() == []  # seller steps never go to the worker


def test_completing_a_step_that_moved_on_is_refused(seller, make_record, make_sequence):
    sequence = make_sequence("call", "email")
    record = make_record("lead", seller)
    [result] = actions.connect(seller, sequence.pk, [record.record_key], now=T0)
    conn = _reload(result.connection_id)
    first_step = conn.current_step_id
    actions.complete_step(seller, conn.pk, first_step, now=T0)
    with pytest.raises(Conflict) as exc:
        actions.complete_step(seller, conn.pk, first_step, now=T0)  # a double click
    assert exc.value.code == "step_moved_on"
    assert _reload(conn).history.count() == 1


def test_wait_step_schedules_one_job_at_its_due_time_and_advances_when_run(seller, make_record, make_sequence):
    sequence = make_sequence("call", "wait", "email", wait=dt.timedelta(minutes=2))
    record = make_record("contact", seller)
    [result] = actions.connect(seller, sequence.pk, [record.record_key], now=T0)
    conn = _reload(result.connection_id)
    actions.complete_step(seller, conn.pk, conn.current_step_id, now=T0)
    conn = _reload(conn)
    assert conn.current_step.kind == "wait" and conn.due_at == T0 + dt.timedelta(minutes=2)
    [job] = _jobs()
    assert job.run_at == conn.due_at
    assert job.dedupe_key == f"seqstep:{conn.pk}:{conn.current_step_id}:{conn.attempt}"

    # Too early: nothing happens.
    early = actions.run_due_step(conn.pk, conn.current_step_id, conn.attempt, now=T0 + dt.timedelta(minutes=1))
    assert early.outcome == "not_due" and early.due_at == conn.due_at
    assert _reload(conn).current_step.kind == "wait"

    at = T0 + dt.timedelta(minutes=2)
    assert actions.run_due_step(conn.pk, conn.current_step_id, conn.attempt, now=at).outcome == "advanced"
    after = _reload(conn)
    assert after.current_step.kind == "email" and after.due_at == at
    # The same job again (a second worker, a restart) is stale and changes nothing.
    assert actions.run_due_step(conn.pk, conn.current_step_id, conn.attempt, now=at).outcome == "stale"
    assert _reload(conn).history.filter(step_kind="wait").count() == 1


def test_disconnect_stops_and_makes_scheduled_work_stale(seller, make_record, make_sequence):
    sequence = make_sequence("wait", "email")
    record = make_record("account", seller)
    [result] = actions.connect(seller, sequence.pk, [record.record_key], now=T0)
    conn = _reload(result.connection_id)
    step_id, attempt = conn.current_step_id, conn.attempt
    actions.disconnect(seller, conn.pk, now=T0)
    assert _reload(conn).state == "stopped"
    assert actions.run_due_step(conn.pk, step_id, attempt, now=T0 + dt.timedelta(hours=1)).outcome == "stale"
    assert _reload(conn).state == "stopped"
    # Disconnected, the record may join a sequence again.
    [again] = actions.connect(seller, sequence.pk, [record.record_key], now=T0)
    assert again.outcome == "connected" and again.connection_id != conn.pk


def test_bulk_connect_reports_each_record(seller, make_user, make_team, make_record, make_sequence):
    sequence = make_sequence("call")
    other = make_user("other")
    team = make_team("Inside", members=[seller])
    mine = make_record("contact", seller)
    teams = make_record("lead", team)
    theirs = make_record("contact", other)
    results = actions.connect(
        seller,
        sequence.pk,
        [
            mine.record_key,
            teams.record_key,
            theirs.record_key,
            "contact:999999",
            "nonsense",
            mine.record_key,
        ],
        now=T0,
    )
    assert [(r.record_key, r.outcome) for r in results] == [
        (mine.record_key, "connected"),
        (teams.record_key, "connected"),
        (theirs.record_key, "not_found"),
        ("contact:999999", "not_found"),
        ("nonsense", "invalid"),
    ]
    again = actions.connect(seller, sequence.pk, [mine.record_key], now=T0)
    assert again[0].outcome == "already_connected"
    assert SequenceConnection.objects.filter(record_key=mine.record_key).count() == 1


def test_only_managers_author_sequences(seller, manager):
    with pytest.raises(Forbidden):
        actions.create_sequence(seller, name="Mine", steps=[actions.StepInput(kind="call")])
    sequence = actions.create_sequence(manager, name="Ok", steps=[actions.StepInput(kind="call")])
    with pytest.raises(Forbidden):
        actions.update_sequence(seller, sequence.pk, name="Renamed")
    with pytest.raises(Forbidden):
        actions.add_step(seller, sequence.pk, actions.StepInput(kind="email"))


def test_authoring_validates_steps_and_protects_running_sequences(manager, seller, make_record, make_template):
    from textdesk.sequences.errors import Invalid

    with pytest.raises(Invalid) as exc:
        actions.create_sequence(manager, name="Bad", steps=[actions.StepInput(kind="text_automated")])
    assert exc.value.code == "template_required"
    from textdesk.sequences.models import Sequence

    assert not Sequence.objects.filter(name="Bad").exists()  # nothing half-written
    sequence = actions.create_sequence(
        manager, name="Good", steps=[actions.StepInput(kind="call"), actions.StepInput(kind="email")]
    )
    inserted = actions.add_step(
        manager, sequence.pk, actions.StepInput(kind="wait", wait=dt.timedelta(days=1)), position=2
    )
    assert [s.kind for s in sequence.steps.order_by("order")] == ["call", "wait", "email"]
    assert inserted.order == 2
    actions.update_step(manager, inserted.pk, position=3)
    assert [s.kind for s in sequence.steps.order_by("order")] == ["call", "email", "wait"]
    actions.connect(manager, sequence.pk, [make_record("contact", seller).record_key], now=T0)
    with pytest.raises(Conflict):
        actions.add_step(manager, sequence.pk, actions.StepInput(kind="call"))
    with pytest.raises(Conflict):
        actions.delete_sequence(manager, sequence.pk)
    actions.update_sequence(manager, sequence.pk, active=False)
    with pytest.raises(Conflict):
        actions.connect(manager, sequence.pk, [make_record("contact", seller).record_key], now=T0)


def test_a_seller_cannot_act_on_someone_elses_record(seller, make_user, make_record, make_sequence):
    sequence = make_sequence("call")
    other = make_user("other")
    record = make_record("contact", other)
    [result] = actions.connect(other, sequence.pk, [record.record_key], now=T0)
    for act in (actions.complete_step, actions.skip_step):
        with pytest.raises(NotFound):
            act(seller, result.connection_id, now=T0)
    with pytest.raises(NotFound):
        actions.disconnect(seller, result.connection_id, now=T0)
    assert _reload(result.connection_id).state == "active"


def test_changes_are_pushed_live_to_the_record_owner(
    seller, make_record, make_sequence, django_capture_on_commit_callbacks
):
    from textdesk.live import bus

    sequence = make_sequence("call", "email")
    record = make_record("contact", seller)
    with bus.get_bus().subscribe([bus.user_channel(seller.pk)]) as sub:
        with django_capture_on_commit_callbacks(execute=True):
            [result] = actions.connect(seller, sequence.pk, [record.record_key], now=T0)
        with django_capture_on_commit_callbacks(execute=True):
            actions.complete_step(seller, result.connection_id, now=T0)
        first, second = sub.get(timeout=1), sub.get(timeout=1)
    assert first[1]["event"] == "sequence.changed" and first[1]["step_kind"] == "call"
    assert second[1]["step_kind"] == "email" and second[1]["record_key"] == record.record_key
