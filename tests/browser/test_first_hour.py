"""A seller's first hour in a real browser, at laptop (1366×768) and phone (390×844) size: the reply box follows
the conversation, the bell's list shows, the layout fits, invalid numbers explain themselves, the opt-out
banner arrives live, Send is disabled while sending."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.layout import (
    LAPTOP,
    PHONE,
    SIZES,
    assert_inside,
    assert_no_horizontal_overflow,
    assert_on_screen,
    open_page,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def page_at(chromium, server):
    pages = []

    def make(user, viewport=LAPTOP):
        page = open_page(chromium, server, user, viewport)
        pages.append(page)
        return page

    yield make
    for page in pages:
        page.context.close()


@pytest.fixture
def dana(scene, make_record, make_conversation):
    """A lead whose own mobile is +14155550177, holding a conversation moved onto it with +14155550100."""
    lead = make_record("lead", scene.sam, first_name="Dana", last_name="Silva", mobile_phone="+1 415 555 0177")
    conv = make_conversation(
        lead, scene.sam_line, "+14155550100", messages=[("inbound", "It's Dana, from the office line", "received")]
    )
    return type("Dana", (), dict(lead=lead, conv=conv))


@pytest.mark.parametrize("size", SIZES)
def test_the_reply_goes_to_the_conversation_on_screen(page_at, scene, dana, shot, size):
    from textdesk.messaging.models import Message

    page = page_at(scene.sam, SIZES[size])
    page.goto(f"/records/lead/{dana.lead.pk}/?pane=1&c={dana.conv.pk}")
    pane = page.locator("#pane")
    expect(pane.locator(".msg").last).to_contain_text("from the office line")
    expect(pane.locator("#pane-to")).to_have_value("+14155550100")
    summary = pane.locator("[data-reply-summary]")
    expect(summary).to_contain_text("Replying in this conversation: to +14155550100, from Sam's line")
    assert_on_screen(page, summary)
    send = pane.get_by_role("button", name="Send")
    assert_on_screen(page, send)
    assert_no_horizontal_overflow(page)
    shot(page, f"first-hour-reply-follows-conversation-{size}")
    pane.locator("#pane-body").fill(f"Calling you back ({size})")
    send.click()
    expect(pane.locator(".msg.outbound").last).to_contain_text(f"Calling you back ({size})")
    expect(pane.locator("#pane-body")).to_have_value("")  # the send's answer is on screen (not only the live push)
    # The message just sent is seen without scrolling: not under the composer, which stays at the pane's bottom.
    assert_on_screen(page, pane.locator(".msg.outbound").last.locator(".bubble"))
    sent = Message.objects.get(body=f"Calling you back ({size})")
    assert (sent.to_number, sent.conversation_id, sent.sender_number_id) == (
        "+14155550100",
        dana.conv.pk,
        scene.sam_line.pk,
    )
    # Choosing Dana's own number is explicit, and the pane says it starts a new conversation.
    pane.locator("#pane-to").select_option("+14155550177")
    expect(pane.locator("[data-reply-summary]")).to_contain_text("New conversation: to +1 415 555 0177")
    expect(pane.locator(".msg")).to_have_count(0)


@pytest.mark.parametrize("size", SIZES)
def test_why_a_message_is_here_opens_on_screen(page_at, scene, make_record, make_conversation, size):
    lead = make_record("lead", scene.sam, first_name="Rui", last_name="Costa", mobile_phone="+1 415 555 0178")
    history = [("outbound", f"Update {i} on your order", "delivered") for i in range(12)]
    conv = make_conversation(
        lead, scene.sam_line, "+14155550178", messages=[*history, ("inbound", "Thanks!", "received")]
    )
    page = page_at(scene.sam, SIZES[size])
    page.goto(f"/records/lead/{lead.pk}/?pane=1&c={conv.pk}")
    reply = page.locator("#pane .msg.inbound").last  # the newest message, just above the composer
    expect(reply).to_contain_text("Thanks!")
    reply.get_by_text("Why is this message here?").click()
    answer = reply.locator(".why p")
    expect(answer).not_to_be_empty()
    assert_on_screen(page, answer)  # not under the composer that sticks to the pane's bottom
    assert_on_screen(page, page.locator("#pane").get_by_role("button", name="Send"))


def test_a_live_refresh_never_undoes_the_sellers_choice(page_at, scene, dana):
    """A live event re-renders an idle pane; if that refresh answers after the seller changed the recipient,
    the seller's choice stays on screen (seen in CI: the pane jumped back to the old conversation)."""
    from textdesk.live.bus import get_bus, user_channel

    page = page_at(scene.sam)
    page.goto(f"/records/lead/{dana.lead.pk}/?pane=1&c={dana.conv.pk}")
    expect(page.locator("body[data-live-state=open]")).to_have_count(1)
    pane = page.locator("#pane")
    expect(pane.locator("[data-reply-summary]")).to_contain_text("Replying in this conversation")
    page.evaluate(
        """() => document.addEventListener("htmx:afterRequest", (e) => {
             if (e.detail.xhr.responseURL.includes("14155550100")) window.staleAnswered = true;
           })"""
    )
    held = []

    def stale_pane(url):
        return "/pane/" in url and "14155550100" in url

    page.route(stale_pane, lambda route: held.append(route))
    with page.expect_request(lambda r: stale_pane(r.url)):
        get_bus().publish(
            user_channel(scene.sam.pk), {"event": "message.new", "conversation_id": scene.conv.pk, "message_id": 1}
        )
    pane.locator("#pane-to").select_option("+14155550177")
    expect(pane.locator("[data-reply-summary]")).to_contain_text("New conversation: to +1 415 555 0177")
    held[0].continue_()
    page.wait_for_function("() => window.staleAnswered === true")
    expect(pane.locator("[data-reply-summary]")).to_contain_text("New conversation: to +1 415 555 0177")


def test_another_teams_line_asks_for_an_explicit_choice(page_at, scene, make_conversation, shot):
    conv = make_conversation(
        scene.alice, scene.rui_line, "+14155550134", messages=[("inbound", "Wrote to Rui's line", "received")]
    )
    for size, viewport in SIZES.items():
        page = page_at(scene.sam, viewport)
        page.goto(f"/records/contact/{scene.alice.pk}/?pane=1&c={conv.pk}")
        pane = page.locator("#pane")
        banner = pane.locator("[data-foreign-line]")
        expect(banner).to_contain_text("+14155550009")
        assert_on_screen(page, banner)
        expect(pane.get_by_role("button", name="Send")).to_be_disabled()
        shot(page, f"first-hour-another-teams-line-{size}")
        pane.locator("#pane-from").select_option(str(scene.sam_line.pk))
        expect(pane.locator("[data-reply-summary]")).to_contain_text("from Sam's line")
        expect(pane.get_by_role("button", name="Send")).to_be_enabled()


@pytest.mark.parametrize("size", SIZES)
def test_the_bells_list_is_visible(page_at, scene, shot, size):
    from textdesk.messaging.models import Notification

    Notification.objects.create(
        user=scene.sam, kind="inbound_message", title="New text message from +14155550134", conversation=scene.conv
    )
    page = page_at(scene.sam, SIZES[size])
    page.goto("/messages/")
    page.locator("#bell summary").click()
    note = page.locator("#bell-list .note").first
    expect(note).to_contain_text("New text message from +14155550134")
    box = assert_on_screen(page, note)
    assert_inside(box, page.locator("#bell-list").bounding_box())
    assert_no_horizontal_overflow(page)
    shot(page, f"first-hour-bell-list-{size}")
    note.click()
    expect(page.locator("#pane .msg").last).to_contain_text("Yes, thanks!")


def test_phone_size_grid_and_pane_fit_and_send_is_reachable(page_at, scene, shot):
    page = page_at(scene.sam, PHONE)
    page.goto("/messages/")
    for part in ("header.topbar", "#bell summary", "details.user summary", "nav.nav"):
        assert_on_screen(page, page.locator(part))
    row = page.locator(f"tr[data-conversation-row='{scene.conv.pk}']")
    expect(row).to_contain_text("Alice Moreno")
    row_box = row.bounding_box()
    assert row_box["x"] >= 0 and row_box["x"] + row_box["width"] <= PHONE["width"]
    assert_no_horizontal_overflow(page)
    shot(page, "first-hour-grid-390x844")
    row.locator("td.preview").click()  # one tap opens it on a phone (a double tap would zoom)
    pane = page.locator("#pane")
    expect(pane.locator(".msg").last).to_contain_text("Yes, thanks!")
    send = pane.get_by_role("button", name="Send")
    assert_on_screen(page, send)
    assert_on_screen(page, pane.locator("#pane-body"))
    assert_on_screen(page, pane.get_by_role("button", name=re.compile("Close")))
    assert_no_horizontal_overflow(page)
    shot(page, "first-hour-pane-390x844")
    # the pane opens below the top bar: the bell and the menus stay in reach, and their lists open over it
    for part in ("#bell summary", "nav.nav"):
        assert_on_screen(page, page.locator(part))
    page.locator("details.menu summary", has_text="Records").click()
    assert_on_screen(page, page.get_by_role("link", name="Contacts", exact=True))
    page.keyboard.press("Escape")
    pane.get_by_role("button", name=re.compile("Close")).click()
    expect(pane).to_be_hidden()


def test_laptop_size_send_above_the_fold_and_grid_columns_whole(page_at, scene, shot):
    page = page_at(scene.sam, LAPTOP)
    page.goto("/messages/")
    page.locator(f"tr[data-conversation-row='{scene.conv.pk}']").dblclick()
    pane = page.locator("#pane")
    expect(pane.locator(".msg").last).to_contain_text("Yes, thanks!")
    assert_on_screen(page, pane.get_by_role("button", name="Send"))
    pane_left = pane.bounding_box()["x"]
    headers = page.locator("table.grid thead th")
    assert headers.count() >= 7
    for i in range(headers.count()):
        box = headers.nth(i).bounding_box()
        assert box["x"] + box["width"] <= pane_left + 0.5, (i, box, pane_left)
    cut = page.locator("table.grid").evaluate("(t) => t.scrollWidth > t.parentElement.clientWidth + 1")
    assert not cut, "the grid is wider than its column: cut or scrolled"
    assert_no_horizontal_overflow(page)
    shot(page, "first-hour-grid-and-pane-1366x768")


@pytest.mark.parametrize("size", SIZES)
def test_an_invalid_number_has_its_icon_and_the_pane_explains(page_at, scene, shot, size):
    page = page_at(scene.sam, SIZES[size])
    page.goto(f"/records/contact/{scene.chen.pk}/")
    icon = page.locator("[data-phone-field=mobile_phone]")
    assert_on_screen(page, icon)
    icon.click()
    alert = page.locator("#pane [data-invalid-number]")
    expect(alert).to_contain_text("“415 555” cannot be used as a phone number")
    expect(alert).to_contain_text("too few digits")
    expect(alert).to_contain_text("international format (E.164)")
    assert_on_screen(page, alert)
    assert_on_screen(page, page.locator("#pane").get_by_role("button", name="Send"))
    assert_no_horizontal_overflow(page)
    shot(page, f"first-hour-invalid-number-{size}")


@pytest.mark.parametrize("size", SIZES)
def test_the_opt_out_banner_arrives_live(page_at, scene, shot, size):
    from django.db import transaction

    from textdesk.live import bus
    from textdesk.messaging.actions.consent import record_consent
    from textdesk.messaging.models import Message

    page = page_at(scene.sam, SIZES[size])
    page.goto(f"/conversations/{scene.conv.pk}/")
    expect(page.locator("body[data-live-state=open]")).to_have_count(1)
    pane = page.locator("#pane")
    expect(pane.locator(".msg").last).to_contain_text("Yes, thanks!")
    expect(pane.locator("[data-opted-out]")).to_have_count(0)
    # What the inbound router does with a STOP: the message, the opt-out, the push after commit.
    with transaction.atomic():
        stop = Message.objects.create(
            conversation=scene.conv,
            direction="inbound",
            provider_account=scene.sam_line.provider_account,
            sender_number=scene.sam_line,
            from_number="+14155550134",
            to_number=scene.sam_line.e164,
            body="STOP",
            status="received",
            routing_rule="most_recent_conversation",
        )
        record_consent("+14155550134", scene.sam_line.e164, "opt_out", "keyword", message=stop)
        bus.notify_users_on_commit(
            [scene.sam.pk], "message.new", {"conversation_id": scene.conv.pk, "message_id": stop.pk}
        )
    banner = pane.locator("[data-opted-out]")
    expect(banner).to_contain_text("opted out")
    expect(pane.locator(".msg").last).to_contain_text("STOP")
    assert_on_screen(page, banner)
    assert_on_screen(page, pane.get_by_role("button", name="Send"))
    shot(page, f"first-hour-opt-out-live-{size}")


def test_a_reply_seen_live_in_the_open_pane_is_not_unread(page_at, scene):
    from django.db import transaction

    from textdesk.live import bus
    from textdesk.messaging.models import Conversation, Message, Notification

    page = page_at(scene.sam, LAPTOP)
    page.goto(f"/conversations/{scene.conv.pk}/")
    expect(page.locator("body[data-live-state=open]")).to_have_count(1)
    expect(page.locator("#pane .msg").last).to_contain_text("Yes, thanks!")
    with transaction.atomic():
        Conversation.objects.filter(pk=scene.conv.pk).update(unread_count=1)
        msg = Message.objects.create(
            conversation=scene.conv,
            direction="inbound",
            provider_account=scene.sam_line.provider_account,
            sender_number=scene.sam_line,
            from_number="+14155550134",
            to_number=scene.sam_line.e164,
            body="Are you there?",
            status="received",
            routing_rule="most_recent_conversation",
        )
        Notification.objects.create(
            user=scene.sam, kind="inbound_message", title="New", conversation=scene.conv, message=msg
        )
        bus.notify_users_on_commit(
            [scene.sam.pk], "message.new", {"conversation_id": scene.conv.pk, "message_id": msg.pk}
        )
        bus.notify_users_on_commit([scene.sam.pk], "notification.new", {"unread": 1})
    expect(page.locator("#pane .msg").last).to_contain_text("Are you there?")
    expect(page.locator("#bell-count")).to_be_hidden()
    page.reload()
    expect(page.locator("#bell-count")).to_be_hidden()
    scene.conv.refresh_from_db()
    assert scene.conv.unread_count == 0


def test_send_is_disabled_while_the_message_is_being_sent(page_at, scene, shot):
    page = page_at(scene.sam, LAPTOP)
    page.goto(f"/conversations/{scene.conv.pk}/")
    held = []
    page.route(re.compile(r".*/send/$"), lambda route: held.append(route))
    pane = page.locator("#pane")
    pane.locator("#pane-body").fill("One moment")
    send = pane.locator("[data-send]")
    send.click()
    expect(send).to_be_disabled()
    expect(send).to_have_text("Sending…")
    pane.locator("#pane-body").press("Control+Enter")  # a second try while it is on its way does nothing
    shot(page, "first-hour-sending-1366x768")
    page.wait_for_timeout(100)
    assert len(held) == 1
    held[0].continue_()
    expect(pane.locator(".msg.outbound").last).to_contain_text("One moment")
    expect(pane.locator("[data-send]")).to_be_enabled()
