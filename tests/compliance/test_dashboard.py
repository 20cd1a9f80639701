"""The manager's dashboard: figures from real messages, CSV of each chart, managers and administrators only;
in Chromium the charts are drawn by Chart.js (installed from npm by scripts/install.sh)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from tests.browser.conftest import artifacts_dir, chromium, new_page, server, shot  # noqa: F401

CUSTOMER = "+14155550155"
VENDOR = Path(__file__).resolve().parents[2] / "src/textdesk/compliance/static/compliance/vendor/chart.umd.js"


@pytest.fixture
def figures(transactional_db, make_user, make_sender_number, make_record):
    from textdesk.messaging.actions.consent import record_consent
    from textdesk.messaging.models import Conversation, Message
    from textdesk.org import roles

    seller = make_user("seller")
    manager = make_user("manager", role=roles.SALES_MANAGER)
    number = make_sender_number("+14155550100", owner=seller)
    contact = make_record("contact", seller, mobile_phone=CUSTOMER)
    conversation = Conversation(customer_e164=CUSTOMER, sender_number=number)
    conversation.set_record(contact)
    conversation.save()
    now = timezone.now()
    common = {"conversation": conversation, "sender_number": number, "provider_account_id": number.provider_account_id}
    inbound = Message.objects.create(
        direction="inbound", from_number=CUSTOMER, to_number=number.e164, body="hi", status="received", **common
    )
    Message.objects.filter(pk=inbound.pk).update(created_at=now - dt.timedelta(minutes=30))
    for status, reason in (("delivered", ""), ("delivered", ""), ("delivered", ""), ("failed", "RecipientOptedOut")):
        Message.objects.create(
            direction="outbound",
            from_number=number.e164,
            to_number=CUSTOMER,
            body="x",
            status=status,
            failure_reason=reason,
            **common,
        )
    record_consent(CUSTOMER, number.e164, "opt_out", "keyword")
    return seller, manager, number


def test_figures_csv_and_who_may_see_them(figures):
    seller, manager, number = figures
    web = Client()
    web.force_login(seller)
    assert web.get("/compliance/dashboard/").status_code == 403
    web.force_login(manager)
    page = web.get("/compliance/dashboard/").content.decode()
    assert "75.0% delivered" in page and "median 30.0 min" in page
    rows = list(csv.reader(io.StringIO(web.get("/compliance/dashboard/delivery.csv").content.decode())))
    assert rows == [["delivered", "failed", "pending", "delivery_rate_percent"], ["3", "1", "0", "75.0"]]
    per_day = list(
        csv.reader(io.StringIO(web.get("/compliance/dashboard/messages.csv", {"number": number.pk}).content.decode()))
    )
    assert per_day[0] == ["day", "sent", "received"] and sum(int(r[1]) for r in per_day[1:]) == 4
    optouts = list(csv.reader(io.StringIO(web.get("/compliance/dashboard/optouts.csv").content.decode())))
    assert sum(int(r[1]) for r in optouts[1:]) == 1
    assert web.get("/compliance/dashboard/nonsense.csv").status_code == 404


def _csv(web, chart, **params):
    return list(csv.reader(io.StringIO(web.get(f"/compliance/dashboard/{chart}.csv", params).content.decode())))


def test_per_seller_per_team_and_per_number_with_the_team_filter(figures, make_user, make_team, make_sender_number):
    from textdesk.messaging.models import Message

    seller, manager, number = figures
    team = make_team("North", [seller])
    other = make_team("South", [make_user("far")])
    Message.objects.filter(direction="outbound").update(author=seller)
    web = Client()
    web.force_login(manager)
    assert _csv(web, "sellers") == [["seller", "sent", "delivered", "failed"], ["seller", "4", "3", "1"]]
    assert _csv(web, "teams") == [
        ["team", "sent", "received", "delivered"],
        ["North", "4", "1", "3"],  # the seller's own number counts for the seller's team
        ["South", "0", "0", "0"],
    ]
    assert _csv(web, "optouts_by_number") == [["number", "opt_outs"], [number.e164, "1"]]
    assert _csv(web, "messages", team=other.pk) == [["day", "sent", "received"]]  # nothing on South's numbers
    assert _csv(web, "optouts", team=other.pk) == [["week", "opt_outs"]]
    assert sum(int(r[1]) for r in _csv(web, "messages", team=team.pk)[1:]) == 4
    page = web.get("/compliance/dashboard/", {"team": team.pk, "days": 7}).content.decode()
    assert f'<option value="{team.pk}" selected>North</option>' in page and "Per seller" in page
    assert web.get("/compliance/dashboard/", {"team": "99999999999999999999"}).status_code == 200


@pytest.mark.browser
@pytest.mark.skipif(not VENDOR.exists(), reason="Chart.js not installed: run scripts/install.sh")
@pytest.mark.parametrize("size", [(1366, 768), (390, 844)])
def test_the_charts_are_drawn_in_the_browser(new_page, shot, figures, size):
    from textdesk.messaging.models import Message

    seller, manager, number = figures
    Message.objects.filter(direction="outbound").update(author=seller)
    page = new_page(manager)
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto("/compliance/dashboard/")
    page.wait_for_function("window.textdeskCharts && Object.keys(window.textdeskCharts).length === 7")
    assert page.locator("#dash-team").is_visible() and page.locator("#dash-number").is_visible()
    canvas = page.locator("#chart-messages")
    assert canvas.is_visible()
    box = canvas.bounding_box()
    assert box["width"] > 100 and box["height"] > 50 and box["x"] + box["width"] <= size[0] + 1
    assert page.locator("[data-figure='delivery-rate']").inner_text().startswith("75.0%")
    shot(page, f"compliance-dashboard-{size[0]}x{size[1]}")
    sellers = page.locator("#chart-sellers")
    sellers.scroll_into_view_if_needed()
    assert sellers.is_visible() and sellers.bounding_box()["height"] > 50
    shot(page, f"compliance-dashboard-sellers-{size[0]}x{size[1]}")


def _first_response_by_hand(timeline):
    """The rule, read from the messages in time order: a customer's run of messages is answered by the seller's
    next message, the delay counted from the run's first message."""
    waiting, delays = {}, []
    for conversation, direction, at in sorted(timeline, key=lambda m: m[2]):
        if direction == "inbound":
            waiting.setdefault(conversation, at)
        elif conversation in waiting:
            delays.append((at - waiting.pop(conversation)).total_seconds() / 60)
    delays.sort()
    n = len(delays)
    median = (delays[(n - 1) // 2] + delays[n // 2]) / 2
    return [n, round(median, 1), round(delays[min(n - 1, 9 * n // 10)], 1)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_first_response_time_follows_each_customer_run_to_its_answer(
    transactional_db, make_user, make_sender_number, make_record, seed
):
    """Conversations with runs of customer messages, several replies in a row, replies with nothing to answer and
    messages older than the period: the figures equal the rule applied by hand."""
    import random

    from textdesk.compliance import dashboard
    from textdesk.messaging.models import Conversation, Message

    rng = random.Random(seed)
    seller = make_user("seller")
    number = make_sender_number("+14155550100", owner=seller)
    now = timezone.now()
    timeline = []
    for i in range(6):
        customer = f"+1415555{1000 + i}"
        conversation = Conversation(customer_e164=customer, sender_number=number)
        conversation.set_record(make_record("contact", seller, mobile_phone=customer))
        conversation.save()
        at = now - dt.timedelta(days=31)
        for _ in range(rng.randint(6, 14)):
            at += dt.timedelta(minutes=rng.choice([1, 7, 30, 95, 600, 3000]))
            direction = rng.choice(["inbound", "inbound", "outbound"])
            message = Message.objects.create(
                conversation=conversation,
                sender_number=number,
                provider_account_id=number.provider_account_id,
                direction=direction,
                from_number=customer if direction == "inbound" else number.e164,
                to_number=number.e164 if direction == "inbound" else customer,
                body="x",
                status="received" if direction == "inbound" else "delivered",
            )
            Message.objects.filter(pk=message.pk).update(created_at=at)
            if at >= now - dt.timedelta(days=30):
                timeline.append((conversation.pk, direction, at))
    expected = _first_response_by_hand(timeline)
    assert expected[0] > 0
    assert dashboard.first_response(dashboard.Filters(days=30)) == [
        ["replies", "median_minutes", "p90_minutes"],
        expected,
    ]
