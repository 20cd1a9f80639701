"""The demo sequence: seeded once, whatever the number of runs."""

import pytest

pytestmark = pytest.mark.django_db


def test_demo_sequence_is_seeded_idempotently_for_the_demo_seller():
    from textdesk.demo.organisation import seed_demo
    from textdesk.demo.sequences import seed_sequences_demo
    from textdesk.org.models import User
    from textdesk.sequences.models import SequenceConnection
    from textdesk.sequences.queries import work_list

    seed_demo()
    sequence = seed_sequences_demo()
    assert [s.kind for s in sequence.steps.order_by("order")] == ["text_manual", "wait", "text_automated", "call"]
    seller = User.objects.get(username="seller")
    items = list(work_list(seller))
    assert sorted(c.record_key.split(":")[0] for c in items) == ["contact", "lead"]
    assert all(c.current_step.kind == "text_manual" for c in items)
    # Run it again (and again after progress): nothing new, nothing reset.
    from textdesk.sequences import actions

    actions.skip_step(seller, items[0].pk)
    seed_demo()
    assert seed_sequences_demo().pk == sequence.pk
    assert SequenceConnection.objects.count() == 2
    assert sequence.steps.count() == 4
