"""The "My text messages" grid at any size: exact visibility, keyset pages that are stable and complete,
the customer's name and a readable number, and search through the visibility rule."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from textdesk.messaging.models import Conversation

HX_GRID = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "grid"}
ROW = re.compile(r'data-conversation-row="(\d+)"')
NEXT = re.compile(r'href="\?([^"]*cursor=[^"&]+)">Next<')
PREVIOUS = re.compile(r'href="\?([^"]*cursor=[^"&]+)">Previous<')


def _grid(client, query: str = "") -> str:
    return client.get(reverse("my_text_messages") + "?" + query, **HX_GRID).content.decode()


def _walk(client, query: str = "") -> list[list[int]]:
    """Every page of the grid, following its Next links."""
    pages, body = [], _grid(client, query)
    while True:
        pages.append([int(i) for i in ROW.findall(body)])
        link = NEXT.search(body)
        if not link:
            return pages
        body = _grid(client, link.group(1).replace("&amp;", "&"))


@pytest.fixture
def many(scene, make_record, make_conversation):
    """60 of Sam's conversations with ties on the time and a few without any message, plus 10 of Rui's."""
    now = timezone.now()
    ids = [scene.conv.pk]
    for i in range(60):
        lead = make_record("lead", scene.sam, first_name="Lead", last_name=f"Number{i}")
        conv = make_conversation(lead, scene.sam_line, f"+1415555{3000 + i}", messages=[("outbound", f"m{i}", "sent")])
        at = None if i % 20 == 0 else now - dt.timedelta(minutes=i // 3)  # groups of three share an instant
        Conversation.objects.filter(pk=conv.pk).update(last_message_at=at, unread_count=i % 4)
        ids.append(conv.pk)
    theirs = []
    for i in range(10):
        lead = make_record("lead", scene.rui, last_name=f"Theirs{i}")
        theirs.append(
            make_conversation(lead, scene.rui_line, f"+1415555{4000 + i}", messages=[("outbound", "x", "sent")]).pk
        )
    return ids, theirs


@pytest.mark.parametrize("sort", ["-time", "time", "customer", "-unread", "ours", "-status", "record"])
def test_pages_are_complete_and_never_repeat_a_row(sam_client, many, sort):
    ids, theirs = many
    pages = _walk(sam_client, f"sort={sort}")
    seen = [i for page in pages for i in page]
    assert len(pages) == 3 and all(len(p) == 25 for p in pages[:-1])
    assert sorted(seen) == sorted(ids)  # each of Sam's exactly once, none of Rui's
    assert not set(seen) & set(theirs)


def test_newest_first_with_conversations_without_messages_last(sam_client, many):
    seen = [i for page in _walk(sam_client) for i in page]
    rows = {c.pk: c for c in Conversation.objects.filter(pk__in=seen)}
    times = [rows[i].last_message_at for i in seen]
    dated = [t for t in times if t is not None]
    assert times[: len(dated)] == dated and dated == sorted(dated, reverse=True)
    assert all(t is None for t in times[len(dated) :]) and len(dated) == len(times) - 3


def test_previous_goes_back_to_the_same_rows_and_counts_say_where_we_are(sam_client, many):
    first = _grid(sam_client)
    assert "1–25 of 61 conversations" in first
    second = _grid(sam_client, NEXT.search(first).group(1).replace("&amp;", "&"))
    assert "26–50 of 61 conversations" in second
    back = _grid(sam_client, PREVIOUS.search(second).group(1).replace("&amp;", "&"))
    assert ROW.findall(back) == ROW.findall(first) and "1–25 of 61" in back


def test_filters_page_by_keyset_too(sam_client, many):
    pages = _walk(sam_client, "unread=1")
    unread = set(
        Conversation.objects.filter(unread_count__gt=0, sender_number__owner_user__username="sam").values_list(
            "pk", flat=True
        )
    )
    assert {i for p in pages for i in p} == unread


def test_an_unreadable_cursor_shows_the_first_page(sam_client, many):
    body = _grid(sam_client, "cursor=not-a-cursor")
    assert "1–25 of 61" in body


def test_a_large_list_is_counted_as_many(sam_client, many, monkeypatch):
    from textdesk.messaging import keyset

    monkeypatch.setattr(keyset, "COUNT_CAP", 40)
    monkeypatch.setattr(keyset.capped_count, "__defaults__", (40,))
    assert "1–25 of many" in _grid(sam_client)


def test_rows_show_the_customer_name_a_readable_number_and_unread(sam_client, scene):
    body = _grid(sam_client)
    assert "Alice Moreno" in body and "+1 415-555-0134" in body
    assert 'title="+14155550134"' in body and "1 unread message" in body


def test_visibility_follows_numbers_records_and_teams(
    client, make_user, make_team, make_sender_number, make_record, make_conversation
):
    """Each conversation is visible exactly to those the rule names; a manager sees their team's."""
    from textdesk.org import roles

    ann, ben, cy = make_user("ann"), make_user("ben"), make_user("cy")
    boss = make_user("boss", role=roles.SALES_MANAGER)
    team = make_team("North", members=[ann, boss])
    lines = {
        "ann": make_sender_number(owner=ann),
        "ben": make_sender_number(owner=ben),
        "team": make_sender_number(owner=team),
    }
    owners = {"ann": ann, "ben": ben, "team": team, "cy": cy}
    expected = {"ann": set(), "ben": set(), "cy": set(), "boss": set()}
    n = 0
    for line_owner, line in lines.items():
        for record_owner in owners:
            n += 1
            record = make_record("contact", owners[record_owner], last_name=f"R{n}")
            conv = make_conversation(record, line, f"+1415555{5000 + n}", messages=[("outbound", "hi", "sent")])
            for viewer in expected:
                mine = {"ann": {"ann", "team"}, "ben": {"ben"}, "cy": {"cy"}, "boss": {"ann", "team"}}[viewer]
                if line_owner in mine or record_owner in mine:
                    expected[viewer].add(conv.pk)
    for viewer, user in (("ann", ann), ("ben", ben), ("cy", cy), ("boss", boss)):
        client.force_login(user)
        assert {i for p in _walk(client) for i in p} == expected[viewer], viewer


# ------------------------------------------------------------------ search


def _search(client, text: str, **more) -> str:
    return client.get(reverse("my_text_messages"), {"search": text, **more}, **HX_GRID).content.decode()


def test_search_finds_words_highlighted_newest_first(sam_client, scene, make_conversation):
    make_conversation(
        scene.account,
        scene.sam_line,
        "+14155550100",
        messages=[
            ("outbound", "The invoice is attached", "sent"),
            ("inbound", "Invoice received, obrigado", "received"),
        ],
    )
    body = _search(sam_client, "invoice")
    assert body.count("<mark>") == 2
    assert body.index("<mark>Invoice</mark> received") < body.index("The <mark>invoice</mark> is attached")
    assert "Yes, thanks!" not in body


def test_search_ignores_accents_and_case(sam_client, scene, make_conversation):
    make_conversation(
        scene.account, scene.sam_line, "+14155550100", messages=[("inbound", "Orçamento de São Paulo", "received")]
    )
    body = _search(sam_client, "ORCAMENTO sao")
    assert "<mark>Orçamento</mark> de <mark>São</mark> Paulo" in body


def test_search_by_customer_name_and_number_fragment(sam_client, scene):
    assert "<mark>Alice Moreno</mark>" in _search(sam_client, "alice moreno")
    body = _search(sam_client, "555-0134")
    assert f'data-conversation-row="{scene.conv.pk}"' in body and "<mark>555-0134</mark>" in body


def test_search_shows_markup_in_messages_as_text(sam_client, scene, make_conversation):
    make_conversation(
        scene.account,
        scene.sam_line,
        "+14155550100",
        messages=[("inbound", "<script>alert('pwned')</script> pwned", "received")],
    )
    body = _search(sam_client, "pwned")
    assert "<script>alert" not in body and "&lt;script&gt;alert(&#x27;<mark>pwned</mark>&#x27;)" in body


def test_another_sellers_matching_message_never_appears(client, scene, make_record, make_conversation):
    theirs = make_record("contact", scene.rui, first_name="Secret", last_name="Customer")
    make_conversation(theirs, scene.rui_line, "+14155550777", messages=[("inbound", "the zebra password", "received")])
    client.force_login(scene.sam)
    for text in ("zebra", "Secret Customer", "0777", "password"):
        body = _search(client, text)
        assert not ROW.findall(body) and "<mark>" not in body and "Nothing matches" in body
        assert "zebra password" not in body and "Secret Customer" not in body.replace(f"“{text}”", "")
    client.force_login(scene.rui)
    assert "<mark>zebra</mark>" in _search(client, "zebra")


def test_search_pages_are_complete(sam_client, scene, make_record, make_conversation):
    made = set()
    for i in range(30):
        lead = make_record("lead", scene.sam, last_name=f"Kiwi{i}")
        conv = make_conversation(
            lead,
            scene.sam_line,
            f"+1415555{6000 + i}",
            messages=[("outbound", f"kiwi order {i}", "sent"), ("inbound", "kiwi ok", "received")],
        )
        made.add(conv.pk)
    pages = _walk(sam_client, "search=kiwi")
    rows = [i for p in pages for i in p]
    # 60 matching messages and 30 matching names, each once
    assert len(rows) == 90 and set(rows) == made and len(pages) == 4
