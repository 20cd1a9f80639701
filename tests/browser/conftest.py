"""A real Chromium (Debian's) driven by Playwright against the real ASGI app served on 127.0.0.1."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from tests.web.conftest import make_conversation, scene  # noqa: F401  (shared fixtures)
from tests.web.liveserver import LiveServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = Path(os.environ.get("TEXTDESK_ARTIFACTS") or "artifacts").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


# Module scope: Playwright's sync API allows one running instance per thread, and other test folders start
# their own; this one is stopped before the next module runs.
@pytest.fixture(scope="module")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (scripts/install.sh --test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def server(transactional_db):
    srv = LiveServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def worker(transactional_db):
    from textdesk.jobs.worker import Worker

    w = Worker(name="browser-test-worker", idle_wait=0.2)
    thread = w.start_in_thread()
    yield w
    w.stop()
    thread.join(timeout=10)


@pytest.fixture
def new_page(chromium, server):
    contexts = []

    def make(user=None, locale="en-US"):
        context = chromium.new_context(base_url=server.url, locale=locale, viewport={"width": 1440, "height": 900})
        if user is not None:
            from django.conf import settings
            from django.test import Client

            client = Client()
            client.force_login(user)
            context.add_cookies(
                [
                    {
                        "name": settings.SESSION_COOKIE_NAME,
                        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                        "url": server.url,
                    }
                ]
            )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def shot(artifacts_dir):
    def save(page, name: str) -> None:
        page.screenshot(path=str(artifacts_dir / f"{name}.png"), full_page=False)

    return save
