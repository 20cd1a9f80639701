import datetime as dt
from decimal import Decimal

from django.utils import translation

from textdesk.web import routing_words


def test_routing_rules_are_explained_in_words():
    assert "most recent conversation" in routing_words.explain("most_recent_conversation")
    assert "new lead" in routing_words.explain("new_lead")
    assert "team" in routing_words.explain("owned_by_team_member")
    assert "contacts come first" in routing_words.explain("entity_type")
    assert routing_words.explain("") == "No routing rule was recorded for this message."
    assert "“mystery”" in routing_words.explain("mystery")


def test_routing_words_are_translated():
    with translation.override("pt-br"):  # Brazilian sales teams say "lead"
        assert "um novo lead foi criado" in routing_words.explain("new_lead")
    with translation.override("es"):
        assert "cliente potencial" in routing_words.explain("new_lead")


def test_record_context_for_templates(make_user, make_record):
    from textdesk.domain import templating
    from textdesk.messaging.template_context import record_context

    seller = make_user("ctx", first_name="Sam", last_name="Seller")
    account = make_record("account", seller, name="Acme", city="Lisbon")
    contact = make_record("contact", seller, first_name="Ana", last_name="Lima", account=account)
    opp = make_record(
        "opportunity",
        seller,
        name="Renewal",
        account=account,
        estimated_value=Decimal("48000"),
        estimated_close_date=dt.date(2027, 3, 1),
    )
    body = "{{ContactFirstName}} {{AccountCity}} {{UserFullName}}"
    assert templating.render(body, "contact", record_context(contact, seller)) == "Ana Lisbon Sam Seller"
    with translation.override("pt-br"):
        text = templating.render(
            "{{OpportunityEstimatedValue}} {{OpportunityCloseDate}}", "opportunity", record_context(opp, seller)
        )
    assert text == "48000,00 01/03/2027"
