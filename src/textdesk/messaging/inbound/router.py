"""Routing of stored inbound messages to their record and conversation (the worker side): one pipeline.

The webhook stored each message as ``routing_state="pending"``. A worker claims a batch of them (rows locked by
another worker are skipped on PostgreSQL) and, in one transaction:

1. reads our numbers; a message sent to a number that is not ours, or from a sender that is neither a phone
   number nor a sender name, is kept as ``failed`` and the administrators are told why;
2. locks the customers (two workers never create two leads for one new number) and splits the messages into
   rounds, a customer's first message in the first round, their second in the second, …, so that each sees
   what the one before created;
3. for each round: decides every message (:func:`rank_by_rules` over one :class:`.snapshot.Snapshot`, or the
   same rules as one PostgreSQL statement, :func:`.routing_sql.choose`: both answer with
   :class:`~textdesk.domain.routing.Decision`), reads who hears about the results (:class:`.snapshot.People`),
   and hands both to the one writer (:func:`.writer.write`), which writes everything a routed message changes;
   live events leave after commit.

If routing raises, the batch is rolled back and routed again with a savepoint per message: the one that cannot
be routed is marked failed, the others commit. If a process dies mid-way the transaction rolls back and the
messages are still pending, so the next pass routes them: nothing is lost and nothing is routed twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import OperationalError, transaction
from django.utils.translation import gettext as _

from textdesk.domain.routing import Decision, ReceivingNumber, choose_record, with_talks
from textdesk.domain.visibility import Ownership
from textdesk.jobs import queue
from textdesk.messaging.inbound import routing_sql, snapshot, writer
from textdesk.messaging.inbound.notices import mark_failed
from textdesk.messaging.inbound.snapshot import Claimed, Routable, Snapshot, read_people, read_snapshot
from textdesk.messaging.models import Direction, Message, RoutingState

log = logging.getLogger(__name__)

Ranker = Callable[[list[Routable]], dict[int, Decision]]

# Messages routed per transaction: large enough to spread the commit and the shared reads, small enough that
# the row and advisory locks are held briefly. On PostgreSQL a batch of 200 routes set-based in ~40 ms of machine
# time (0.42 against 0.56 ms per message with batches of 50); on SQLite every batch holds the single write lock
# that webhooks wait for, so it stays small.
BATCH_POSTGRESQL = 200
BATCH_SQLITE = 50


def batch_size() -> int:
    return BATCH_POSTGRESQL if routing_sql.available() else BATCH_SQLITE


# ---------------------------------------------------------------- the poller


def route_pending(worker_id: str = "", limit: int | None = None) -> int:
    """Route up to ``limit`` (default: one batch) pending inbound messages, a batch per transaction; returns how
    many were handled."""
    size = batch_size()
    limit = size if limit is None else limit
    handled = 0
    while handled < limit:
        wanted = min(size, limit - handled)
        done = route_batch(wanted)
        handled += done
        if done < wanted:
            break  # none left when it claimed (or other workers hold them): no empty claim to find that out again
    return handled


def route_batch(size: int | None = None) -> int:
    """Claim up to ``size`` pending messages and route them in one transaction; returns how many were handled.

    The common case takes no savepoints. If routing one of them raises, the whole batch rolls back and its
    messages are routed again, each in a savepoint of its own (:func:`_route_with_savepoints`): the bad one is
    marked failed and the administrators are told, the others are routed. A database that is unreachable or busy
    (``OperationalError``) rolls back the whole batch: the messages stay pending for the next pass.
    """
    size = batch_size() if size is None else size
    claimed: list[Claimed] = []
    if not queue.may_have_work(_pending()):
        return 0
    try:
        with transaction.atomic():
            claimed = routing_sql.claim(size) if routing_sql.available() else _claim(size)
            route(claimed)
        return len(claimed)
    except OperationalError:
        raise
    except Exception:
        if not claimed:
            raise
        log.warning("routing a batch of %s messages failed; routing them one by one", len(claimed), exc_info=True)
        return _route_with_savepoints([m.id for m in claimed])


def route_message(message: Message) -> None:
    """Route one claimed message (the caller holds the transaction and the row lock)."""
    route([Claimed.of(message)])


def _pending():
    return Message.objects.filter(routing_state=RoutingState.PENDING, direction=Direction.INBOUND)


_CLAIMED_FIELDS = ("id", "from_number", "to_number", "body", "provider_status", "created_at")


def _claim(size: int) -> list[Claimed]:
    rows = _pending().select_for_update(skip_locked=True).order_by("id").values_list(*_CLAIMED_FIELDS)[:size]
    return [Claimed(*row) for row in rows]


def _route_with_savepoints(message_ids: list[int]) -> int:
    """Route the given messages (those still pending) in one transaction, a savepoint each."""
    with transaction.atomic():
        claimed = [
            Claimed(*row)
            for row in _pending()
            .select_for_update(skip_locked=True)
            .filter(pk__in=message_ids)
            .order_by("id")
            .values_list(*_CLAIMED_FIELDS)
        ]
        for message in claimed:
            try:
                with transaction.atomic():
                    route([message])
            except OperationalError:
                raise
            except Exception:
                # A message that cannot be routed must not block the ones behind it, nor be lost.
                log.exception("routing message %s failed; marking it for an administrator", message.id)
                with transaction.atomic():
                    mark_failed([(message, lambda: _("An error occurred while routing it."))])
    return len(claimed)


# ---------------------------------------------------------------- the pipeline


def ranker() -> Ranker:
    """The set-based ranker where the database runs it, else the rules over a snapshot."""
    return routing_sql.choose if routing_sql.available() else rank_by_rules


def route(claimed: list[Claimed]) -> None:
    """Route claimed messages inside the caller's transaction (see the module's docstring)."""
    rank = ranker()
    numbers = snapshot.read_numbers({snapshot.dialled_number(m) for m in claimed})
    failed = []
    rounds: list[list[Routable]] = []
    turns: dict[str, int] = {}  # customer → messages of theirs placed in rounds so far
    for message in claimed:
        number = numbers.get(snapshot.dialled_number(message))
        if number is None:
            failed.append((message, _not_ours(message)))
            continue
        customer = snapshot.customer(message, number)
        if customer is None:
            failed.append((message, _not_a_sender(message)))
            continue
        turn = turns.get(customer, 0)
        turns[customer] = turn + 1
        if turn == len(rounds):
            rounds.append([])
        rounds[turn].append(Routable(message, number, customer))
    mark_failed(failed)
    snapshot.lock_customers(sorted(turns))
    for chosen in rounds:
        decisions = rank(chosen)
        decided = [(r, decisions[r.message.id]) for r in chosen]
        writer.write(decided, read_people(*_owners(decided)))


def _not_ours(message: Claimed):
    return lambda: _("%(number)s is not one of our sender numbers.") % {"number": message.to_number}


def _not_a_sender(message: Claimed):
    return lambda: (
        _("The sender %(sender)s is not a phone number; no lead was created.") % {"sender": message.from_number}
    )


def _owners(decided: list[tuple[Routable, Decision]]) -> tuple[list[Ownership], list[Ownership]]:
    """The owners of the round's numbers, and of its records (a new lead's is its number's)."""
    numbers = [r.number.ownership for r, _ in decided]
    records = [
        Ownership(d.candidate.owner_user_id, d.candidate.owner_team_id) for _, d in decided if d.candidate is not None
    ]
    return numbers, records


# ---------------------------------------------------------------- the rules, in Python


def rank_by_rules(chosen: list[Routable]) -> dict[int, Decision]:
    """Each message's decision by :func:`textdesk.domain.routing.choose_record`, over one snapshot of the round."""
    seen = read_snapshot(chosen)
    return {r.message.id: decide(seen, r) for r in chosen}


def decide(seen: Snapshot, r: Routable) -> Decision:
    """Where one message goes, by the rules, from what the snapshot holds (no query)."""
    number = r.number
    candidates = with_talks(seen.records[r.customer], seen.talks[r.customer], seen.seller_numbers[number.id])
    members: frozenset[int] = frozenset()
    if number.owner_team_id and not number.owner_user_id:
        members = seen.team_members.get(number.owner_team_id, frozenset())
    return choose_record(candidates, ReceivingNumber(number.owner_user_id, number.owner_team_id, members))
