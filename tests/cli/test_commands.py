"""The ``textdesk`` command: every command explains itself, tokens work, import end to end in a child process."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from textdesk.org.models import ApiToken

COMMANDS = {
    "serve": "web server",
    "worker": "queue worker",
    "demo": "demo organisation",
    "migrate": "database",
    "import": "CSV",
    "token": "API token",
    "seed_demo": "demo organisation",
}


def test_top_level_help_lists_every_command(textdesk):
    result = textdesk("--help", check=True)
    for name in COMMANDS:
        assert f"  {name} " in result.stdout, name
    assert "Django management command" in result.stdout


@pytest.mark.parametrize("command,words", sorted(COMMANDS.items()))
def test_each_command_help_says_what_it_does(textdesk, command, words):
    result = textdesk(command, "--help", check=True)
    assert result.stdout.startswith("usage: textdesk ")
    assert words.lower() in result.stdout.lower(), result.stdout[:800]


def test_import_help_documents_the_columns(textdesk):
    out = textdesk("import", "--help", check=True).stdout
    assert out.startswith("usage: textdesk import ")
    for column in (
        "external_id",
        "owner_username",
        "owner_team",
        "account_external_id",
        "mobile_phone",
        "related_contact_external_ids",
        "--errors",
    ):
        assert column in out, column


def test_import_end_to_end_exit_code_progress_and_error_report(textdesk, tmp_path):
    textdesk("migrate", "--verbosity", "0", check=True)
    textdesk("shell", "-c", "from textdesk.org.models import User; User.objects.create_user('sam')", check=True)
    good = tmp_path / "good.csv"
    good.write_text("external_id,name,business_phone,country,owner_username\nA1,Acme,(11) 3456-7890,BR,sam\n")
    result = textdesk("import", "account", str(good))
    assert result.returncode == 0, result.stderr
    assert "1 rows: 1 created, 0 updated, 0 failed" in result.stdout
    assert "1/1" in result.stderr  # the progress bar
    bad = tmp_path / "bad.csv"
    bad.write_text("external_id,name,owner_username\nA2,Beta,sam\nA3,Gamma,ghost\n")
    errors = tmp_path / "errors.csv"
    result = textdesk("import", "account", str(bad), "--errors", str(errors))
    assert result.returncode == 0  # a row was stored: a summary, not a failure
    assert "bad.csv:3: unknown user 'ghost'" in result.stderr
    assert "2 rows: 1 created, 0 updated, 1 failed" in result.stdout
    strict = textdesk("import", "account", str(bad), "--strict")
    assert strict.returncode == 1 and "1 failed" in strict.stderr
    assert errors.read_text().splitlines()[1].startswith("3,")
    again = textdesk("import", "account", str(good))
    assert "1 rows: 0 created, 1 updated, 0 failed" in again.stdout


def test_token_command_for_unknown_user_fails(textdesk):
    textdesk("migrate", "--verbosity", "0", check=True)
    result = textdesk("token", "nobody")
    assert result.returncode == 1 and "no user named 'nobody'" in result.stderr


@pytest.mark.django_db
def test_token_prints_a_working_bearer_token(make_user, capsys):
    seller = make_user("sam")
    call_command("token", "sam", "--name", "sync job")
    token = capsys.readouterr().out.strip()
    assert token.startswith("td_")
    stored = ApiToken.objects.get(user=seller)
    assert stored.name == "sync job" and token not in stored.token_hash and stored.prefix == token[:8]
    response = Client(headers={"Authorization": f"Bearer {token}"}).get("/api/v1/contacts")
    assert response.status_code == 200
    stored.refresh_from_db()
    assert stored.last_used_at is not None


@pytest.mark.django_db
def test_token_for_unknown_user_is_a_command_error():
    with pytest.raises(CommandError, match="no user named"):
        call_command("token", "ghost")
