"""End to end in a real browser with the real pieces: send through the worker to the built-in simulator
(Twilio wire format), delivery reports back over webhooks, the customer's reply from the simulator's phone page."""

import re

import pytest
from playwright.sync_api import expect

pytest.importorskip("textdesk.messaging.outbound.send")
pytest.importorskip("textdesk.messaging.inbound.intake_asgi")
simulator_server = pytest.importorskip("textdesk.simulator.server")

pytestmark = pytest.mark.browser

CUSTOMER = "+14155550134"


@pytest.fixture
def simulator():
    handle = simulator_server.start_in_thread()
    yield handle
    handle.stop()


@pytest.fixture
def carrier_scene(
    settings, server, simulator, worker, make_user, make_record, make_provider_account, make_sender_number
):
    from textdesk.demo.simulator import configure_from_database
    from textdesk.messaging.models import MessageTemplate

    # Webhook URLs of provider accounts are built from the public URL: the live server of this test.
    settings.PUBLIC_URL = server.url
    sam = make_user("sam", first_name="Sam", last_name="Seller")
    account = make_provider_account(
        "twilio",
        options={"base_url": simulator.url},
        credentials={"account_sid": "AC" + "5e" * 16, "auth_token": "sim-token"},
    )
    line = make_sender_number("+14155550001", owner=sam, provider_account=account, name="Sam's line")
    acme = make_record("account", sam, name="Acme Logistics")
    alice = make_record("contact", sam, first_name="Alice", last_name="Moreno", account=acme, mobile_phone=CUSTOMER)
    MessageTemplate.objects.create(
        owner=sam,
        name="Quote ready",
        category="contact",
        language="en",
        body="Hi {{ContactFirstName}}, the {{AccountName}} quote is ready.",
    )
    assert configure_from_database(simulator.state, simulator.url) == 1
    return type("CarrierScene", (), dict(sam=sam, line=line, alice=alice, acme=acme))


def test_send_from_template_delivery_report_and_live_reply(new_page, carrier_scene, simulator, shot):
    page = new_page(carrier_scene.sam)
    page.goto(f"/records/contact/{carrier_scene.alice.pk}/")
    expect(page.locator("body[data-live-state=open]")).to_have_count(1)
    page.locator("[data-phone-field=mobile_phone]").click()
    pane = page.locator("#pane")
    pane.get_by_label("Template").select_option(label="Quote ready (English)")
    expect(pane.locator("#pane-body")).to_have_value("Hi Alice, the Acme Logistics quote is ready.")
    pane.locator("#pane-body").press("Control+Enter")
    outbound = pane.locator(".msg.outbound").last
    expect(outbound).to_contain_text("the Acme Logistics quote is ready")
    expect(outbound.locator("[data-delivery-report]")).to_have_text("Delivered", timeout=20_000)
    shot(page, "20-sent-and-delivered")

    phone = new_page()
    phone.goto(f"{simulator.url}/phone")
    phone.locator("#customer").fill(CUSTOMER)
    phone.locator("#ours").select_option("+14155550001")
    expect(phone.locator("#thread")).to_contain_text("quote is ready")
    phone.locator("#body").fill("Great, see you Monday")
    phone.locator("#reply button").click()
    shot(phone, "21-simulator-phone")

    expect(pane.locator(".msg.inbound").last).to_contain_text("Great, see you Monday", timeout=20_000)
    expect(page.locator("#bell-count")).to_be_hidden()  # seen live in the open pane: not unread
    shot(page, "22-reply-live")
    pane.locator(".msg.inbound").last.get_by_text("Why is this message here?").click()
    expect(pane.locator(".msg.inbound .why p").last).not_to_be_empty()


def test_undelivered_message_explains_why_on_hover(new_page, carrier_scene, simulator, shot):
    simulator.state.add_rule({"to_pattern": CUSTOMER, "async_error_code": 30006, "final_status": "undelivered"})
    page = new_page(carrier_scene.sam)
    page.goto(f"/records/contact/{carrier_scene.alice.pk}/?pane=1")
    expect(page.locator("body[data-live-state=open]")).to_have_count(1)
    body = page.locator("#pane-body")
    body.fill("Are you at the office?")
    page.locator("#pane").get_by_role("button", name="Send").click()
    report = page.locator("#pane .msg.outbound").last.locator("[data-delivery-report]")
    expect(report).to_have_text("Not delivered", timeout=20_000)
    report.hover()
    tooltip = page.locator("#pane .msg.outbound").last.locator(".tooltip")
    expect(tooltip).to_be_visible()
    expect(tooltip).to_contain_text(re.compile("landline", re.I))
    shot(page, "23-undelivered-reason")
