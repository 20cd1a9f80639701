import pytest
from django.urls import reverse

from textdesk.messaging.actions.move import MoveRefused, move_conversations
from textdesk.messaging.models import Conversation, ConversationMove, Message


def test_move_account_to_contact_audits_and_pushes(scene, make_conversation, django_capture_on_commit_callbacks):
    from textdesk.live import bus

    conv = make_conversation(scene.account, scene.sam_line, "+14155550100", messages=[("inbound", "Hi", "received")])
    sub = bus.get_bus().subscribe([bus.user_channel(scene.sam.pk)])
    with django_capture_on_commit_callbacks(execute=True):
        moved = move_conversations(scene.sam, [conv], scene.alice)
    conv.refresh_from_db()
    assert moved == [conv] and conv.record_type == "contact" and conv.contact_id == scene.alice.pk
    assert conv.account_id is None and conv.record_key == scene.alice.record_key
    audit = ConversationMove.objects.get(conversation=conv)
    assert (audit.moved_by, audit.from_record_key, audit.to_record_key) == (
        scene.sam,
        scene.account.record_key,
        scene.alice.record_key,
    )
    assert sub.get(1) == (bus.user_channel(scene.sam.pk), {"event": "conversation.moved", "conversation_id": conv.pk})
    sub.close()


def test_move_merges_into_existing_thread(scene, make_conversation):
    source = make_conversation(
        scene.account, scene.sam_line, "+14155550134", messages=[("inbound", "From the account", "received")], unread=2
    )
    target = scene.conv  # Alice's conversation with the same customer and our number
    moved = move_conversations(scene.sam, [source], scene.alice)
    assert moved == [target]
    assert not Conversation.objects.filter(pk=source.pk).exists()
    assert Message.objects.filter(conversation=target).count() == 4
    target.refresh_from_db()
    assert target.unread_count == 3
    assert ConversationMove.objects.filter(conversation=target, from_record_key=scene.account.record_key).exists()


def test_move_refuses_invisible_conversation(scene, make_conversation):
    theirs = make_conversation(scene.account, scene.rui_line, "+14155550177", messages=[("inbound", "x", "received")])
    # Rui's number, but the account is Sam's: Sam sees it. Rui's own lead is invisible to Sam.
    from textdesk.crm.models import Lead

    lead = Lead.objects.create(last_name="Hidden", owner_user=scene.rui)
    hidden = make_conversation(lead, scene.rui_line, "+14155550188", messages=[("inbound", "y", "received")])
    with pytest.raises(MoveRefused) as refused:
        move_conversations(scene.sam, [theirs, hidden], scene.alice)
    assert refused.value.reason == "not_visible"
    theirs.refresh_from_db()
    assert theirs.record_type == "account"  # nothing moved


def test_move_requires_privilege(scene, make_user, make_conversation):
    from textdesk.org.models import User

    nobody = make_user("nobody", role=None)
    with pytest.raises(MoveRefused) as refused:
        move_conversations(User.objects.get(pk=nobody.pk), [scene.conv], scene.account)
    assert refused.value.reason == "permission"


def test_move_view(sam_client, scene, make_conversation):
    conv = make_conversation(scene.account, scene.sam_line, "+14155550100", messages=[("inbound", "Hi", "received")])
    response = sam_client.post(
        reverse("move_conversations"),
        {"conversation": [conv.pk], "target": scene.alice.record_key},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith(f"/records/contact/{scene.alice.pk}/?pane=1")
    conv.refresh_from_db()
    assert conv.contact_id == scene.alice.pk


def test_move_view_404_for_invisible(client, scene):
    client.force_login(scene.rui)
    response = client.post(
        reverse("move_conversations"), {"conversation": [scene.conv.pk], "target": scene.account.record_key}
    )
    assert response.status_code == 404
    scene.conv.refresh_from_db()
    assert scene.conv.contact_id == scene.alice.pk


def test_move_view_bad_target(sam_client, scene):
    response = sam_client.post(reverse("move_conversations"), {"conversation": [scene.conv.pk], "target": "nope:1"})
    assert response.status_code == 404
