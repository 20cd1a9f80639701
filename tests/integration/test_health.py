def test_healthz_ok(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["database"] == "ok"


def test_healthz_503_when_database_unreachable(client, db, monkeypatch):
    from django.db import DatabaseError, connection

    def broken_cursor(*args, **kwargs):
        raise DatabaseError("connection refused")

    with monkeypatch.context() as patched:
        patched.setattr(connection, "cursor", broken_cursor)
        response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["status"] == "unavailable"


def test_login_page_is_served(client, db):
    response = client.get("/login/")
    assert response.status_code == 200 and b"TextDesk" in response.content


def test_roles_exist_with_named_permissions(db):
    from django.contrib.auth.models import Group

    seller = Group.objects.get(name="Salesperson")
    codes = set(seller.permissions.values_list("codename", flat=True))
    assert {"receive_inbound_messages", "send_messages", "manage_own_templates"} <= codes
    admin = Group.objects.get(name="System Administrator")
    assert admin.permissions.filter(codename="manage_sms_providers").exists()


def test_static_files_are_served_by_the_asgi_application(db):
    import asyncio

    import httpx

    from textdesk.asgi import application

    async def fetch(path):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.get(path)

    css = asyncio.run(fetch("/static/web/app.css"))
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]
    assert asyncio.run(fetch("/static/admin/css/base.css")).status_code == 200
    assert asyncio.run(fetch("/static/web/../../settings.py")).status_code == 404
