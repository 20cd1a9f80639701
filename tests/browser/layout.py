"""Layout checks for browser tests: on screen, not clipped, no sideways scrolling; pages at a given size."""

from __future__ import annotations

LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
SIZES = {"1366x768": LAPTOP, "390x844": PHONE}


def open_page(chromium, server, user=None, viewport=LAPTOP, locale="en-US"):
    """A new browser context at ``viewport``, signed in as ``user`` (a session cookie, no login form)."""
    context = chromium.new_context(base_url=server.url, locale=locale, viewport=viewport)
    if user is not None:
        from django.conf import settings
        from django.test import Client

        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": server.url}])
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


def assert_on_screen(page, locator) -> dict:
    """The element is visible, wholly inside the viewport, and is what a click at its centre would hit."""
    locator.wait_for(state="visible")
    box = locator.bounding_box()
    size = page.viewport_size
    assert box is not None, "no box: not rendered"
    assert box["width"] > 0 and box["height"] > 0, box
    assert box["x"] >= -0.5 and box["y"] >= -0.5, (box, size)
    assert box["x"] + box["width"] <= size["width"] + 0.5, (box, size)
    assert box["y"] + box["height"] <= size["height"] + 0.5, (box, size)
    hit = locator.evaluate(
        """(el) => { const r = el.getBoundingClientRect();
                     const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
                     return !!top && (el === top || el.contains(top)); }"""
    )
    assert hit, "covered or clipped: a click at its centre hits another element"
    return box


def assert_no_horizontal_overflow(page) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]")
    assert max(widths[:2]) <= widths[2], f"the page scrolls sideways: {widths}"


def assert_inside(inner: dict, outer: dict) -> None:
    assert inner["x"] >= outer["x"] - 0.5 and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 0.5, (
        inner,
        outer,
    )
