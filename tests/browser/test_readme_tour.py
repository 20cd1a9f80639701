"""The README's "A tour of the demo", steps 1–6, walked as written on freshly seeded demo data: the demo
seeder, the built-in simulator (Twilio wire format) and its customer-phone page, the worker, the web app."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.layout import LAPTOP, assert_on_screen

simulator_server = pytest.importorskip("textdesk.simulator.server")

pytestmark = pytest.mark.browser

ALICE = "+14155550134"


@pytest.fixture
def simulator():
    handle = simulator_server.start_in_thread(host="127.0.0.1", port=0)
    yield handle
    handle.stop()


@pytest.fixture
def demo(settings, server, simulator, worker):
    """What `make demo` sets up, on this test's servers: the demo organisation and the simulator hosting it."""
    from textdesk.demo.organisation import seed_demo
    from textdesk.demo.simulator import configure_from_database

    settings.PUBLIC_URL = server.url  # the webhooks the simulator posts go to this test's server
    seed_demo(simulator_url=simulator.url)
    assert configure_from_database(simulator.state, simulator.url) == 3
    return simulator


@pytest.fixture
def browser_page(chromium, server):
    contexts = []

    def make():
        context = chromium.new_context(base_url=server.url, locale="en-US", viewport=LAPTOP)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    yield make
    for context in contexts:
        context.close()


def sign_in(page, username):
    page.goto("/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("textdesk")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="My text messages")).to_be_visible()


def test_the_readme_tour(demo, browser_page, shot):
    from textdesk.messaging.models import Conversation

    # 1. Sign in as seller, open Contacts → Alice Moreno, select the message icon beside her mobile phone:
    #    the conversation pane opens on the right. Pick a template, send. The delivery report appears.
    app = browser_page()
    sign_in(app, "seller")
    expect(app.locator("body[data-live-state=open]")).to_have_count(1)
    app.locator("details.menu summary", has_text="Records").click()
    app.get_by_role("link", name="Contacts", exact=True).click()
    app.get_by_role("link", name="Alice Moreno").click()
    expect(app.get_by_role("heading", name="Alice Moreno", level=1)).to_be_visible()
    expect(app.locator("body[data-live-state=open]")).to_have_count(1)
    app.get_by_role("button", name="Text messages on mobile phone").click()
    pane = app.locator("#pane")
    expect(pane.get_by_role("heading", name="Alice Moreno")).to_be_visible()
    pane_box = pane.bounding_box()
    assert pane_box["x"] > LAPTOP["width"] / 2, "the pane opens on the right"
    template = pane.get_by_label("Template")
    first_template = template.locator("option").nth(1)
    expect(first_template).to_have_text("Quote follow-up (English)")  # an English seller, a US contact
    template.select_option(label="Quote follow-up (English)")
    expect(pane.locator("#pane-body")).to_have_value(re.compile(r"^Hi Alice, this is Sam\. The quote for Acme"))
    send = pane.get_by_role("button", name="Send")
    assert_on_screen(app, send)
    send.click()
    outbound = pane.locator(".msg.outbound").last
    expect(outbound).to_contain_text("The quote for Acme Logistics is ready")
    expect(outbound.locator("[data-delivery-report]")).to_have_text("Delivered", timeout=30_000)
    shot(app, "tour-1-sent-and-delivered")

    # 2. Open the customer phone, choose Alice's number, and reply. The open pane updates without a reload;
    #    "why is this message here?" under the reply names the routing rule that chose the record.
    phone = browser_page()
    phone.goto(f"{demo.url}/phone")
    phone.locator("#customer").fill("+1 415 555 0134")  # as the record shows it
    phone.locator("#customer").press("Tab")
    expect(phone.locator("#ours")).to_have_value("+14155550001")  # Sam's line: the one that wrote to Alice
    expect(phone.locator("#ours option:checked")).to_contain_text("Sam's line")
    expect(phone.locator("#thread")).to_contain_text("The quote for Acme Logistics is ready")
    phone.locator("#body").fill("Yes please, send it today")
    phone.locator("#reply button").click()
    expect(phone.locator("#error")).to_be_empty()
    shot(phone, "tour-2-customer-phone")
    reply = pane.locator(".msg.inbound").last
    expect(reply).to_contain_text("Yes please, send it today", timeout=30_000)
    reply.get_by_text("Why is this message here?").click()
    expect(reply.locator(".why p")).to_have_text("This is the only record with this phone number.")
    app.locator("#bell summary").click()
    expect(app.locator("#bell-list .note").first).to_contain_text("New text message from +1 415-555-0134")
    shot(app, "tour-2-reply-live")
    app.keyboard.press("Escape")

    # 3. Reply STOP from the phone: the next send to that number is refused with RecipientOptedOut.
    phone.locator("#body").fill("STOP")
    phone.locator("#reply button").click()
    expect(pane.locator(".msg.inbound").last).to_contain_text("STOP", timeout=30_000)
    expect(pane.locator("[data-opted-out]")).to_contain_text("opted out", timeout=30_000)
    pane.locator("#pane-body").fill("Are you still interested?")
    pane.get_by_role("button", name="Send").click()
    expect(pane.locator("[data-send-error]")).to_contain_text("RecipientOptedOut")
    shot(app, "tour-3-opted-out")

    # 4. Send to Chen Wei: the pane shows the number as invalid and the send is refused with
    #    InvalidSendingParameters and its fix.
    app.locator("details.menu summary", has_text="Records").click()
    app.get_by_role("link", name="Contacts", exact=True).click()
    app.get_by_role("link", name="Chen Wei").click()
    app.get_by_role("button", name="Text messages on mobile phone").click()
    expect(pane.locator("[data-invalid-number]")).to_contain_text("“415 555” cannot be used as a phone number")
    pane.locator("#pane-body").fill("Hello Chen")
    pane.get_by_role("button", name="Send").click()
    error = pane.locator("[data-send-error]")
    expect(error).to_contain_text("InvalidSendingParameters")
    expect(error).to_contain_text("+5511912345678")
    shot(app, "tour-4-invalid-number")

    # 5. My text messages lists every conversation you may see; select one or more and Change to move them to
    #    another record of any type.
    app.get_by_role("link", name="My text messages").click()
    sam_conversations = list(
        Conversation.objects.filter(sender_number__e164__in=["+14155550001", "+14155550002"]).values_list(
            "pk", flat=True
        )
    )
    for pk in sam_conversations:
        expect(app.locator(f"tr[data-conversation-row='{pk}']")).to_have_count(1)
    acme = Conversation.objects.get(account__external_id="demo-acct-1", customer_e164="+14155550100")
    app.locator(f"tr[data-conversation-row='{acme.pk}'] input[name=conversation]").check()
    app.locator(".toolbar").get_by_role("button", name="Change").click()
    app.get_by_label(re.compile("Move the selected conversations")).fill("Dana")
    target = app.locator(".toolbar [data-target-key^='lead:']").first
    expect(target).to_contain_text("Dana Silva")
    shot(app, "tour-5-move")
    target.click()
    expect(app).to_have_url(re.compile(r"/records/lead/\d+/"))
    expect(pane.locator(".msg").last).to_contain_text("we will review it on Monday")
    expect(pane.locator("#pane-to")).to_have_value("+14155550100")  # the moved conversation's customer
    acme.refresh_from_db()
    assert acme.record_type == "lead" and acme.lead.first_name == "Dana"

    # 6. Sign in as seller2: Sam's conversations are not there, not even by direct URL.
    other = browser_page()
    sign_in(other, "seller2")
    expect(other.locator("table.grid")).to_contain_text("Bruno Costa")
    for pk in sam_conversations:
        expect(other.locator(f"tr[data-conversation-row='{pk}']")).to_have_count(0)
    alice = Conversation.objects.get(contact__external_id="demo-contact-1", customer_e164=ALICE)
    assert other.goto(f"/conversations/{alice.pk}/").status == 404
    shot(other, "tour-6-seller2")
