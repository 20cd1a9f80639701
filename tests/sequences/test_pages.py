"""The seller's pages: the work list and the "Up next" widget, through real requests."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.urls import reverse

from textdesk.sequences import actions
from textdesk.sequences.models import SequenceConnection

from .conftest import T0

pytestmark = pytest.mark.django_db


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _names(html: str) -> list[str]:
    return re.findall(r'class="record" href="[^"]+">([^<]+)</a>', html)


def test_work_list_shows_my_records_by_due_time_with_filters(seller, make_user, make_record, make_sequence):
    calls = make_sequence("call", name="Calls")
    texts = make_sequence("text_manual", name="Texts")
    b = make_record("contact", seller, last_name="Bravo")
    a = make_record("lead", seller, last_name="Alpha")
    hidden = make_record("contact", make_user("other"), last_name="Hidden")
    actions.connect(seller, calls.pk, [b.record_key], now=T0 + dt.timedelta(hours=1))
    actions.connect(seller, texts.pk, [a.record_key], now=T0)
    actions.connect(hidden.owner_user, calls.pk, [hidden.record_key], now=T0)

    client = _login(seller)
    page = client.get(reverse("sequences:work_list")).content.decode()
    assert _names(page) == ["Alpha", "Bravo"]
    assert page.count('class="message-icon"') == 1  # only the text step carries the message icon
    assert "Hidden" not in page
    only_calls = client.get(reverse("sequences:work_list"), {"step": "call"}).content.decode()
    assert _names(only_calls) == ["Bravo"]
    only_leads = client.get(reverse("sequences:work_list"), {"type": "lead"}).content.decode()
    assert _names(only_leads) == ["Alpha"]
    fragment = client.get(reverse("sequences:work_list"), HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in fragment and _names(fragment) == ["Alpha", "Bravo"]
    assert Client().get(reverse("sequences:work_list")).status_code == 302  # login first


def test_up_next_mark_done_and_skip_move_the_record_on(seller, make_record, make_sequence):
    sequence = make_sequence("call", "email", "wait")
    record = make_record("account", seller, name="Acme")
    actions.connect(seller, sequence.pk, [record.record_key], now=T0)
    conn = SequenceConnection.objects.get()
    client = _login(seller)
    url = reverse("sequences:record", args=[record.record_key])
    page = client.get(url).content.decode()
    assert 'data-step-kind="call"' in page and "Mark done" in page

    resp = client.post(reverse("sequences:complete", args=[conn.pk]), {"step_id": conn.current_step_id, "next": url})
    assert resp.status_code == 302 and resp["Location"] == url
    conn.refresh_from_db()
    assert conn.current_step.kind == "email"
    # A stale page (the old step id) is refused with 409 and shows why.
    stale = client.post(reverse("sequences:skip", args=[conn.pk]), {"step_id": conn.current_step_id - 1})
    assert stale.status_code == 409 and "no longer the current one" in stale.content.decode()
    fragment = client.post(
        reverse("sequences:skip", args=[conn.pk]), {"step_id": conn.current_step_id}, HTTP_HX_REQUEST="true"
    )
    assert fragment.status_code == 200 and 'data-step-kind="wait"' in fragment.content.decode()
    assert "Waiting until" in fragment.content.decode()


def test_text_step_opens_a_composer_prefilled_with_the_template(
    seller, manager, make_record, make_template, make_sender_number
):
    number = make_sender_number(owner=seller)
    template = make_template(manager, body="Hi {{ContactFirstName}}, {{UserFirstName}} here from {{AccountName}}.")
    sequence = actions.create_sequence(
        manager, name="Texts", steps=[actions.StepInput(kind="text_manual", template_id=template.pk)]
    )
    record = make_record("contact", seller, first_name="Alice", mobile_phone="+14155550134")
    actions.connect(seller, sequence.pk, [record.record_key], now=T0)
    page = _login(seller).get(reverse("sequences:record", args=[record.record_key])).content.decode()
    assert "data-open-composer" in page
    assert "Hi Alice, Sam here from .</textarea>" in page
    assert f'<option value="{number.pk}" selected>' in page
    assert '<option value="+14155550134">' in page


def test_someone_elses_record_is_not_found(seller, make_user, make_record, make_sequence):
    sequence = make_sequence("call")
    other = make_user("other")
    record = make_record("contact", other)
    actions.connect(other, sequence.pk, [record.record_key], now=T0)
    conn = SequenceConnection.objects.get()
    client = _login(seller)
    assert client.get(reverse("sequences:record", args=[record.record_key])).status_code == 404
    assert client.get(reverse("sequences:up_next", args=[record.record_key])).status_code == 404
    assert client.post(reverse("sequences:complete", args=[conn.pk]), {}).status_code == 404
    assert client.post(reverse("sequences:disconnect", args=[conn.pk]), {}).status_code == 404
    assert client.get(reverse("sequences:record", args=["nonsense"])).status_code == 404
    conn.refresh_from_db()
    assert conn.state == "active"


def test_connect_from_the_record_page(seller, make_record, make_sequence):
    sequence = make_sequence("call", name="Calls")
    record = make_record("lead", seller)
    client = _login(seller)
    page = client.get(reverse("sequences:record", args=[record.record_key])).content.decode()
    assert "not in a sequence" in page and f'<option value="{sequence.pk}">Calls</option>' in page
    resp = client.post(
        reverse("sequences:connect"), {"record_key": record.record_key, "sequence": sequence.pk}, HTTP_HX_REQUEST="true"
    )
    assert resp.status_code == 200 and 'data-step-kind="call"' in resp.content.decode()
    again = client.post(reverse("sequences:connect"), {"record_key": record.record_key, "sequence": sequence.pk})
    assert again.status_code == 409
    assert SequenceConnection.objects.count() == 1


def test_up_next_template_tag_renders_on_any_page(seller, make_record, make_sequence, rf):
    from django.template import Context, Template

    sequence = make_sequence("email")
    record = make_record("contact", seller)
    actions.connect(seller, sequence.pk, [record.record_key], now=T0)
    request = rf.get("/somewhere/")
    request.user = seller
    html = Template("{% load sequences %}{% up_next record %}").render(Context({"request": request, "record": record}))
    assert f'data-up-next="{record.record_key}"' in html and 'data-step-kind="email"' in html


def test_draft_of_the_text_step_for_a_conversation_pane(
    seller, manager, make_record, make_template, make_sender_number
):
    number = make_sender_number(owner=seller)
    template = make_template(manager, body="Hello {{ContactFirstName}}")
    sequence = actions.create_sequence(
        manager,
        name="T",
        steps=[actions.StepInput(kind="text_manual", template_id=template.pk), actions.StepInput(kind="call")],
    )
    record = make_record("contact", seller, first_name="Ana", business_phone="+14155550100")
    actions.connect(seller, sequence.pk, [record.record_key], now=T0)
    conn = SequenceConnection.objects.get()
    client = _login(seller)
    draft = client.get(reverse("sequences:draft", args=[conn.pk])).json()
    assert {k: v for k, v in draft.items() if not k.startswith("pane_")} == {
        "connection_id": conn.pk,
        "step_id": conn.current_step_id,
        "record_key": record.record_key,
        "body": "Hello Ana",
        "sender_number_id": number.pk,
        "to_number": "+14155550100",
        "send_url": reverse("sequences:send", args=[conn.pk]),
    }
    actions.skip_step(seller, conn.pk)
    assert client.get(reverse("sequences:draft", args=[conn.pk])).status_code == 409


def test_deleting_a_step_where_a_disconnected_record_stopped(manager, seller, make_record):
    sequence = actions.create_sequence(
        manager, name="S", steps=[actions.StepInput(kind="call"), actions.StepInput(kind="email")]
    )
    [r] = actions.connect(seller, sequence.pk, [make_record("contact", seller).record_key], now=T0)
    actions.disconnect(seller, r.connection_id, now=T0)
    first = sequence.steps.get(order=1)
    actions.delete_step(manager, first.pk)
    assert [s.kind for s in sequence.steps.all()] == ["email"]
    assert SequenceConnection.objects.get().current_step is None


def test_a_refused_send_shows_the_reason_and_fix_and_keeps_the_step(
    seller, make_record, make_sequence, make_sender_number
):
    from textdesk.messaging.actions.consent import ALL_NUMBERS, record_consent
    from textdesk.messaging.models import Message

    number = make_sender_number(owner=seller)
    record_consent("+14155550134", ALL_NUMBERS, "opt_out", "keyword")
    sequence = make_sequence("text_manual", "call")
    record = make_record("contact", seller, mobile_phone="+14155550134")
    actions.connect(seller, sequence.pk, [record.record_key], now=T0)
    conn = SequenceConnection.objects.get()
    resp = _login(seller).post(
        reverse("sequences:send", args=[conn.pk]),
        {"step_id": conn.current_step_id, "sender_number": number.pk, "to_number": "+14155550134", "body": "Hello"},
    )
    assert resp.status_code == 422
    assert "START" in resp.content.decode()  # the fix: ask the customer to text START
    conn.refresh_from_db()
    assert conn.current_step.kind == "text_manual" and conn.history.count() == 0
    assert not Message.objects.exists()


def test_sending_the_text_step_from_up_next_moves_on(seller, make_record, make_sequence, make_sender_number):
    from textdesk.messaging.models import Message

    number = make_sender_number(owner=seller)
    sequence = make_sequence("text_manual", "call")
    record = make_record("contact", seller, mobile_phone="+14155550134")
    actions.connect(seller, sequence.pk, [record.record_key], now=T0)
    conn = SequenceConnection.objects.get()
    resp = _login(seller).post(
        reverse("sequences:send", args=[conn.pk]),
        {"step_id": conn.current_step_id, "sender_number": number.pk, "to_number": "+14155550134", "body": "Hello"},
        HTTP_HX_REQUEST="true",
    )
    assert resp.status_code == 200 and 'data-step-kind="call"' in resp.content.decode()
    [message] = Message.objects.all()
    assert (message.body, message.author_id, message.to_number) == ("Hello", seller.pk, "+14155550134")


def _web_pane_installed() -> bool:
    from django.urls import NoReverseMatch, reverse

    try:
        reverse("record_pane", args=["contact", 1])
    except NoReverseMatch:
        return False
    return True


@pytest.mark.skipif(not _web_pane_installed(), reason="needs the web app's conversation pane")
def test_the_web_pane_sends_the_step_and_answers_with_itself(seller, make_record, make_sequence, make_sender_number):
    from textdesk.messaging.actions.consent import ALL_NUMBERS, record_consent
    from textdesk.messaging.models import Message

    number = make_sender_number(owner=seller)
    sequence = make_sequence("text_manual", "call")
    ok = make_record("contact", seller, mobile_phone="+14155550134")
    blocked = make_record("contact", seller, mobile_phone="+14155550135")
    record_consent("+14155550135", ALL_NUMBERS, "opt_out", "keyword")
    actions.connect(seller, sequence.pk, [ok.record_key, blocked.record_key], now=T0)
    client = _login(seller)
    ok_conn = SequenceConnection.objects.get(record_key=ok.record_key)
    blocked_conn = SequenceConnection.objects.get(record_key=blocked.record_key)
    draft = client.get(reverse("sequences:draft", args=[ok_conn.pk])).json()
    assert draft["pane_url"] and draft["pane_send_url"] == reverse("sequences:pane_send", args=[ok_conn.pk])

    refused = client.post(
        reverse("sequences:pane_send", args=[blocked_conn.pk]),
        {"step_id": blocked_conn.current_step_id, "from": number.pk, "to": "+14155550135", "body": "Hi"},
        HTTP_HX_REQUEST="true",
    )
    assert refused.status_code == 422 and "START" in refused.content.decode()
    blocked_conn.refresh_from_db()
    assert blocked_conn.current_step.kind == "text_manual"

    sent = client.post(
        reverse("sequences:pane_send", args=[ok_conn.pk]),
        {"step_id": ok_conn.current_step_id, "from": number.pk, "to": "+14155550134", "body": "Hi"},
        HTTP_HX_REQUEST="true",
    )
    assert sent.status_code == 200 and sent["HX-Trigger"] == "sequence-changed"
    assert "data-composer" in sent.content.decode()  # the pane itself, on the new conversation
    ok_conn.refresh_from_db()
    assert ok_conn.current_step.kind == "call"
    assert Message.objects.get().conversation.record_key == ok.record_key
