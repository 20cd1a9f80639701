import pytest
from django.urls import reverse

HX = {"HTTP_HX_REQUEST": "true"}


def test_login_required(client, db):
    response = client.get(reverse("my_text_messages"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_grid_lists_visible_conversations(sam_client, scene):
    response = sam_client.get(reverse("my_text_messages"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "+14155550134" in body and "Alice Moreno" in body and "Yes, thanks!" in body
    assert 'data-open="/conversations/%d/pane/"' % scene.conv.pk in body


def test_grid_filters_and_sort(sam_client, scene, make_conversation):
    make_conversation(scene.account, scene.sam_line, "+14155550100", messages=[("outbound", "Hi Acme", "sent")])
    body = sam_client.get(reverse("my_text_messages"), {"type": "account"}).content.decode()
    assert "Hi Acme" in body and "Yes, thanks!" not in body
    body = sam_client.get(reverse("my_text_messages"), {"unread": "1"}).content.decode()
    assert "Yes, thanks!" in body and "Hi Acme" not in body
    body = sam_client.get(reverse("my_text_messages"), {"number": "0100"}).content.decode()
    assert "Hi Acme" in body and "Yes, thanks!" not in body
    body = sam_client.get(reverse("my_text_messages"), {"sort": "customer"}).content.decode()
    assert body.index("+14155550100") < body.index("+14155550134")
    body = sam_client.get(reverse("my_text_messages"), {"sort": "-customer"}).content.decode()
    assert body.index("+14155550134") < body.index("+14155550100")


def test_grid_partial_for_htmx(sam_client, scene):
    response = sam_client.get(reverse("my_text_messages"), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="grid")
    assert b"<html" not in response.content and b"Alice Moreno" in response.content


def test_grid_pagination(sam_client, scene, make_record, make_conversation):
    for i in range(30):
        lead = make_record("lead", scene.sam, last_name=f"Lead{i}")
        make_conversation(lead, scene.sam_line, f"+1415555{2000 + i}", messages=[("outbound", f"m{i}", "sent")])
    first = sam_client.get(reverse("my_text_messages")).content.decode()
    second = sam_client.get(reverse("my_text_messages"), {"page": 2}).content.decode()
    assert "1–25 of 31 conversations" in first and "26–31 of 31 conversations" in second


def test_other_seller_cannot_see_conversation(client, scene):
    client.force_login(scene.rui)
    assert b"+14155550134" not in client.get(reverse("my_text_messages")).content
    assert client.get(reverse("conversation", args=[scene.conv.pk])).status_code == 404
    assert client.get(reverse("conversation_pane", args=[scene.conv.pk]), **HX).status_code == 404
    assert client.get(reverse("conversation_history", args=[scene.conv.pk])).status_code == 404


def test_record_page_phone_icons_and_invalid(sam_client, scene):
    body = sam_client.get(reverse("record_detail", args=["contact", scene.alice.pk])).content.decode()
    assert 'data-phone-field="mobile_phone"' in body
    body = sam_client.get(reverse("record_detail", args=["contact", scene.chen.pk])).content.decode()
    # An invalid number still has its message icon: the pane explains why it cannot be used and how to fix it.
    assert "415 555" in body and "Invalid number" in body and 'data-phone-field="mobile_phone"' in body


def test_record_lists_and_search(sam_client, scene):
    for kind in ("account", "contact", "lead", "opportunity"):
        assert sam_client.get(reverse("record_list", args=[kind])).status_code == 200
    body = sam_client.get(reverse("record_list", args=["contact"]), {"q": "alice"}).content.decode()
    assert "Alice Moreno" in body and "Chen Wei" not in body
    assert sam_client.get(reverse("record_list", args=["nothing"])).status_code == 404


def test_opportunity_activity_tab_lists_its_conversations(sam_client, scene, make_conversation):
    make_conversation(scene.opp, scene.sam_line, "+14155550134", messages=[("outbound", "About the fleet", "sent")])
    body = sam_client.get(
        reverse("record_detail", args=["opportunity", scene.opp.pk]), {"tab": "activity"}
    ).content.decode()
    assert "About the fleet" in body


def test_up_next_hook_is_filled_by_the_sales_accelerator(sam_client, scene):
    """The web app's hook shows none of its own notes; the installed sequences app fills it with "Up next"."""
    body = sam_client.get(reverse("record_detail", args=["contact", scene.alice.pk])).content.decode()
    assert "Sales accelerator hook" not in body
    assert 'data-up-next="contact:' in body and "Up next" in body and "This record is not in a sequence" in body


def test_pane_history_statuses_failure_and_routing(sam_client, scene):
    response = sam_client.get(reverse("record_pane", args=["contact", scene.alice.pk]), **HX)
    body = response.content.decode()
    assert body.index("Hello Alice") < body.index("Did you see it?") < body.index("Yes, thanks!")
    assert "Delivered" in body
    assert "Invalid sending parameters" in body and "E.164" in body
    assert "most recent conversation" in body
    assert "Sam&#x27;s line" in body or "Sam's line" in body


def test_opening_pane_marks_conversation_read(sam_client, scene):
    from textdesk.messaging.models import Notification

    Notification.objects.create(user=scene.sam, kind="inbound_message", title="New", conversation=scene.conv)
    sam_client.get(reverse("conversation_pane", args=[scene.conv.pk]), **HX)
    scene.conv.refresh_from_db()
    assert scene.conv.unread_count == 0
    assert not Notification.objects.filter(user=scene.sam, read_at__isnull=True).exists()


def test_pane_without_htmx_redirects_to_record_page(sam_client, scene):
    response = sam_client.get(reverse("record_pane", args=["contact", scene.alice.pk]))
    assert response.status_code == 302 and f"/records/contact/{scene.alice.pk}/?pane=1" in response["Location"]


def test_pane_states_no_phone_invalid_opted_out(sam_client, scene, make_record):
    from textdesk.messaging.actions.consent import record_consent

    nophone = make_record("contact", scene.sam, last_name="Nophone")
    body = sam_client.get(reverse("record_pane", args=["contact", nophone.pk]), **HX).content.decode()
    assert "This record has no phone number." in body
    body = sam_client.get(reverse("record_pane", args=["contact", scene.chen.pk]), **HX).content.decode()
    assert "cannot be used as a phone number" in body and "too few digits" in body and "+14155550134" in body
    record_consent("+14155550134", "*", "opt_out", "keyword")
    body = sam_client.get(reverse("record_pane", args=["contact", scene.alice.pk]), **HX).content.decode()
    assert "opted out" in body


def test_pane_related_selector(sam_client, scene):
    body = sam_client.get(reverse("record_pane", args=["contact", scene.alice.pk]), **HX).content.decode()
    assert "Fleet renewal" in body
    body = sam_client.get(reverse("record_pane", args=["opportunity", scene.opp.pk]), **HX).content.decode()
    assert "Alice Moreno" in body and "+1 415 555 0134" in body


def test_template_fill_uses_record_values_and_defaults(sam_client, scene):
    from textdesk.messaging.models import MessageTemplate

    t = MessageTemplate.objects.create(
        owner=scene.sam,
        name="Hi",
        category="contact",
        language="en",
        body="Hi {{ContactFirstName}} from {{AccountName}}, {{ContactEmail}}",
        placeholders=[{"name": "ContactEmail", "display_name": "", "default": "no email"}],
    )
    data = sam_client.get(reverse("template_fill", args=["contact", scene.alice.pk, t.pk])).json()
    assert data["body"] == "Hi Alice from Acme Logistics, no email"


def test_send_shows_refusal_or_unavailable_inline(sam_client, scene):
    response = sam_client.post(
        reverse("send", args=["contact", scene.alice.pk]),
        {"to": "+14155550134", "from": scene.sam_line.pk, "body": ""},
        **HX,
    )
    assert response.status_code in (422, 503)
    assert b"data-send-error" in response.content


def test_no_seller_privilege_is_explained(client, make_user, scene):
    viewer = make_user("viewer", role=None)
    client.force_login(viewer)
    body = client.get(reverse("my_text_messages")).content.decode()
    assert "Salesperson" in body


def test_notifications_list_and_open(sam_client, scene):
    from textdesk.messaging.models import Notification

    n = Notification.objects.create(
        user=scene.sam, kind="inbound_message", title="New text from Alice", conversation=scene.conv
    )
    p = Notification.objects.create(
        user=scene.sam, kind="missing_privilege", title="Missing privilege", body="A message arrived for you."
    )
    body = sam_client.get(reverse("notification_list")).content.decode()
    assert "New text from Alice" in body
    body = sam_client.post(reverse("notification_open", args=[n.pk]), **HX).content.decode()
    assert "Yes, thanks!" in body
    n.refresh_from_db()
    assert n.read_at is not None
    body = sam_client.post(reverse("notification_open", args=[p.pk]), **HX).content.decode()
    assert "Ask your administrator" in body


def test_notification_of_another_user_is_404(client, scene):
    from textdesk.messaging.models import Notification

    n = Notification.objects.create(user=scene.sam, kind="inbound_message", title="x", conversation=scene.conv)
    client.force_login(scene.rui)
    assert client.post(reverse("notification_open", args=[n.pk])).status_code == 404


@pytest.mark.parametrize(
    "code,word",
    [("pt-br", "Minhas mensagens de texto"), ("es", "Mis mensajes de texto"), ("it", "I miei messaggi di testo")],
)
def test_language_switch(sam_client, scene, code, word):
    response = sam_client.post(reverse("set_user_language"), {"language": code, "next": "/messages/"})
    assert response.status_code == 302
    scene.sam.refresh_from_db()
    assert scene.sam.language == code
    assert word in sam_client.get("/messages/").content.decode()


def test_language_switch_refuses_unknown(sam_client, scene):
    assert sam_client.post(reverse("set_user_language"), {"language": "xx"}).status_code == 400


def test_record_search_typeahead(sam_client, scene):
    body = sam_client.get(reverse("record_search"), {"q": "Acme"}).content.decode()
    assert f'data-target-key="account:{scene.account.pk}"' in body
    body = sam_client.get(reverse("record_search"), {"q": "+14155550134"}).content.decode()
    assert f'data-target-key="contact:{scene.alice.pk}"' in body


def test_own_number_is_the_default_sender(sam_client, scene, make_team, make_sender_number, make_record):
    team = make_team("Alpha desk", [scene.sam])
    make_sender_number("+14155550002", owner=team, name="A team line")  # sorts first by name
    nophone_conv_record = make_record("contact", scene.sam, last_name="Fresh", mobile_phone="+14155550199")
    body = sam_client.get(
        reverse("record_pane", args=["contact", nophone_conv_record.pk]), HTTP_HX_REQUEST="true"
    ).content.decode()
    selected = body.split('id="pane-from"')[1].split("</select>")[0]
    assert f'value="{scene.sam_line.pk}" selected' in selected


def test_the_bell_counts_unread_notifications_up_to_99_then_shows_99_plus(sam_client, scene):
    """Counting stops at 100, so a seller who never opens the bell costs no more per page or per message."""
    import re

    from textdesk.messaging import unread
    from textdesk.messaging.models import Notification

    def bell() -> str:
        page = sam_client.get(reverse("my_text_messages")).content.decode()
        return re.search(r'<span id="bell-count"[^>]*>([^<]*)</span>\s*<span class="sr-only">([^<]*)<', page).groups()

    Notification.objects.filter(user=scene.sam).delete()
    Notification.objects.bulk_create(
        [Notification(user=scene.sam, kind="inbound_message", title=f"n{i}") for i in range(3)]
    )
    assert bell() == ("3", "3 unread notifications")
    Notification.objects.bulk_create(
        [Notification(user=scene.sam, kind="inbound_message", title=f"m{i}") for i in range(120)]
    )
    assert unread.badge_count(scene.sam.pk) == unread.BADGE_LIMIT
    assert bell() == ("99+", "More than 99 unread notifications")
    Notification.objects.filter(user=scene.sam).update(read_at="2026-01-01T00:00:00Z")
    assert unread.badge_counts([scene.sam.pk]) == {scene.sam.pk: 0}


def test_bell_counts_of_several_users_are_read_in_one_query(sam_client, scene):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from textdesk.messaging import unread
    from textdesk.messaging.models import Notification

    Notification.objects.filter(user__in=[scene.sam, scene.rui]).delete()
    Notification.objects.bulk_create(
        [Notification(user=scene.sam, kind="inbound_message", title=f"s{i}") for i in range(150)]
        + [Notification(user=scene.rui, kind="inbound_message", title="r")]
    )
    with CaptureQueriesContext(connection) as queries:
        counts = unread.badge_counts([scene.sam.pk, scene.rui.pk, scene.rui.pk])
    assert counts == {scene.sam.pk: unread.BADGE_LIMIT, scene.rui.pk: 1}
    assert len(queries.captured_queries) == 1
