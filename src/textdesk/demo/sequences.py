"""The demo's sequence: "New lead follow-up", connected to two records of the demo seller.

Call :func:`seed_sequences_demo` after ``crm.demo.seed_demo``. Idempotent: the
sequence and its templates are found by name, and a record that has ever been
connected to it is left as it is.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction

DEMO_SEQUENCE = "New lead follow-up"
DEMO_RECORDS = ("demo-lead-1", "demo-contact-1")  # external ids of the demo seller's records

_FIRST_TEXT = (
    "Follow-up: first text",
    "Hi {{LeadFirstName}}, thanks for your interest! I'm {{UserFirstName}}; when is a good time to talk?",
)
_REMINDER = (
    "Follow-up: reminder",
    "Hi {{LeadFirstName}}, just checking in: happy to send a quote whenever you are ready. {{UserFirstName}}",
)
_PLACEHOLDERS = [
    {"name": "LeadFirstName", "display_name": "", "default": "there"},
    {"name": "UserFirstName", "display_name": "", "default": "your sales rep"},
]


def _template(owner, name: str, body: str):
    from textdesk.messaging.models import MessageTemplate

    template, _created = MessageTemplate.objects.get_or_create(
        owner=owner,
        name=name,
        defaults={"category": "lead", "body": body, "placeholders": _PLACEHOLDERS},
    )
    return template


@transaction.atomic
def seed_sequences_demo(now: dt.datetime | None = None):
    """Create the demo sequence (authored by the demo manager) and connect the demo seller's records."""
    from textdesk.crm.models import Contact, Lead
    from textdesk.org.models import User
    from textdesk.sequences import actions
    from textdesk.sequences.models import Sequence, SequenceConnection

    manager = User.objects.filter(username="manager").first()
    seller = User.objects.filter(username="seller").first()
    if manager is None or seller is None:
        return None
    sequence = Sequence.objects.filter(name=DEMO_SEQUENCE).first()
    if sequence is None:
        first = _template(manager, *_FIRST_TEXT)
        reminder = _template(manager, *_REMINDER)
        sequence = actions.create_sequence(
            manager,
            name=DEMO_SEQUENCE,
            description="Text a new lead at once, remind them two minutes later, then call.",
            steps=[
                actions.StepInput(kind="text_manual", name="Introduce yourself", template_id=first.pk),
                actions.StepInput(kind="wait", wait=dt.timedelta(minutes=2)),
                actions.StepInput(kind="text_automated", name="Automatic reminder", template_id=reminder.pk),
                actions.StepInput(
                    kind="call",
                    name="Call to qualify",
                    description="Ask about fleet size and the timeline for a decision.",
                ),
            ],
        )
    records = [
        r
        for r in (
            Lead.objects.filter(external_id=DEMO_RECORDS[0]).first(),
            Contact.objects.filter(external_id=DEMO_RECORDS[1]).first(),
        )
        if r is not None
    ]
    keys = [
        r.record_key
        for r in records
        if not SequenceConnection.objects.filter(sequence=sequence, record_key=r.record_key).exists()
    ]
    if keys:
        actions.connect(seller, sequence.pk, keys, now=now)
    return sequence
