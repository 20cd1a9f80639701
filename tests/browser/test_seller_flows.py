"""A seller's day in a real browser: sign in, grid, record, pane, live updates, move, privacy, language."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def _open_live(page):
    expect(page.locator("body[data-live-state=open]")).to_have_count(1)


def test_seller_signs_in_and_opens_a_conversation_from_the_grid(new_page, scene, shot):
    page = new_page()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/"))
    shot(page, "01-login")
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill("pw-Passw0rd!")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="My text messages")).to_be_visible()
    row = page.locator(f"tr[data-conversation-row='{scene.conv.pk}']")
    expect(row).to_contain_text("Alice Moreno")
    shot(page, "02-my-text-messages")
    row.focus()
    page.keyboard.press("Enter")
    pane = page.locator("#pane")
    expect(pane).to_be_visible()
    expect(pane.locator(".msg").last).to_contain_text("Yes, thanks!")
    shot(page, "03-grid-with-pane")
    page.keyboard.press("Escape")
    expect(pane).to_be_hidden()
    row.dblclick()
    expect(pane).to_be_visible()


def test_record_page_message_icon_opens_pane_with_states(new_page, scene, shot):
    page = new_page(scene.sam)
    page.goto(f"/records/contact/{scene.alice.pk}/")
    page.locator("[data-phone-field=mobile_phone]").click()
    pane = page.locator("#pane")
    expect(pane.get_by_role("heading", name="Alice Moreno")).to_be_visible()
    expect(pane.get_by_label("From (our number)")).to_contain_text("Sam's line")
    expect(pane.get_by_label("Conversation related to")).to_contain_text("Fleet renewal")
    shot(page, "04-record-with-pane")
    page.goto(f"/records/contact/{scene.chen.pk}/")
    expect(page.get_by_text("Invalid number")).to_be_visible()
    shot(page, "05-record-invalid-phone")


def test_failed_message_shows_reason_on_hover_and_keyboard_focus(new_page, scene, shot):
    page = new_page(scene.sam)
    page.goto(f"/conversations/{scene.conv.pk}/")
    report = page.locator(".msg.outbound .report.bad")
    tooltip = page.locator(".msg.outbound .tooltip")
    expect(tooltip).to_be_hidden()
    report.hover()
    expect(tooltip).to_be_visible()
    expect(tooltip).to_contain_text("E.164")
    shot(page, "06-failed-reason-on-hover")
    page.mouse.move(0, 0)
    expect(tooltip).to_be_hidden()
    report.focus()
    expect(tooltip).to_be_visible()


def test_inbound_message_updates_bell_and_pane_live(new_page, scene, shot):
    from django.db import transaction

    from textdesk.live import bus
    from textdesk.messaging.models import Message, Notification

    page = new_page(scene.sam)
    page.goto(f"/conversations/{scene.conv.pk}/")
    expect(page.locator("#pane .msg").last).to_contain_text("Yes, thanks!")
    _open_live(page)
    badge = page.locator("#bell-count")
    expect(badge).to_be_hidden()
    # What the inbound router does when a reply lands: message, notification, pushes after commit.
    with transaction.atomic():
        msg = Message.objects.create(
            conversation=scene.conv,
            direction="inbound",
            provider_account=scene.sam_line.provider_account,
            sender_number=scene.sam_line,
            from_number="+14155550134",
            to_number=scene.sam_line.e164,
            body="Can we talk tomorrow?",
            status="received",
            routing_rule="recent_conversation",
        )
        Notification.objects.create(
            user=scene.sam,
            kind="inbound_message",
            title="New text message from Alice",
            conversation=scene.conv,
            message=msg,
        )
        bus.notify_users_on_commit(
            [scene.sam.pk], "message.new", {"conversation_id": scene.conv.pk, "message_id": msg.pk}
        )
        bus.notify_users_on_commit([scene.sam.pk], "notification.new", {"unread": 1})
    expect(page.locator("#pane .msg").last).to_contain_text("Can we talk tomorrow?")
    # Seen live in the open pane: not counted as unread (the bell's list still holds it).
    expect(badge).to_be_hidden()
    shot(page, "07-live-inbound")
    page.locator("#bell summary").click()
    note = page.locator("#bell-list .note").first
    expect(note).to_contain_text("New text message from Alice")
    shot(page, "08-notifications")
    note.click()
    expect(page.locator("#pane .msg").last).to_contain_text("Can we talk tomorrow?")
    expect(badge).to_be_hidden()
    assert Notification.objects.get(message=msg).read_at is not None


def test_move_conversation_from_account_to_contact(new_page, scene, make_conversation, shot):
    conv = make_conversation(
        scene.account,
        scene.sam_line,
        "+14155550100",
        messages=[("inbound", "This is Alice, from the office line", "received")],
    )
    page = new_page(scene.sam)
    page.goto(f"/records/account/{scene.account.pk}/?pane=1&c={conv.pk}")
    pane = page.locator("#pane")
    pane.get_by_label("Select the conversation with +14155550100").check()
    pane.get_by_role("button", name="Change").click()
    pane.get_by_label(re.compile("Move the selected conversations")).fill("Alice")
    option = pane.locator(f"[data-target-key='contact:{scene.alice.pk}']")
    expect(option).to_be_visible()
    shot(page, "09-move-typeahead")
    option.click()
    expect(page).to_have_url(re.compile(rf"/records/contact/{scene.alice.pk}/"))
    expect(page.locator("#pane .msg").last).to_contain_text("This is Alice, from the office line")
    conv.refresh_from_db()
    assert conv.contact_id == scene.alice.pk
    assert conv.moves.get().from_record_key == scene.account.record_key


def test_second_seller_cannot_see_the_first_sellers_conversation(new_page, scene, shot):
    page = new_page(scene.rui)
    page.goto("/messages/")
    expect(page.get_by_text("No conversations match.")).to_be_visible()
    response = page.goto(f"/conversations/{scene.conv.pk}/")
    assert response.status == 404
    response = page.goto(f"/conversations/{scene.conv.pk}/history/")
    assert response.status == 404


def test_composer_counts_segments_and_names_the_ucs2_character(new_page, scene, shot):
    page = new_page(scene.sam)
    page.goto(f"/conversations/{scene.conv.pk}/")
    body = page.locator("#pane-body")
    counter = page.locator("#pane-counter")
    body.fill("a" * 160)
    expect(counter).to_have_attribute("data-segments", "1")
    body.fill("a" * 161)
    expect(counter).to_have_attribute("data-segments", "2")
    body.fill("Hola ñ {}")
    expect(counter).to_have_attribute("data-encoding", "GSM-7")
    body.fill("Thanks 🙂 see you")
    expect(counter).to_have_attribute("data-encoding", "UCS-2")
    expect(page.locator("#pane-ucs2")).to_contain_text("🙂")
    expect(page.locator("#pane-ucs2")).to_contain_text("U+1F642")
    shot(page, "10-composer-ucs2-warning")
    body.fill("ã" * 71)  # ã is not in the GSM alphabet: UCS-2, 70 per single part
    expect(counter).to_have_attribute("data-segments", "2")


def test_template_created_on_settings_page_fills_the_composer(new_page, scene, shot):
    page = new_page(scene.sam)
    page.goto("/settings/templates/new/")
    page.get_by_label("Template name").fill("Follow-up")
    page.get_by_label("Category", exact=True).select_option("contact")
    text = page.get_by_label("Text", exact=True)
    text.fill("Hi ")
    page.get_by_label("Insert a placeholder").select_option("ContactFirstName")
    page.get_by_role("button", name="Insert", exact=True).click()
    text.press("End")
    text.type(", about {{AccountName}}: ready when you are.")
    page.locator("tr[data-ph=ContactFirstName] input[name=ph_default]").fill("there")
    shot(page, "11-template-form")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("link", name="Follow-up")).to_be_visible()
    shot(page, "12-templates-list")
    page.goto(f"/conversations/{scene.conv.pk}/")
    page.locator("#pane-template").select_option(label="Follow-up (English)")
    expect(page.locator("#pane-body")).to_have_value("Hi Alice, about Acme Logistics: ready when you are.")


def test_unknown_placeholder_is_refused_in_the_browser(new_page, scene):
    page = new_page(scene.sam)
    page.goto("/settings/templates/new/")
    page.get_by_label("Template name").fill("Broken")
    page.get_by_label("Category", exact=True).select_option("account")
    page.get_by_label("Text", exact=True).fill("Hi {{LeadTopic}}")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("{{LeadTopic}}")


def test_interface_switches_to_portuguese(new_page, scene, shot):
    page = new_page(scene.sam)
    page.goto("/messages/")
    page.locator("details.user summary").click()
    page.get_by_label("Language").select_option("pt-br")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("heading", name="Minhas mensagens de texto")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "pt-br")
    page.locator(f"tr[data-conversation-row='{scene.conv.pk}']").dblclick()
    expect(page.locator("#pane")).to_contain_text("Enviar")
    shot(page, "13-portuguese")


SEGMENT_VECTORS = [
    "",
    "a" * 160,
    "a" * 161,
    "a" * 306,
    "a" * 307,
    "{" * 80,
    "{" * 81,
    "a" * 152 + "€",
    "ã" * 70,
    "ã" * 71,
    "🙂" * 35,
    "🙂" * 36,
    "a" * 66 + "🙂",
    "Olá, tudo bem?",
    "Hola ñ {}[]~|^\\",
]


def test_js_counter_matches_the_server_rules(new_page, scene):
    segments = pytest.importorskip("textdesk.domain.segments")
    page = new_page(scene.sam)
    page.goto("/messages/")
    for body in SEGMENT_VECTORS:
        js = page.evaluate("(t) => window.TextDeskSegments(t)", body)
        expected = segments.count(body)
        assert (js["segments"], js["units"], js["forcing"]) == (
            expected.segments,
            expected.units,
            expected.ucs2_characters,
        ), body


def test_move_selected_conversations_from_the_grid(new_page, scene, make_conversation, shot):
    conv = make_conversation(
        scene.account,
        scene.sam_line,
        "+14155550100",
        messages=[("inbound", "Alice here, on the office line", "received")],
    )
    page = new_page(scene.sam)
    page.goto("/messages/")
    page.get_by_label("Select the conversation with +1 415-555-0100").check()  # the grid writes numbers for people
    page.locator(".toolbar").get_by_role("button", name="Change").click()
    page.get_by_label(re.compile("Move the selected conversations")).fill("Moreno")
    option = page.locator(f".toolbar [data-target-key='contact:{scene.alice.pk}']")
    expect(option).to_be_visible()
    shot(page, "14-grid-move")
    option.click()
    expect(page).to_have_url(re.compile(rf"/records/contact/{scene.alice.pk}/"))
    conv.refresh_from_db()
    assert conv.contact_id == scene.alice.pk


def test_send_refusal_for_an_invalid_number_names_the_reason(new_page, scene, shot):
    pytest.importorskip("textdesk.messaging.outbound.send")
    page = new_page(scene.sam)
    page.goto(f"/records/contact/{scene.chen.pk}/?pane=1")
    pane = page.locator("#pane")
    expect(pane.get_by_role("alert").first).to_contain_text("cannot be used as a phone number")
    pane.locator("#pane-body").fill("Hello Chen")
    pane.get_by_role("button", name="Send").click()
    error = pane.locator("[data-send-error]")
    expect(error).to_contain_text("InvalidSendingParameters")
    expect(error).to_contain_text("+5511912345678")
    expect(pane.locator("#pane-body")).to_have_value("Hello Chen")
    shot(page, "15-invalid-number-refused")
