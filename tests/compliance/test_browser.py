"""In a real browser: the pane shows the customer's consent and an opt-out request written in free text; one
click records it. Screenshots at 1366x768 and 390x844 under $TEXTDESK_ARTIFACTS."""

from __future__ import annotations

import pytest

from tests.browser.conftest import artifacts_dir, chromium, new_page, server, shot  # noqa: F401

pytestmark = pytest.mark.browser

CUSTOMER = "+14155550166"


@pytest.fixture
def flagged(transactional_db, make_user, make_sender_number, make_record):
    from textdesk.compliance.actions import intent, ledger
    from textdesk.messaging.inbound.intake import store_inbound
    from textdesk.messaging.inbound.router import route_pending
    from textdesk.providers.base import InboundSMS

    seller = make_user("seller", first_name="Sam")
    number = make_sender_number("+14155550100", owner=seller)
    contact = make_record("contact", seller, mobile_phone=CUSTOMER, first_name="Alice", last_name="Moreno")
    ledger.record(customer=CUSTOMER, purpose="marketing", granted=True, method="web_form", wording="Offers by text")
    store_inbound(number.provider_account_id, [InboundSMS("SMbr1", CUSTOMER, number.e164, "Please stop texting me")])
    route_pending("browser")
    intent.scan()
    return seller, number, contact


@pytest.mark.parametrize("size", [(1366, 768), (390, 844)])
def test_the_seller_sees_the_request_and_records_the_opt_out_in_one_click(new_page, shot, flagged, size):
    from textdesk.compliance.models import OptOutFlag
    from textdesk.messaging.actions.consent import is_opted_out

    seller, number, contact = flagged
    flag = OptOutFlag.objects.get()
    page = new_page(seller)
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto(f"/records/contact/{contact.pk}/pane/?c={flag.conversation_id}")
    banner = page.locator(f"[data-optout-flag='{flag.pk}']")
    banner.wait_for(state="visible")
    banner.scroll_into_view_if_needed()
    marketing = page.locator("#consent-box .consent-marketing")
    assert marketing.is_visible() and "granted" in marketing.inner_text()
    box = banner.bounding_box()
    assert box["width"] > 0 and box["x"] >= 0 and box["x"] + box["width"] <= size[0] + 1  # inside the viewport
    shot(page, f"compliance-optout-request-{size[0]}x{size[1]}")

    banner.get_by_role("button", name="Record the opt-out").click()
    page.locator("#consent-box .consent-transactional .status.bad").wait_for(state="visible")
    assert page.locator("[data-optout-flag]").count() == 0
    shot(page, f"compliance-optout-recorded-{size[0]}x{size[1]}")
    assert is_opted_out(CUSTOMER, number.e164)
