from textdesk.domain import templating


def test_render_fills_fields_and_related_entities():
    body = "Hi {{ContactFirstName}}, {{UserFirstName}} from {{AccountName}} here."
    context = {"contact": {"first_name": "Alice"}, "account": {"name": "Acme"}, "user": {"first_name": "Sam"}}
    assert templating.render(body, "contact", context) == "Hi Alice, Sam from Acme here."


def test_default_used_when_field_is_empty():
    out = templating.render(
        "Hi {{ContactFirstName}}",
        "contact",
        {"contact": {"first_name": ""}},
        {"ContactFirstName": {"default": "there"}},
    )
    assert out == "Hi there"


def test_unknown_placeholders_are_reported_per_category():
    assert templating.unknown_placeholders("{{LeadTopic}} {{ContactFirstName}}", "contact") == ["LeadTopic"]


def test_template_code_is_never_executed():
    body = "{{ __class__ }} {% if x %}{{ContactFirstName.upper}}{% endif %}"
    out = templating.render(body, "contact", {"contact": {"first_name": "A"}})
    assert out == body
