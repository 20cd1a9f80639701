"""The customer phone page in a real browser: it shows what the seller sent and posts the customer's reply."""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import pytest

SID = "AC" + "6" * 32
TOKEN = "phone-token"
OURS = "+14155550002"
CUSTOMER = "+14155550177"


@pytest.mark.browser
def test_customer_reads_and_replies(simulator, sink):
    import os

    from playwright.sync_api import expect, sync_playwright

    simulator.state.add_number(
        {
            "number": OURS,
            "account_sid": SID,
            "auth_token": TOKEN,
            "sms_url": sink.url + "/webhooks/in",
            "status_callback": sink.url + "/webhooks/st",
        }
    )
    sent = httpx.post(
        f"{simulator.url}/2010-04-01/Accounts/{SID}/Messages.json",
        auth=(SID, TOKEN),
        data={"To": CUSTOMER, "From": OURS, "Body": "Hi Dana, here is your quote."},
    )
    assert sent.status_code == 201
    with sync_playwright() as playwright:
        chromium = os.environ.get("TEXTDESK_CHROMIUM", "/usr/bin/chromium")
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(simulator.url + "/phone")
            expect(page.locator("#ours option")).to_have_count(1)
            page.fill("#customer", CUSTOMER)
            page.dispatch_event("#customer", "change")
            expect(page.locator("#thread .msg.in")).to_contain_text("Hi Dana, here is your quote.")
            page.fill("#body", "Thanks, looks good!")
            page.click("button[type=submit]")
            expect(page.locator("#thread .msg.out")).to_contain_text("Thanks, looks good!")
        finally:
            browser.close()
    [inbound] = sink.wait_for(1, "/webhooks/in")
    params = {k: v[0] for k, v in parse_qs(inbound.body.decode()).items()}
    assert (params["From"], params["To"], params["Body"]) == (CUSTOMER, OURS, "Thanks, looks good!")
