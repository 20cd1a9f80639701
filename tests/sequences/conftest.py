"""Fixtures of the sales accelerator tests: a manager, a seller with a number, templates, a sequence."""

from __future__ import annotations

import datetime as dt

import pytest

T0 = dt.datetime(2026, 3, 2, 14, 0, tzinfo=dt.UTC)


@pytest.fixture
def manager(make_user):
    from textdesk.org.roles import SALES_MANAGER

    return make_user("manager", role=SALES_MANAGER, first_name="Marta")


@pytest.fixture
def seller(make_user):
    return make_user("seller", first_name="Sam", last_name="Seller")


@pytest.fixture
def make_template(db):
    from textdesk.messaging.models import MessageTemplate

    def make(owner, body="Hi {{ContactFirstName}}, this is {{UserFirstName}}.", category="contact", name=None):
        return MessageTemplate.objects.create(
            owner=owner, name=name or f"T{MessageTemplate.objects.count() + 1}", category=category, body=body
        )

    return make


@pytest.fixture
def make_sequence(manager, make_template):
    from textdesk.sequences import actions
    from textdesk.sequences.actions import StepInput

    def make(*kinds, name="Follow-up", wait=dt.timedelta(minutes=2)):
        steps = []
        for kind in kinds:
            if kind == "wait":
                steps.append(StepInput(kind="wait", wait=wait))
            elif kind in ("text_automated", "text_manual"):
                steps.append(StepInput(kind=kind, template_id=make_template(manager).pk))
            else:
                steps.append(StepInput(kind=kind))
        return actions.create_sequence(manager, name=name, steps=steps)

    return make
