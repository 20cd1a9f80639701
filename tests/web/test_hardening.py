"""Sign-in lockout and record, bad-token lockout, strong passwords for new users, CSP, production settings."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.test import Client

from textdesk.org.models import ApiToken, SignInRecord

pytestmark = pytest.mark.django_db


def _sign_in(client: Client, username: str, password: str):
    return client.post("/login/", {"username": username, "password": password})


def test_ten_wrong_passwords_lock_the_account_out_even_for_the_right_one(make_user):
    user = make_user("sam")
    user.set_password("right-Passw0rd-long")
    user.save()
    browser = Client()
    for _ in range(10):
        assert _sign_in(browser, "sam", "wrong").status_code == 200
    locked = _sign_in(browser, "sam", "right-Passw0rd-long")
    assert locked.status_code == 429 and "Too many failed sign-ins" in locked.content.decode()
    assert "_auth_user_id" not in browser.session
    # Another client trying the same account is locked out too.
    assert _sign_in(Client(REMOTE_ADDR="10.0.0.9"), "sam", "right-Passw0rd-long").status_code == 429
    outcomes = list(SignInRecord.objects.order_by("id").values_list("outcome", flat=True))
    assert outcomes == ["failed"] * 10 + ["locked_out"] * 2


def test_fewer_failures_then_success_signs_in_and_is_recorded(make_user):
    user = make_user("ana")
    user.set_password("right-Passw0rd-long")
    user.save()
    browser = Client()
    for _ in range(9):
        _sign_in(browser, "ana", "wrong")
    assert _sign_in(browser, "ana", "right-Passw0rd-long").status_code == 302
    assert SignInRecord.objects.filter(outcome="succeeded", user=user).exists()


def test_ten_bad_tokens_lock_the_client_out_of_the_api(make_user):
    _, good = ApiToken.issue(make_user("bot"))
    api = Client()
    for n in range(10):
        assert api.get("/api/v1/contacts", HTTP_AUTHORIZATION=f"Bearer bogus-{n}").status_code == 401
    refused = api.get("/api/v1/contacts", HTTP_AUTHORIZATION=f"Bearer {good}")
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited" and refused["Retry-After"]
    # Another client is not affected.
    assert (
        Client(REMOTE_ADDR="10.0.0.8").get("/api/v1/contacts", HTTP_AUTHORIZATION=f"Bearer {good}").status_code == 200
    )


def test_a_new_user_needs_a_strong_password(make_user):
    from textdesk.org import roles

    _, token = ApiToken.issue(make_user("root", role=roles.SYSTEM_ADMINISTRATOR))
    api = Client(headers={"Authorization": f"Bearer {token}"})
    for weak in ("textdesk", "12345678901234", "newperson-1"):
        response = api.post(
            "/api/v1/users", {"username": "newperson", "password": weak}, content_type="application/json"
        )
        assert response.status_code == 422, weak
    strong = api.post(
        "/api/v1/users",
        {"username": "newperson", "password": "violet-harbour-93-lantern"},
        content_type="application/json",
    )
    assert strong.status_code == 201, strong.content


def test_pages_carry_a_csp_without_inline_script(make_user):
    browser = Client()
    page = browser.get("/login/")
    csp = page["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src", 1)[1].split(";")[0]
    assert " on" not in page.content.decode().replace("\n", " ").split("<body", 1)[1].split(">", 1)[0]
    assert "onchange" not in page.content.decode()


def _settings_in_a_fresh_process(env: dict) -> subprocess.CompletedProcess:
    code = "import django; django.setup(); from django.conf import settings; print(settings.SECURE_HSTS_SECONDS, settings.SESSION_COOKIE_SECURE, settings.ALLOWED_HOSTS)"
    full = {**os.environ, "DJANGO_SETTINGS_MODULE": "textdesk.settings", "TEXTDESK_SECRET_KEY": "k" * 50, **env}
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=60)


def test_production_refuses_to_start_without_explicit_hosts():
    for hosts in ("", "*", "textdesk.example.com,*"):
        result = _settings_in_a_fresh_process({"TEXTDESK_ENV": "production", "TEXTDESK_ALLOWED_HOSTS": hosts})
        assert result.returncode != 0 and "TEXTDESK_ALLOWED_HOSTS" in result.stderr


def test_production_sends_hsts_and_secure_cookies():
    result = _settings_in_a_fresh_process(
        {"TEXTDESK_ENV": "production", "TEXTDESK_ALLOWED_HOSTS": "textdesk.example.com"}
    )
    assert result.returncode == 0, result.stderr
    seconds, secure, hosts = result.stdout.split(" ", 2)
    assert int(seconds) >= 31536000 and secure == "True" and "textdesk.example.com" in hosts
