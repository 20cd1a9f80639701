"""Move conversations to another CRM record (across record types), merging when the target has the same thread."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from textdesk import errors
from textdesk.crm import record_types
from textdesk.live import bus
from textdesk.messaging.models import Conversation, ConversationMove, Message, Notification
from textdesk.messaging.notify import conversation_audience
from textdesk.messaging.visibility import visible_conversations


class MoveRefused(errors.Refusal):
    """The move was not done; ``message`` says why in words the user can act on; ``reason`` fixes the status."""

    STATUS_BY_REASON = {"permission": 403, "target": 404, "not_visible": 404, "empty": 422}

    def __init__(self, reason: str, message) -> None:
        super().__init__(str(message), code=f"move_{reason}")
        self.reason = reason
        self.status = self.STATUS_BY_REASON.get(reason, 422)


def _merge_summary(into: Conversation, other: Conversation) -> None:
    into.unread_count += other.unread_count
    if other.last_message_at and (into.last_message_at is None or other.last_message_at > into.last_message_at):
        into.last_message_at = other.last_message_at
        into.last_message_preview = other.last_message_preview
        into.last_direction = other.last_direction
        into.last_status = other.last_status


@transaction.atomic
def move_conversations(user, conversations: Iterable[Conversation], target_record) -> list[Conversation]:
    """Attach each conversation to ``target_record``; returns the conversations now on the target.

    When the target already has a conversation with the same customer number and our
    number, the messages join it (the unique binding allows one thread per pair) and the
    moved conversation disappears. Every move leaves a ConversationMove audit row.
    """
    if not user.has_perm("org.move_conversations"):
        raise MoveRefused(
            "permission",
            _("You do not have the privilege to move conversations. Ask your administrator for the Salesperson role."),
        )
    if not user.has_perm(f"crm.view_{target_record.record_type}"):
        raise MoveRefused("target", _("You cannot see the record you chose."))
    ids = sorted({c.pk for c in conversations})
    if not ids:
        raise MoveRefused("empty", _("Select at least one conversation to move."))
    visible_ids = set(visible_conversations(user).filter(pk__in=ids).values_list("pk", flat=True))
    if visible_ids != set(ids):
        raise MoveRefused("not_visible", _("One of the conversations does not exist or is not visible to you."))

    target_key = target_record.record_key
    moved: list[Conversation] = []
    for conv in Conversation.objects.select_for_update().filter(pk__in=ids).order_by("pk"):
        if conv.record_key == target_key:
            moved.append(conv)
            continue
        from_key = conv.record_key
        audience = conversation_audience(conv)
        existing = (
            Conversation.objects.select_for_update()
            .filter(record_key=target_key, customer_e164=conv.customer_e164, sender_number_id=conv.sender_number_id)
            .first()
        )
        if existing is not None:
            Message.objects.filter(conversation=conv).update(conversation=existing)
            Notification.objects.filter(conversation=conv).update(conversation=existing)
            ConversationMove.objects.filter(conversation=conv).update(conversation=existing)
            _merge_summary(existing, conv)
            existing.save(
                update_fields=[
                    "unread_count",
                    "last_message_at",
                    "last_message_preview",
                    "last_direction",
                    "last_status",
                ]
            )
            conv.delete()
            result = existing
        else:
            conv.set_record(target_record)
            conv.save(update_fields=["record_type", *record_types.LINK_FIELDS, "record_key"])
            result = conv
        ConversationMove.objects.create(
            conversation=result, moved_by=user, from_record_key=from_key, to_record_key=target_key
        )
        audience |= conversation_audience(result)
        bus.notify_users_on_commit(audience, "conversation.moved", {"conversation_id": result.pk})
        moved.append(result)
    return moved
