"""Pages come out in the browser's language (Accept-Language): Brazilian Portuguese, Spanish and Italian.

Each page is checked two ways: a few words it must show in that language, and no text on it may be an English
message of the catalogs that the language translates differently (a string that escaped translation).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from tests.unit.test_catalogs import CATALOGS, parse_po

pytestmark = pytest.mark.django_db

# Folder name of the catalogs -> the Accept-Language a Brazilian, Spanish or Italian browser sends.
BROWSERS = {"pt_BR": "pt-BR,pt;q=0.9", "es": "es-ES,es;q=0.9", "it": "it-IT,it;q=0.9"}

EXPECTED = {
    "login": {
        "pt_BR": ["Entrar", "Usuário", "Senha"],
        "es": ["Iniciar sesión", "Usuario", "Contraseña"],
        "it": ["Accedi", "Nome utente"],
    },
    "my_text_messages": {
        "pt_BR": ["Minhas mensagens de texto"],
        "es": ["Mis mensajes de texto"],
        "it": ["I miei messaggi di testo"],
    },
    "record": {"pt_BR": ["Contato", "Celular"], "es": ["Contacto", "Teléfono móvil"], "it": ["Contatto", "Cellulare"]},
    "templates": {"pt_BR": ["Novo modelo"], "es": ["Nueva plantilla"], "it": ["Nuovo modello"]},
    "work_list": {"pt_BR": ["Lista de trabalho"], "es": ["Lista de trabajo"], "it": ["Elenco attività"]},
}


class VisibleText(HTMLParser):
    """Text nodes and the attributes a person reads or hears (title, placeholder, aria-label, alt).

    Left out: scripts and styles, and elements marked as another language (lang="..."), such as each language's
    own name in the language menu.
    """

    SPOKEN = {"title", "placeholder", "aria-label", "alt"}
    HIDDEN = {"script", "style", "template"}

    def __init__(self, language: str) -> None:
        super().__init__()
        self.language = language.lower().replace("_", "-")
        self.texts: list[str] = []
        self._skipping: list[str] = []  # tags opened since skipping began

    def handle_starttag(self, tag, attrs):
        lang = (dict(attrs).get("lang") or "").lower()
        foreign = bool(lang) and not self.language.startswith(lang.split("-")[0])
        if self._skipping or tag in self.HIDDEN or foreign:
            if tag not in ("input", "br", "img", "meta", "link", "hr", "source"):
                self._skipping.append(tag)
            return
        self.texts.extend(value for name, value in attrs if name in self.SPOKEN and value)

    def handle_endtag(self, tag):
        if self._skipping and self._skipping[-1] == tag:
            self._skipping.pop()

    def handle_data(self, data):
        if not self._skipping:
            self.texts.append(data)


def visible_texts(html: str, language: str) -> set[str]:
    parser = VisibleText(language)
    parser.feed(html)
    return {re.sub(r"\s+", " ", t).strip() for t in parser.texts} - {""}


def english_left_over(language: str) -> set[str]:
    """English msgids this language translates into something else (so they must not appear on its pages)."""
    msgids, msgstrs = set(), set()
    for path in CATALOGS:
        if path.parents[1].name != language:
            continue
        for entry in parse_po(path.read_text(encoding="utf-8")):
            msgstrs.update(entry.msgstr.values())
            translated = entry.msgstr.get(0) not in ("", entry.msgid)
            if entry.msgid and entry.msgid_plural is None and "%" not in entry.msgid and translated:
                msgids.add(entry.msgid)
    return msgids - msgstrs


@pytest.fixture
def pages(make_user, make_sender_number, make_record):
    """The URL of each page, and a client signed in as the seller who sees it."""
    from textdesk.messaging.models import MessageTemplate
    from textdesk.org.roles import SALES_MANAGER
    from textdesk.sequences import actions
    from textdesk.sequences.actions import StepInput

    seller = make_user("sofia", first_name="Sofia", last_name="Prado")
    manager = make_user("marta", role=SALES_MANAGER, first_name="Marta")
    make_sender_number("+14155550001", owner=seller, name="Sofia's line")
    contact = make_record("contact", seller, first_name="Alice", last_name="Moreno", mobile_phone="+14155550134")
    template = MessageTemplate.objects.create(
        owner=seller, name="Quote ready", category="contact", body="Hi {{ContactFirstName}}, your quote is ready."
    )
    sequence = actions.create_sequence(
        manager,
        name="Renewal cadence",
        steps=[StepInput(kind="text_manual", template_id=template.pk), StepInput(kind="call")],
    )
    actions.connect(seller, sequence.pk, [contact.record_key])
    client = Client()
    client.force_login(seller)
    urls = {
        "login": reverse("login"),
        "my_text_messages": reverse("my_text_messages"),
        "record": reverse("record_detail", args=["contact", contact.pk]),
        "templates": reverse("template_list"),
        "work_list": reverse("sequences:work_list"),
    }
    return client, urls


@pytest.mark.parametrize("language", list(BROWSERS))
@pytest.mark.parametrize("page", list(EXPECTED))
def test_page_is_in_the_browsers_language(pages, page, language):
    client, urls = pages
    if page == "login":
        client = Client()
    response = client.get(urls[page], HTTP_ACCEPT_LANGUAGE=BROWSERS[language])
    assert response.status_code == 200
    assert response.headers["Content-Language"] == language.lower().replace("_", "-")
    html = response.content.decode()
    texts = visible_texts(html, language)
    for words in EXPECTED[page][language]:
        assert any(words in t for t in texts), f"{words!r} is not on the {page} page in {language}"
    leaked = texts & english_left_over(language)
    assert not leaked, f"English left on the {page} page in {language}: {sorted(leaked)}"


def test_english_browser_gets_english(pages):
    """The check above can fail: the same page in English shows the English messages it looks for."""
    client, urls = pages
    texts = visible_texts(client.get(urls["work_list"], HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode(), "en")
    assert "Work list" in texts
    assert texts & english_left_over("pt_BR")


def test_catalogs_are_compiled():
    for path in CATALOGS:
        assert path.with_suffix(".mo").exists(), Path(path).name


@pytest.fixture
def simulator():
    from textdesk.simulator.server import start_in_thread

    handle = start_in_thread(host="127.0.0.1", port=0)
    yield handle
    handle.stop()


@pytest.mark.parametrize(
    "language,title",
    [
        ("pt_BR", "Telefone do cliente"),
        ("es", "Teléfono del cliente"),
        ("it", "Telefono del cliente"),
        ("en", "Customer phone"),
    ],
)
def test_simulator_phone_page_is_in_the_browsers_language(simulator, language, title):
    import httpx

    accept = BROWSERS.get(language, "en-US,en;q=0.9")
    response = httpx.get(simulator.url + "/phone", headers={"Accept-Language": accept})
    assert response.status_code == 200
    assert f'<html lang="{language.lower().replace("_", "-")}">' in response.text
    texts = visible_texts(response.text, language)
    assert any(t.startswith(title) for t in texts), sorted(texts)
    if language != "en":
        assert not texts & english_left_over(language)
