"""The REST lists at any size: keyset cursors that are complete and stable, capped counts, and ``?search=``
on conversations, messages and records, always through the visibility rule."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from textdesk.messaging.models import Conversation, Message


def _conversation(record, line, customer, bodies, at):
    conv = Conversation(customer_e164=customer, sender_number=line, last_message_at=at)
    conv.set_record(record)
    conv.save()
    for i, body in enumerate(bodies):
        m = Message.objects.create(
            conversation=conv,
            direction="inbound" if i % 2 else "outbound",
            provider_account=line.provider_account,
            sender_number=line,
            from_number=customer,
            to_number=line.e164,
            body=body,
            status="received" if i % 2 else "sent",
        )
        Message.objects.filter(pk=m.pk).update(created_at=at - dt.timedelta(seconds=len(bodies) - i))
    return conv


@pytest.fixture
def world(make_user, make_sender_number, make_record):
    sam, rui = make_user("sam"), make_user("rui")
    sam_line, rui_line = make_sender_number("+14155550001", owner=sam), make_sender_number("+14155550009", owner=rui)
    now = timezone.now()
    sams = []
    for i in range(23):
        contact = make_record(
            "contact", sam, first_name="Joana", last_name=f"Silva{i}", mobile_phone=f"+1415555{7000 + i}"
        )
        at = now - dt.timedelta(minutes=i // 2)  # pairs share an instant
        sams.append(_conversation(contact, sam_line, f"+1415555{7000 + i}", [f"pedido {i} enviado", "obrigado"], at))
    ruis = []
    for i in range(5):
        contact = make_record("contact", rui, first_name="Joana", last_name=f"Other{i}")
        ruis.append(_conversation(contact, rui_line, f"+1415555{8000 + i}", ["pedido secreto", "obrigado"], now))
    return type("World", (), dict(sam=sam, rui=rui, sams=sams, ruis=ruis))


def _all(api, path, **params):
    items, cursor = [], None
    while True:
        page = api.get(path, **params, **({"cursor": cursor} if cursor else {})).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items, page


def test_conversation_pages_follow_cursors_to_the_end(client_for, world):
    api = client_for(world.sam)
    items, last = _all(api, "/conversations", limit=5)
    assert [c["id"] for c in items] == [
        c.pk for c in sorted(world.sams, key=lambda c: (c.last_message_at, c.pk), reverse=True)
    ]
    first = api.get("/conversations", limit=5).json()
    assert first["count"] == 23 and not first["count_is_capped"] and first["offset"] == 0
    assert last["offset"] == 20 and len(last["items"]) == 3


def test_offset_still_works_and_hands_over_to_cursors(client_for, world):
    api = client_for(world.sam)
    everything = [c["id"] for c in api.get("/conversations", limit=200).json()["items"]]
    page = api.get("/conversations", limit=5, offset=10).json()
    assert [c["id"] for c in page["items"]] == everything[10:15] and page["offset"] == 10
    following = api.get("/conversations", limit=5, cursor=page["next_cursor"]).json()
    assert [c["id"] for c in following["items"]] == everything[15:20] and following["offset"] == 15


def test_a_bad_cursor_is_a_422_naming_it(client_for, world):
    answer = client_for(world.sam).get("/conversations", cursor="!!nonsense")
    assert answer.status_code == 422 and "cursor" in str(answer.json()["detail"])


def test_counts_are_capped(client_for, world, monkeypatch):
    from textdesk.messaging import keyset

    monkeypatch.setattr(keyset, "COUNT_CAP", 10)
    monkeypatch.setattr(keyset.capped_count, "__defaults__", (10,))
    page = client_for(world.sam).get("/conversations", limit=5).json()
    assert page["count_is_capped"] and page["count"] == 10


def test_a_search_by_words_counts_up_to_its_own_cap(client_for, world, monkeypatch):
    from textdesk.messaging import keyset

    monkeypatch.setattr(keyset, "SEARCH_COUNT_CAP", 20)
    api = client_for(world.sam)
    by_words = api.get("/messages", search="obrigado", limit=5).json()
    assert by_words["count_is_capped"] and by_words["count"] == 20
    conversations = api.get("/conversations", search="obrigado", limit=5).json()
    assert conversations["count_is_capped"] and conversations["count"] == 20
    few = api.get("/messages", search="pedido 7", limit=5).json()
    assert few["count"] == 1 and not few["count_is_capped"]
    listed = api.get("/conversations", limit=5).json()  # no search: the general cap
    assert listed["count"] == 23 and not listed["count_is_capped"]


def test_a_word_the_statistics_call_common_finds_the_same_messages(client_for, world, monkeypatch):
    """A common word skips the index's list of ids and walks newest first: the same answer, in the same order."""
    from django.db import connection

    from textdesk.messaging import search

    api = client_for(world.sam)
    listed_by_ids, _ = _all(api, "/messages", search="obrigado", limit=4)
    if connection.vendor == "postgresql":
        monkeypatch.setattr(search, "_expected_share", lambda match: 1.0)
    walked, _ = _all(api, "/messages", search="obrigado", limit=4)
    assert len(walked) == 23 and walked == listed_by_ids


def test_messages_of_a_conversation_page_oldest_first(client_for, world):
    conv = world.sams[0]
    items, _ = _all(client_for(world.sam), f"/conversations/{conv.pk}/messages", limit=1)
    assert [m["body"] for m in items] == ["pedido 0 enviado", "obrigado"]


def test_message_search_is_newest_first_highlighted_and_only_visible(client_for, world):
    api = client_for(world.sam)
    items, first = _all(api, "/messages", search="Pedido", limit=7)
    assert len(items) == 23 and all("secreto" not in m["body"] for m in items)
    times = [m["created_at"] for m in items]
    assert times == sorted(times, reverse=True)
    # conversations 0 and 1 share their last instant: the later id comes first
    assert [m["highlight"] for m in items[:2]] == ["<mark>pedido</mark> 1 enviado", "<mark>pedido</mark> 0 enviado"]
    assert client_for(world.rui).get("/messages", search="secreto").json()["count"] == 5
    assert api.get("/messages", search="secreto").json()["count"] == 0


def test_message_search_escapes_markup(client_for, world, make_record, make_sender_number):
    conv = world.sams[0]
    Message.objects.filter(conversation=conv, body="obrigado").update(body="<img src=x onerror=alert(1)> obrigado!")
    found = client_for(world.sam).get("/messages", search="onerror").json()["items"]
    assert found[0]["highlight"] == "&lt;img src=x <mark>onerror</mark>=alert(1)&gt; obrigado!"


def test_conversation_search_by_words_name_and_number(client_for, world):
    api = client_for(world.sam)
    by_words, _ = _all(api, "/conversations", search="pedido 7")
    assert [c["id"] for c in by_words] == [world.sams[7].pk]
    by_name, _ = _all(api, "/conversations", search="silva1")
    assert {c["id"] for c in by_name} == {c.pk for c in world.sams if c.contact.last_name.startswith("Silva1")}
    by_number, _ = _all(api, "/conversations", search="555-7012")
    assert [c["id"] for c in by_number] == [world.sams[12].pk]
    nothing, _ = _all(api, "/conversations", search="secreto")
    assert nothing == []


def test_record_search_by_name_fragment_or_phone_digits_with_cursor(client_for, world):
    from textdesk.org import roles

    api = client_for(world.sam)
    assert world.sam.groups.filter(name=roles.SALESPERSON).exists()
    items, last = _all(api, "/contacts", search="joana", limit=4)
    assert len(items) == 28 and [c["id"] for c in items] == sorted(c["id"] for c in items)
    items, _ = _all(api, "/contacts", search="7005")
    assert [c["last_name"] for c in items] == ["Silva5"]
    assert api.get("/contacts", search="50%").json()["count"] == 0


def test_the_statistics_tell_a_common_word_from_a_rare_one(world):
    """What lets a common word skip the index's list of ids: PostgreSQL's statistics of the words in messages."""
    from django.db import connection
    from django.db.models import F, Value

    from textdesk.domain import search as rules
    from textdesk.messaging import search

    if connection.vendor != "postgresql":
        pytest.skip("SQLite answers every word search from its FTS5 table")
    conv = world.sams[0]
    line = conv.sender_number
    Message.objects.bulk_create(  # enough rows that a word found nowhere is expected in less than 1% of them
        Message(conversation=conv, direction="outbound", provider_account=line.provider_account, sender_number=line,
                from_number=line.e164, to_number=conv.customer_e164, body=f"obrigado, pedido {i}", status="sent")
        for i in range(300)
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Message._meta.db_table}")

    def share(text: str) -> float:
        return search._expected_share(search._TsMatch(F("body"), Value(rules.tsquery(rules.parse(text)))))

    assert share("obrigado") > search.COMMON_SHARE  # in nearly every message
    assert share("zanzibar") <= search.COMMON_SHARE  # in none
