"""Consent keywords in inbound messages: opt-out, opt-in, help.

A message counts only when it is *just* the keyword (any case, accents and
surrounding punctuation or whitespace ignored): "STOP", "stop!", " Parar. ".
A sentence that merely contains one ("please don't stop") is an ordinary message.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

OPT_OUT = "opt_out"
OPT_IN = "opt_in"
HELP = "help"

# keyword (lower case, no accents, inner spaces collapsed) -> action
_OPT_OUT_WORDS = {
    # English (the carriers' standard set)
    "stop",
    "stopall",
    "stop all",
    "unsubscribe",
    "cancel",
    "end",
    "quit",
    "revoke",
    "optout",
    "opt out",
    # Portuguese
    "parar",
    "pare",
    "sair",
    "cancelar",
    "descadastrar",
    # Spanish
    "baja",
    "darme de baja",
    "alto",
    "detener",
    # Italian
    "annulla",
    "disdici",
    "cancella",
    "basta",
}
_ALL_NUMBERS_WORDS = {"stopall", "stop all"}
_OPT_IN_WORDS = {
    "start",
    "unstop",
    "yes",
    "subscribe",
    "iniciar",
    "sim",
    "voltar",  # pt
    "si",
    "comenzar",
    "alta",  # es (accents removed: "sí" -> "si")
    "inizia",
    "riattiva",  # it
}
_HELP_WORDS = {"help", "info", "ajuda", "ayuda", "aiuto"}

_KEYWORDS: dict[str, str] = {
    **{w: OPT_OUT for w in _OPT_OUT_WORDS},
    **{w: OPT_IN for w in _OPT_IN_WORDS},
    **{w: HELP for w in _HELP_WORDS},
}


@dataclass(frozen=True)
class Keyword:
    action: str  # OPT_OUT | OPT_IN | HELP
    word: str  # normalised keyword as matched
    all_numbers: bool = False  # STOPALL: every one of our numbers, not only the one written to


_SEPARATORS = re.compile(r"[\s\-_]+")


def _normalise(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    # Strip everything that is not a letter or digit from both ends (punctuation, emoji, spaces).
    start, end = 0, len(plain)
    while start < end and not plain[start].isalnum():
        start += 1
    while end > start and not plain[end - 1].isalnum():
        end -= 1
    return _SEPARATORS.sub(" ", plain[start:end])


def classify(body: str | None) -> Keyword | None:
    """The consent keyword the whole message is, or None for an ordinary message."""
    if not body or len(body) > 40:
        return None
    word = _normalise(body)
    action = _KEYWORDS.get(word)
    if action is None:
        return None
    return Keyword(action=action, word=word, all_numbers=word in _ALL_NUMBERS_WORDS)
