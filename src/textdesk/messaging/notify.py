"""Who hears about a conversation: the users who can see it and should be told live."""

from __future__ import annotations

from textdesk.messaging.models import Conversation


def number_audience(sender_number) -> set[int]:
    """The receiving number's owner, or the members of its owning team."""
    if sender_number is None:
        return set()
    if sender_number.owner_user_id:
        return {sender_number.owner_user_id}
    return set(sender_number.owner_team.members.values_list("id", flat=True))


def conversation_audience(conversation: Conversation) -> set[int]:
    """Users to push live updates of this conversation to: number owners and record owners."""
    users = number_audience(conversation.sender_number)
    record = conversation.record
    if record is not None:
        if record.owner_user_id:
            users.add(record.owner_user_id)
        elif record.owner_team_id:
            users |= set(record.owner_team.members.values_list("id", flat=True))
    return users
