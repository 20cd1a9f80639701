"""Sending from the pane goes through messaging.actions.outbound.send_message; refusals are shown in place."""

import pytest
from django.urls import reverse

pytest.importorskip("textdesk.messaging.outbound.send")

HX = {"HTTP_HX_REQUEST": "true"}


def test_send_queues_the_message_and_shows_it(sam_client, scene):
    from textdesk.messaging.models import Message

    response = sam_client.post(
        reverse("send", args=["contact", scene.alice.pk]),
        {"to": "+14155550134", "from": scene.sam_line.pk, "body": "See you at 10"},
        **HX,
    )
    assert response.status_code == 200
    message = Message.objects.get(body="See you at 10")
    assert message.conversation_id == scene.conv.pk and message.author == scene.sam
    body = response.content.decode()
    assert "See you at 10" in body and "data-send-error" not in body


def test_send_refused_for_opted_out_customer_keeps_the_draft(sam_client, scene):
    from textdesk.messaging.actions.consent import record_consent
    from textdesk.messaging.models import Message

    record_consent("+14155550134", "*", "opt_out", "keyword")
    before = Message.objects.count()
    response = sam_client.post(
        reverse("send", args=["contact", scene.alice.pk]),
        {"to": "+14155550134", "from": scene.sam_line.pk, "body": "Are you there?"},
        **HX,
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert "data-send-error" in body and "Are you there?" in body and "START" in body
    assert Message.objects.count() == before


def test_cannot_send_from_someone_elses_number(sam_client, scene):
    from textdesk.messaging.models import Message

    before = Message.objects.count()
    response = sam_client.post(
        reverse("send", args=["contact", scene.alice.pk]),
        {"to": "+14155550134", "from": scene.rui_line.pk, "body": "Hi"},
        **HX,
    )
    # Rui's number is not Sam's: refused, never silently sent from another number than the one chosen.
    assert response.status_code == 422
    assert "You cannot send from the number chosen." in response.content.decode()
    assert Message.objects.count() == before


def test_send_refusal_is_translated(sam_client, scene):
    scene.sam.language = "es"
    scene.sam.save()
    response = sam_client.post(
        reverse("send", args=["contact", scene.alice.pk]),
        {"to": "+14155550134", "from": scene.sam_line.pk, "body": "   "},
        **HX,
    )
    assert response.status_code == 422
    assert "El mensaje está vacío" in response.content.decode()
