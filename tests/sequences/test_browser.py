"""In a real browser: the work list → a record's "Up next" → the text step prefilled → done."""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("chromium") and not os.path.exists("/usr/bin/chromium"),
                       reason="needs Chromium"),
]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HAS_OUTBOUND = importlib.util.find_spec("textdesk.messaging.actions.outbound") is not None


@pytest.fixture
def browser_page(transactional_db, live_server, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are safe here.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        context = browser.new_context(base_url=live_server.url)
        # The test server is plain WSGI without the event stream; the page works without it.
        context.route("**/live/events", lambda route: route.abort())
        page = context.new_page()
        yield context, page
        # ORM calls made while Playwright runs get a connection of their own; close it before the
        # test database is dropped.
        from django.db import connections

        connections.close_all()
        context.close()
        browser.close()


def _log_in(context, live_server, user) -> None:
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                          "url": live_server.url}])


def test_work_list_to_up_next_then_the_text_step_and_the_call(browser_page, live_server, seller, manager,
                                                              make_record, make_template, make_sender_number,
                                                              tmp_path):
    from textdesk.sequences import actions
    from textdesk.sequences.models import SequenceConnection

    make_sender_number(owner=seller)
    template = make_template(manager, body="Hi {{ContactFirstName}}, it's {{UserFirstName}}.")
    sequence = actions.create_sequence(manager, name="Follow-up", steps=[
        actions.StepInput(kind="text_manual", template_id=template.pk), actions.StepInput(kind="call")])
    record = make_record("contact", seller, first_name="Alice", last_name="Moreno", mobile_phone="+14155550134")
    actions.connect(seller, sequence.pk, [record.record_key])

    context, page = browser_page
    _log_in(context, live_server, seller)
    page.goto("/sequences/")
    item = page.locator(".work-item", has_text="Alice Moreno")
    item.wait_for()
    page.screenshot(path=str(tmp_path / "work-list.png"))
    item.locator("a.message-icon").click()

    composer = page.locator("form.composer")
    composer.wait_for(state="visible")  # "#compose" opened it
    assert composer.locator("textarea").input_value() == "Hi Alice, it's Sam."
    page.screenshot(path=str(tmp_path / "up-next-text.png"))

    conn = SequenceConnection.objects.get()
    if HAS_OUTBOUND:
        composer.locator("button[type=submit]").click()
    else:  # until outbound sending is merged, the seller skips the text step
        page.locator("form[action$='/skip/'] button").click()
    page.locator(".up-next-step[data-step-kind='call']").wait_for()
    page.get_by_role("button", name="Mark done").click()
    page.get_by_text("This record is not in a sequence.").wait_for()
    conn.refresh_from_db()
    assert conn.state == "completed"
    assert [h.outcome for h in conn.history.all()] == ["completed" if HAS_OUTBOUND else "skipped", "completed"]
