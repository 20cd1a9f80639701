"""The reply box follows the conversation on screen (customer and sender number), says so, and only changes
when the seller chooses; templates, routing explanations, live reading and opt-out around it."""

import pytest
from django.urls import reverse

pytest.importorskip("textdesk.messaging.outbound.send")

HX = {"HTTP_HX_REQUEST": "true"}


def _selected(body: str, select_id: str) -> str:
    options = body.split(f'id="{select_id}"')[1].split("</select>")[0]
    return options.split(" selected>")[0].rsplit('value="', 1)[1].split('"')[0]


def test_a_conversation_moved_onto_a_record_is_answered_on_its_own_number(sam_client, scene, make_conversation):
    """The history shows +14155550100 on Dana's lead: To is that number, not Dana's own mobile."""
    from textdesk.messaging.models import Message

    dana = make_record_lead(scene)
    moved = make_conversation(
        dana, scene.sam_line, "+14155550100", messages=[("inbound", "Office line here", "received")]
    )
    url = reverse("record_pane", args=["lead", dana.pk])
    body = sam_client.get(f"{url}?c={moved.pk}", **HX).content.decode()
    assert _selected(body, "pane-to") == "+14155550100"
    assert "Replying in this conversation: to +14155550100, from Sam&#x27;s line (+14155550001)." in body
    response = sam_client.post(
        reverse("send", args=["lead", dana.pk]),
        {"to": "+14155550100", "from": scene.sam_line.pk, "c": moved.pk, "body": "Back to you"},
        **HX,
    )
    assert response.status_code == 200
    sent = Message.objects.get(body="Back to you")
    assert (sent.to_number, sent.conversation_id) == ("+14155550100", moved.pk)


def make_record_lead(scene):
    from textdesk.crm.models import Lead

    return Lead.objects.create(
        first_name="Dana", last_name="Silva", mobile_phone="+1 415 555 0177", owner_user=scene.sam
    )


def test_changing_the_customer_number_is_an_explicit_choice_that_says_so(sam_client, scene, make_conversation):
    dana = make_record_lead(scene)
    moved = make_conversation(dana, scene.sam_line, "+14155550100", messages=[("inbound", "Hi", "received")])
    url = reverse("record_pane", args=["lead", dana.pk])
    body = sam_client.get(f"{url}?to=%2B14155550177&from={scene.sam_line.pk}&c={moved.pk}", **HX).content.decode()
    assert _selected(body, "pane-to") == "+14155550177"
    assert "New conversation: to +1 415 555 0177" in body
    assert "Office line" not in body and 'data-conversation-id="%d"' % moved.pk not in body


def test_another_teams_line_is_not_silently_replaced(sam_client, scene, make_conversation):
    """A conversation on Rui's line shows on Sam's record: Sam must choose one of his numbers, and says so."""
    from textdesk.messaging.models import Message

    conv = make_conversation(
        scene.alice, scene.rui_line, "+14155550134", messages=[("inbound", "Wrote to Rui's number", "received")]
    )
    conv.last_message_at = conv.last_message_at.replace(year=conv.last_message_at.year + 1)
    conv.save()
    url = reverse("record_pane", args=["contact", scene.alice.pk])
    body = sam_client.get(f"{url}?c={conv.pk}", **HX).content.decode()
    assert "data-foreign-line" in body and "+14155550009" in body
    assert _selected(body, "pane-from") == ""
    before = Message.objects.count()
    response = sam_client.post(
        reverse("send", args=["contact", scene.alice.pk]),
        {"to": "+14155550134", "from": "", "c": conv.pk, "body": "Which number?"},
        **HX,
    )
    assert response.status_code == 422 and "You cannot reply from +14155550009" in response.content.decode()
    assert Message.objects.count() == before
    # Choosing Sam's line is the explicit choice: the reply leaves from it, in Sam's conversation.
    body = sam_client.get(f"{url}?to=%2B14155550134&from={scene.sam_line.pk}", **HX).content.decode()
    assert "data-foreign-line" not in body and _selected(body, "pane-from") == str(scene.sam_line.pk)


def test_templates_come_in_the_users_language_then_the_contacts_country(sam_client, scene):
    from textdesk.messaging.models import MessageTemplate

    for name, language in [("Aaa olá", "pt-br"), ("Bbb hola", "es"), ("Zzz hello", "en")]:
        MessageTemplate.objects.create(owner=scene.sam, name=name, category="contact", language=language, body="x")
    url = reverse("record_pane", args=["contact", scene.alice.pk])
    body = sam_client.get(url, **HX).content.decode()
    assert body.index("Zzz hello") < body.index("Aaa olá") and body.index("Zzz hello") < body.index("Bbb hola")
    scene.alice.country = "ES"
    scene.alice.save()
    scene.sam.language = "pt-br"
    scene.sam.save()
    body = sam_client.get(url, **HX).content.decode()
    assert body.index("Aaa olá") < body.index("Bbb hola") < body.index("Zzz hello")


def test_why_is_this_message_here_names_what_really_decided(sam_client, scene, make_conversation, make_record):
    """A single candidate that only had a conversation is not "the only record with this phone number"."""
    opp_conv = make_conversation(
        scene.opp,
        scene.sam_line,
        "+14155550188",
        messages=[("inbound", "About the fleet", "received", {"routing_rule": "only_candidate"})],
    )
    pat = make_record("contact", scene.sam, first_name="Pat", mobile_phone="+1 415 555 0166")
    phone_conv = make_conversation(
        pat,
        scene.sam_line,
        "+14155550166",
        messages=[("inbound", "Pat here", "received", {"routing_rule": "only_candidate"})],
    )
    body = sam_client.get(reverse("conversation_history", args=[opp_conv.pk])).content.decode()
    assert "only record already in a conversation with this number" in body
    assert "only record with this phone number" not in body
    body = sam_client.get(reverse("conversation_history", args=[phone_conv.pk])).content.decode()
    assert "the only record with this phone number" in body


def test_a_reply_seen_live_in_the_open_pane_is_not_unread(sam_client, scene):
    from textdesk.messaging.models import Notification

    Notification.objects.create(user=scene.sam, kind="inbound_message", title="New", conversation=scene.conv)
    history = reverse("conversation_history", args=[scene.conv.pk])
    sam_client.get(f"{history}?seen=0", **HX)  # the pane in a hidden tab: still unread
    scene.conv.refresh_from_db()
    assert scene.conv.unread_count == 1
    sam_client.get(f"{history}?seen=1", **HX)
    scene.conv.refresh_from_db()
    assert scene.conv.unread_count == 0
    assert not Notification.objects.filter(user=scene.sam, read_at__isnull=True).exists()


def test_the_live_history_carries_the_opt_out_banner(sam_client, scene):
    from textdesk.messaging.actions.consent import record_consent

    history = reverse("conversation_history", args=[scene.conv.pk])
    body = sam_client.get(f"{history}?seen=1", **HX).content.decode()
    assert 'id="pane-optout" hx-swap-oob="true"' in body and "data-opted-out" not in body
    record_consent("+14155550134", "*", "opt_out", "keyword")
    body = sam_client.get(f"{history}?seen=1", **HX).content.decode()
    assert "data-opted-out" in body and "START" in body


def test_send_button_is_disabled_while_sending(sam_client, scene):
    body = sam_client.get(reverse("conversation_pane", args=[scene.conv.pk]), **HX).content.decode()
    assert 'hx-disabled-elt="find button[type=submit]"' in body
