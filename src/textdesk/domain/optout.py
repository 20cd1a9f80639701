"""Consent keywords in inbound messages: opt-out, opt-in, help.

A message counts only when it is *just* the keyword (any case, accents and
surrounding punctuation or whitespace ignored): "STOP", "stop!", " Parar. ".
A sentence that merely contains one ("please don't stop") is an ordinary message;
free text that asks to stop is the business of :mod:`textdesk.domain.optout_intent`.

The English set is the one the US rules reserve (FCC 24-18: stop, quit, end, revoke,
opt out, cancel, unsubscribe) plus the carriers' STOPALL and OPTOUT; the Portuguese,
Spanish and Italian sets are their common local forms. Each word also says which
languages it belongs to, so the confirmation can be written in the customer's language.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

OPT_OUT = "opt_out"
OPT_IN = "opt_in"
HELP = "help"

LANGUAGES = ("en", "pt-br", "es", "it")
EN, PT, ES, IT = LANGUAGES

# keyword (lower case, no accents, inner spaces collapsed) -> languages it is a keyword of
_OPT_OUT_WORDS: dict[str, tuple[str, ...]] = {
    # English: the reserved words and the carriers' additions
    "stop": (EN, PT, ES, IT),
    "stopall": (EN,),
    "stop all": (EN,),
    "unsubscribe": (EN,),
    "cancel": (EN,),
    "end": (EN,),
    "quit": (EN,),
    "revoke": (EN,),
    "optout": (EN,),
    "opt out": (EN,),
    # Portuguese
    "parar": (PT, ES),
    "pare": (PT,),
    "sair": (PT,),
    "cancelar": (PT, ES),
    "descadastrar": (PT,),
    "remover": (PT,),
    # Spanish
    "baja": (ES,),
    "darme de baja": (ES,),
    "alto": (ES,),
    "detener": (ES,),
    "no mas": (ES,),
    "basta ya": (ES,),
    # Italian
    "annulla": (IT,),
    "disdici": (IT,),
    "cancella": (IT,),
    "cancellami": (IT,),
    "basta": (IT, ES, PT),
    "disiscrivi": (IT,),
}
_ALL_NUMBERS_WORDS = {"stopall", "stop all"}
_OPT_IN_WORDS: dict[str, tuple[str, ...]] = {
    "start": (EN,),
    "unstop": (EN,),
    "yes": (EN,),
    "subscribe": (EN,),
    "iniciar": (PT, ES),
    "sim": (PT,),
    "voltar": (PT,),
    "si": (ES, IT),  # accents removed: "sí" -> "si"
    "comenzar": (ES,),
    "alta": (ES,),
    "inizia": (IT,),
    "riattiva": (IT,),
}
_HELP_WORDS: dict[str, tuple[str, ...]] = {
    "help": (EN,),
    "info": (EN, PT, ES, IT),
    "ajuda": (PT,),
    "ayuda": (ES,),
    "aiuto": (IT,),
}

_KEYWORDS: dict[str, str] = {
    **{w: OPT_OUT for w in _OPT_OUT_WORDS},
    **{w: OPT_IN for w in _OPT_IN_WORDS},
    **{w: HELP for w in _HELP_WORDS},
}
_LANGUAGES_OF: dict[str, tuple[str, ...]] = {**_OPT_OUT_WORDS, **_OPT_IN_WORDS, **_HELP_WORDS}


@dataclass(frozen=True)
class Keyword:
    action: str  # OPT_OUT | OPT_IN | HELP
    word: str  # normalised keyword as matched
    all_numbers: bool = False  # STOPALL: every one of our numbers, not only the one written to
    languages: tuple[str, ...] = (EN,)  # the languages this word is a keyword of, most likely first

    def language(self, preferred: str | None = None) -> str:
        """The customer's language: ``preferred`` (the record's or the organisation's) when the word fits it."""
        if preferred in self.languages:
            return preferred
        return self.languages[0]


_SEPARATORS = re.compile(r"[\s\-_]+")


def normalise(text: str) -> str:
    """Lower case, accents removed, punctuation trimmed from both ends, inner separators collapsed."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    # Strip everything that is not a letter or digit from both ends (punctuation, emoji, spaces).
    start, end = 0, len(plain)
    while start < end and not plain[start].isalnum():
        start += 1
    while end > start and not plain[end - 1].isalnum():
        end -= 1
    return _SEPARATORS.sub(" ", plain[start:end])


_normalise = normalise  # the name older callers know


def classify(body: str | None) -> Keyword | None:
    """The consent keyword the whole message is, or None for an ordinary message."""
    if not body or len(body) > 40:
        return None
    word = normalise(body)
    action = _KEYWORDS.get(word)
    if action is None:
        return None
    return Keyword(action=action, word=word, all_numbers=word in _ALL_NUMBERS_WORDS, languages=_LANGUAGES_OF[word])


def is_opt_out_word(word: str) -> bool:
    return _KEYWORDS.get(normalise(word)) == OPT_OUT


# ------------------------------------------------------------ one confirmation per opt-out

CONFIRMATION_WINDOW_SECONDS = 5 * 60  # the US rule: at most one confirmation, within five minutes


def confirmation_key(kind: str, customer: str, scope: str, episode: int) -> str:
    """The one key of an auto-reply: at most one confirmation per customer, scope and consent episode.

    ``episode`` is the id of the last consent change of the opposite kind (0 when none): "STOP" three
    times, or a provider's retried webhook, stay in one episode and so get one confirmation; STOP after a
    START is a new opt-out and gets its own.
    """
    return f"{kind}:{customer}:{scope}:{episode}"[:200]


def help_key(customer: str, scope: str, at_epoch_seconds: float) -> str:
    """HELP is answered at most once per five-minute window (a customer hammering HELP gets one answer)."""
    return f"{HELP}:{customer}:{scope}:{int(at_epoch_seconds // CONFIRMATION_WINDOW_SECONDS)}"


def confirmation_is_due(received_epoch: float, now_epoch: float) -> bool:
    """A confirmation later than five minutes after the opt-out is not allowed any more: send none."""
    return 0 <= now_epoch - received_epoch <= CONFIRMATION_WINDOW_SECONDS or now_epoch < received_epoch
