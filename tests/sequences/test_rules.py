"""The pure sequence rules (no database)."""

import datetime as dt

from textdesk.domain import sequences as rules

T = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def test_wait_step_is_due_when_its_time_is_over_and_others_at_once():
    assert rules.due_on_entry(rules.StepSpec("wait", wait=dt.timedelta(minutes=2)), T) == T + dt.timedelta(minutes=2)
    for kind in ("text_manual", "text_automated", "call", "email"):
        assert rules.due_on_entry(rules.StepSpec(kind), T) == T


def test_next_position_walks_the_orders_and_ends():
    assert rules.next_position([3, 1, 2], None) == 1
    assert rules.next_position([1, 2, 5], 2) == 5
    assert rules.next_position([1, 2], 2) is None
    assert rules.next_position([], None) is None


def test_step_problems():
    assert rules.step_problems(rules.StepSpec("text_automated")) == ["template_required"]
    assert rules.step_problems(rules.StepSpec("text_automated", has_template=True)) == []
    assert rules.step_problems(rules.StepSpec("text_manual")) == []
    assert rules.step_problems(rules.StepSpec("wait")) == ["wait_required"]
    assert rules.step_problems(rules.StepSpec("wait", wait=dt.timedelta(0))) == ["wait_required"]
    assert rules.step_problems(rules.StepSpec("call", has_template=True)) == ["template_only_on_text_steps"]
    assert rules.step_problems(rules.StepSpec("email", wait=dt.timedelta(1))) == ["wait_only_on_wait_steps"]
    assert rules.step_problems(rules.StepSpec("fax")) == ["unknown_kind"]
    assert rules.step_problems(rules.StepSpec("wait", wait=dt.timedelta(days=366))) == ["wait_too_long"]
    assert rules.step_problems(rules.StepSpec("wait", wait=dt.timedelta(days=365))) == []


def test_recipient_prefers_mobile_then_business():
    assert rules.choose_recipient("+15550001", "+15550002") == "+15550001"
    assert rules.choose_recipient("", "+15550002") == "+15550002"
    assert rules.choose_recipient("", "") is None


def test_sender_owner_first_then_owners_team_then_owning_team():
    N = rules.NumberOption
    numbers = [N(5, None, 10), N(3, 7, None), N(4, None, 11)]
    assert rules.choose_sender(numbers, 7, None, [10]) == 3
    assert rules.choose_sender([N(5, None, 10), N(4, None, 11)], 7, None, [11, 10]) == 4
    assert rules.choose_sender(numbers, 8, None, []) is None
    assert rules.choose_sender(numbers, None, 10) == 5
    assert rules.choose_sender(numbers, None, 12) is None


def test_may_work_on():
    assert rules.may_work_on(1, [], 1, None)
    assert not rules.may_work_on(1, [], 2, None)
    assert rules.may_work_on(1, [9], None, 9)
    assert not rules.may_work_on(1, [8], None, 9)
    assert rules.may_work_on(1, [], 2, None, manages_sequences=True)
