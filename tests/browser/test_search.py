"""Search in a real browser: typing in the grid's search box or the top bar's shows highlighted results, and
never another seller's message."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

SIZES = {"desktop": (1366, 768), "phone": (390, 844)}


@pytest.fixture
def words(scene, make_record, make_conversation):
    make_conversation(
        scene.account,
        scene.sam_line,
        "+14155550100",
        messages=[("inbound", "Can you resend the <b>invoice</b>?", "received")],
    )
    theirs = make_record("contact", scene.rui, first_name="Rita", last_name="Other")
    make_conversation(
        theirs, scene.rui_line, "+14155550777", messages=[("inbound", "Rui's invoice secret", "received")]
    )


def _inside_viewport(page, locator) -> None:
    box = locator.bounding_box()
    width, height = page.viewport_size["width"], page.viewport_size["height"]
    assert box and box["width"] > 0 and box["x"] >= 0 and box["x"] + box["width"] <= width and box["y"] < height


@pytest.mark.parametrize("size", SIZES)
def test_typing_in_the_grid_search_shows_the_highlighted_message(new_page, scene, words, shot, size):
    page = new_page(scene.sam)
    page.set_viewport_size(dict(zip(("width", "height"), SIZES[size], strict=True)))
    page.goto("/messages/")
    page.get_by_role("searchbox", name="Search my text messages").press_sequentially("invoi")
    mark = page.locator("#grid tbody mark")
    expect(mark).to_have_count(1)
    expect(mark).to_have_text("invoi")
    row = page.locator("#grid tbody tr.hit")
    expect(row).to_have_count(1)
    # The body's markup is shown as text, the match marked, the other seller's message absent.
    expect(row).to_contain_text("Can you resend the <b>invoice</b>?")
    expect(page.locator("#grid")).not_to_contain_text("secret")
    expect(page).to_have_url(re.compile(r"search=invoi"))
    mark.scroll_into_view_if_needed()
    expect(mark).to_be_visible()
    _inside_viewport(page, mark)
    shot(page, f"search-grid-{size}-{SIZES[size][0]}x{SIZES[size][1]}")


@pytest.mark.parametrize("size", SIZES)
def test_the_top_bar_search_finds_a_customer_by_name_from_any_page(new_page, scene, words, shot, size):
    page = new_page(scene.sam)
    page.set_viewport_size(dict(zip(("width", "height"), SIZES[size], strict=True)))
    page.goto(f"/records/contact/{scene.alice.pk}/")
    box = page.get_by_role("search", name="Search everywhere").get_by_role("searchbox")
    expect(box).to_be_visible()
    _inside_viewport(page, box)
    box.fill("alice")
    box.press("Enter")
    expect(page.get_by_role("heading", name="My text messages")).to_be_visible()
    row = page.locator(f"#grid tbody tr[data-conversation-row='{scene.conv.pk}']")
    # Found twice: by the customer's name, and by a message that names her.
    expect(page.locator("#grid tbody tr")).to_have_count(2)
    name = row.locator("td.customer mark")
    expect(name).to_have_text("Alice")
    expect(row.locator("td.preview mark")).to_have_text("Alice")
    name.scroll_into_view_if_needed()
    _inside_viewport(page, name)
    shot(page, f"search-topbar-{size}-{SIZES[size][0]}x{SIZES[size][1]}")
