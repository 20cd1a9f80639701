from django.urls import reverse

from textdesk.messaging.models import MessageTemplate


def _post(client, url, **fields):
    data = {
        "name": "Welcome",
        "category": "contact",
        "language": "en",
        "body": "Hi {{ContactFirstName}}, this is {{UserFirstName}}.",
        "ph_name": ["ContactFirstName", "UserFirstName"],
        "ph_display": ["First name", ""],
        "ph_default": ["there", ""],
    }
    data.update(fields)
    return client.post(url, data)


def test_create_edit_delete_template(sam_client, scene):
    response = _post(sam_client, reverse("template_new"))
    assert response.status_code == 302
    t = MessageTemplate.objects.get(owner=scene.sam, name="Welcome")
    assert t.placeholders[0] == {"name": "ContactFirstName", "display_name": "First name", "default": "there"}
    assert "Welcome" in sam_client.get(reverse("template_list")).content.decode()
    response = _post(
        sam_client,
        reverse("template_edit", args=[t.pk]),
        name="Welcome 2",
        body="Bye {{UserFirstName}}",
        ph_name=["UserFirstName"],
        ph_display=[""],
        ph_default=["me"],
    )
    assert response.status_code == 302
    t.refresh_from_db()
    assert t.name == "Welcome 2" and t.placeholders == [{"name": "UserFirstName", "display_name": "", "default": "me"}]
    assert sam_client.post(reverse("template_delete", args=[t.pk])).status_code == 302
    assert not MessageTemplate.objects.filter(pk=t.pk).exists()


def test_unknown_placeholder_refused_with_clear_message(sam_client, scene):
    response = _post(
        sam_client, reverse("template_new"), category="account", body="Hi {{ContactFirstName}} at {{AccountName}}"
    )
    assert response.status_code == 422
    assert "{{ContactFirstName}}" in response.content.decode()
    assert not MessageTemplate.objects.exists()


def test_duplicate_name_refused(sam_client, scene):
    _post(sam_client, reverse("template_new"))
    response = _post(sam_client, reverse("template_new"))
    assert response.status_code == 422 and "already have a template" in response.content.decode()


def test_templates_of_others_are_404(client, scene):
    t = MessageTemplate.objects.create(owner=scene.sam, name="Mine", category="contact", body="x")
    client.force_login(scene.rui)
    assert client.get(reverse("template_edit", args=[t.pk])).status_code == 404
    assert client.post(reverse("template_delete", args=[t.pk])).status_code == 404
    assert "Mine" not in client.get(reverse("template_list")).content.decode()


def test_placeholder_picker_follows_category(sam_client, scene):
    body = sam_client.get(reverse("template_placeholders"), {"category": "lead"}).content.decode()
    assert "LeadCompanyName" in body and "ContactFirstName" not in body
    body = sam_client.get(reverse("template_new"), {"category": "opportunity"}).content.decode()
    assert "OpportunityName" in body


def test_template_offered_in_pane_for_its_category(sam_client, scene):
    MessageTemplate.objects.create(owner=scene.sam, name="For contacts", category="contact", body="x")
    MessageTemplate.objects.create(owner=scene.sam, name="For leads", category="lead", body="y")
    body = sam_client.get(
        reverse("record_pane", args=["contact", scene.alice.pk]), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "For contacts" in body and "For leads" not in body


def test_demo_templates_use_only_known_placeholders(db):
    from textdesk.demo.organisation import DEMO_TEMPLATES, seed_demo
    from textdesk.domain import templating

    for name, category, _language, body, _options in DEMO_TEMPLATES:
        assert templating.unknown_placeholders(body, category) == [], name
    seed_demo()
    seed_demo()  # idempotent
    assert MessageTemplate.objects.filter(owner__username="seller").count() == len(DEMO_TEMPLATES)
