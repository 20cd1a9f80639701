"""Which record an inbound text message belongs to (the seed's routing priority).

Candidates are every record whose phone fields hold the customer's number and
every record that already has a conversation with that number. The rules form
a cascade: each one only breaks the ties the previous ones left.

1. most recent conversation between the seller (the receiving number or its
   owner) and this customer;
2. owned by the user who owns the receiving number;
3. owned by a user who is a member of the team that owns the receiving number;
4. record type: contact, then account, then opportunity, then lead;
5. active before inactive;
6. most recently updated;
then, so the answer never depends on the order of the input, the lowest id.

The deciding rule is the one that narrowed the candidates down to one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import SupportsRichComparison

ONLY_CANDIDATE = "only_candidate"
MOST_RECENT_CONVERSATION = "most_recent_conversation"
OWNED_BY_NUMBER_OWNER = "owned_by_number_owner"
OWNED_BY_TEAM_MEMBER = "owned_by_team_member"
ENTITY_TYPE = "entity_type"
ACTIVE = "active"
MOST_RECENTLY_UPDATED = "most_recently_updated"
LOWEST_ID = "lowest_id"
NEW_LEAD = "new_lead"

RULES_IN_ORDER = (
    MOST_RECENT_CONVERSATION,
    OWNED_BY_NUMBER_OWNER,
    OWNED_BY_TEAM_MEMBER,
    ENTITY_TYPE,
    ACTIVE,
    MOST_RECENTLY_UPDATED,
    LOWEST_ID,
)

# Lower comes first.
ENTITY_ORDER = {"contact": 0, "account": 1, "opportunity": 2, "lead": 3}


@dataclass(frozen=True)
class Candidate:
    record_type: str
    record_id: int
    owner_user_id: int | None
    owner_team_id: int | None
    is_active: bool
    modified_at: dt.datetime
    # Latest message time of the record's conversation with this customer through the
    # receiving number (or another number of the same owner); None when there is none.
    last_conversation_at: dt.datetime | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.record_type, self.record_id)


@dataclass(frozen=True)
class ReceivingNumber:
    """The number the message was sent to, and who owns it."""

    owner_user_id: int | None = None
    owner_team_id: int | None = None
    team_member_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Decision:
    candidate: Candidate | None  # None: create a new lead
    rule: str


@dataclass(frozen=True)
class Talk:
    """A conversation the customer already has with a record, through one of our numbers."""

    record_type: str
    record_id: int
    sender_number_id: int
    last_message_at: dt.datetime | None


def with_talks(records: Iterable[Candidate], talks: Iterable[Talk], seller_numbers: frozenset[int]) -> list[Candidate]:
    """The candidates of a message: the records (matched by phone or by a conversation, listed once each), each
    with its latest conversation through the seller's numbers (the receiving number or another of its owner)."""
    latest: dict[tuple[str, int], dt.datetime] = {}
    for talk in talks:
        key = (talk.record_type, talk.record_id)
        at = talk.last_message_at
        if talk.sender_number_id in seller_numbers and at is not None and (key not in latest or at > latest[key]):
            latest[key] = at
    return [dataclasses.replace(r, last_conversation_at=latest.get(r.key)) for r in records]


# A sender that is not a phone number may still be a sender: an alphanumeric sender id (up to 11 letters, digits
# or spaces, e.g. a bank's "BANKCO") or a short code (digits only). Anything else cannot be answered nor named.
_SENDER_NAME = re.compile(r"[A-Za-z0-9 ]{1,11}|\+?[0-9]{1,15}")


def customer_of(raw: str, e164: str) -> str | None:
    """Who a message came from: its number in E.164 when it is one, else the sender as written when it is a sender
    name or a short code; None when it is neither (such a message is kept but routed nowhere)."""
    if e164:
        return e164
    raw = raw.strip()
    return raw if _SENDER_NAME.fullmatch(raw) else None


def _rule_scores(number: ReceivingNumber) -> list[tuple[str, Callable[[Candidate], SupportsRichComparison]]]:
    """Each rule as a score; higher is better. Scores are comparable within one rule."""
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)

    def _aware(value: dt.datetime | None) -> dt.datetime:
        if value is None:
            return epoch
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)

    return [
        (MOST_RECENT_CONVERSATION, lambda c: (c.last_conversation_at is not None, _aware(c.last_conversation_at))),
        (OWNED_BY_NUMBER_OWNER, lambda c: number.owner_user_id is not None and c.owner_user_id == number.owner_user_id),
        (
            OWNED_BY_TEAM_MEMBER,
            lambda c: number.owner_team_id is not None and c.owner_user_id in number.team_member_ids,
        ),
        (ENTITY_TYPE, lambda c: -ENTITY_ORDER.get(c.record_type, len(ENTITY_ORDER))),
        (ACTIVE, lambda c: c.is_active),
        (MOST_RECENTLY_UPDATED, lambda c: _aware(c.modified_at)),
        (LOWEST_ID, lambda c: (-c.record_id, c.record_type)),
    ]


def _later(a: dt.datetime | None, b: dt.datetime | None) -> bool:
    return a is not None and (b is None or a > b)


def choose_record(candidates: Iterable[Candidate], number: ReceivingNumber) -> Decision:
    """Pick the record for an inbound message and name the rule that decided."""
    # One record may be listed twice (phone match and conversation); keep its latest conversation.
    unique: dict[tuple[str, int], Candidate] = {}
    for candidate in candidates:
        seen = unique.get(candidate.key)
        if seen is None or _later(candidate.last_conversation_at, seen.last_conversation_at):
            unique[candidate.key] = candidate
    remaining: Sequence[Candidate] = sorted(unique.values(), key=lambda c: (c.record_type, c.record_id))
    if not remaining:
        return Decision(None, NEW_LEAD)
    if len(remaining) == 1:
        return Decision(remaining[0], ONLY_CANDIDATE)
    for rule, score in _rule_scores(number):
        best = max(score(c) for c in remaining)
        remaining = [c for c in remaining if score(c) == best]
        if len(remaining) == 1:
            return Decision(remaining[0], rule)
    raise AssertionError("the lowest-id rule always leaves one candidate")  # pragma: no cover
