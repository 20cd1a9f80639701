"""In a real browser: the work list → a record's "Up next" → the text step prefilled → done."""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import shutil

import pytest

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not shutil.which("chromium") and not os.path.exists("/usr/bin/chromium"), reason="needs Chromium"
    ),
]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HAS_OUTBOUND = importlib.util.find_spec("textdesk.messaging.outbound.send") is not None


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
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )


def test_work_list_to_up_next_then_the_text_step_and_the_call(
    browser_page, live_server, seller, manager, make_record, make_template, make_sender_number, tmp_path
):
    from textdesk.sequences import actions
    from textdesk.sequences.models import SequenceConnection

    make_sender_number(owner=seller)
    template = make_template(manager, body="Hi {{ContactFirstName}}, it's {{UserFirstName}}.")
    sequence = actions.create_sequence(
        manager,
        name="Follow-up",
        steps=[actions.StepInput(kind="text_manual", template_id=template.pk), actions.StepInput(kind="call")],
    )
    record = make_record("contact", seller, first_name="Alice", last_name="Moreno", mobile_phone="+14155550134")
    actions.connect(seller, sequence.pk, [record.record_key])

    context, page = browser_page
    _log_in(context, live_server, seller)
    page.goto("/sequences/")
    item = page.locator(".work-item", has_text="Alice Moreno")
    item.wait_for()
    page.screenshot(path=str(tmp_path / "work-list.png"))
    item.locator("a.message-icon").click()

    # "#compose" opened the step: in the web app's conversation pane when the page has one, else in Up next.
    if _has_web_pane():
        composer = page.locator("#pane form[data-composer]")
    else:
        composer = page.locator("[data-up-next] form.composer")
    body = composer.locator("textarea[name=body]")
    body.wait_for(state="visible")
    page.wait_for_function(
        "t => document.querySelector(t).value.length > 0",
        arg="#pane textarea[name=body]" if _has_web_pane() else "[data-up-next] textarea[name=body]",
    )
    assert body.input_value() == "Hi Alice, it's Sam."
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
    if HAS_OUTBOUND:
        from textdesk.messaging.models import Message

        [message] = Message.objects.all()
        assert message.body == "Hi Alice, it's Sam." and conn.history.first().message_id == message.pk


def _has_web_pane() -> bool:
    from django.urls import NoReverseMatch, reverse

    try:
        reverse("record_pane", args=["contact", 1])
    except NoReverseMatch:
        return False
    return True


HAS_EVENT_STREAM = importlib.util.find_spec("textdesk.live.sse") is not None


@pytest.fixture
def asgi_server(transactional_db):
    """The real ASGI application (with the /live/events stream) served by uvicorn on an ephemeral port."""
    import threading
    import time

    import uvicorn

    from textdesk.asgi import application

    server = uvicorn.Server(
        uvicorn.Config(
            application, host="127.0.0.1", port=0, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
        )
    )
    thread = threading.Thread(target=server.run, name="sequences-test-asgi", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.skipif(not HAS_EVENT_STREAM, reason="needs the live event stream (textdesk.live.sse)")
def test_up_next_and_the_work_list_follow_progress_live(asgi_server, monkeypatch, seller, make_record, make_sequence):
    from django.conf import settings
    from django.db import connections
    from django.test import Client
    from django.utils import timezone
    from playwright.sync_api import sync_playwright

    from textdesk.jobs import worker
    from textdesk.sequences import actions
    from textdesk.sequences.models import SequenceConnection

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    worker.load_handlers()
    sequence = make_sequence("wait", "call", "email", wait=dt.timedelta(minutes=2))
    record = make_record("contact", seller, first_name="Live", last_name="Record")
    # Connected ten minutes ago on the controlled clock: the wait is over, the worker has not run yet.
    actions.connect(seller, sequence.pk, [record.record_key], now=timezone.now() - dt.timedelta(minutes=10))
    client = Client()
    client.force_login(seller)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        context = browser.new_context(base_url=asgi_server)
        context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "url": asgi_server,
                    "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                }
            ]
        )
        record_page, work_list = context.new_page(), context.new_page()
        streams: dict[object, int] = {record_page: 0, work_list: 0}
        for page, url in ((record_page, f"/sequences/records/{record.record_key}/"), (work_list, "/sequences/")):
            page.on(
                "request",
                lambda request, page=page: streams.__setitem__(
                    page, streams[page] + request.url.endswith("/live/events")
                ),
            )
            page.goto(url)
            page.wait_for_function(
                "() => document.documentElement.dataset.sequencesLive === 'open'"
            )  # a function: the CSP forbids eval
        # Up next shares the page's one event stream (browsers allow only a few connections per server).
        assert streams == {record_page: 1, work_list: 1}
        record_page.locator(".up-next-step[data-step-kind='wait']").wait_for()

        assert worker.run_once("live-test-worker") == 1  # the wait is over: the record moves to the call
        record_page.locator(".up-next-step[data-step-kind='call']").wait_for()
        work_list.locator(".work-item[data-step-kind='call']", has_text="Live Record").wait_for()

        conn = SequenceConnection.objects.get()
        actions.complete_step(seller, conn.pk, conn.current_step_id)  # e.g. from another tab or the API
        record_page.locator(".up-next-step[data-step-kind='email']").wait_for()
        work_list.locator(".work-item[data-step-kind='email']", has_text="Live Record").wait_for()
        connections.close_all()
        context.close()
        browser.close()
