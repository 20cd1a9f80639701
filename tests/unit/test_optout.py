"""Consent keywords: only a message that is just the keyword counts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textdesk.domain.optout import _KEYWORDS, HELP, OPT_IN, OPT_OUT, classify

TABLE = [
    ("STOP", OPT_OUT, False),
    ("stop", OPT_OUT, False),
    (" Stop. ", OPT_OUT, False),
    ("STOP!!!", OPT_OUT, False),
    ("STOPALL", OPT_OUT, True),
    ("stop all", OPT_OUT, True),
    ("Unsubscribe", OPT_OUT, False),
    ("CANCEL", OPT_OUT, False),
    ("end", OPT_OUT, False),
    ("Quit", OPT_OUT, False),
    ("REVOKE", OPT_OUT, False),
    ("OPTOUT", OPT_OUT, False),
    ("opt-out", OPT_OUT, False),
    ("PARAR", OPT_OUT, False),
    ("sair", OPT_OUT, False),
    ("Cancelar", OPT_OUT, False),
    ("BAJA", OPT_OUT, False),
    ("alto", OPT_OUT, False),
    ("ANNULLA", OPT_OUT, False),
    ("disdici", OPT_OUT, False),
    ("START", OPT_IN, False),
    ("unstop", OPT_IN, False),
    ("Yes", OPT_IN, False),
    ("INICIAR", OPT_IN, False),
    ("SÍ", OPT_IN, False),
    ("si", OPT_IN, False),
    ("sim", OPT_IN, False),
    ("HELP", HELP, False),
    ("info?", HELP, False),
    ("AJUDA", HELP, False),
    ("ayuda", HELP, False),
    ("Aiuto", HELP, False),
    ("¡AYUDA!", HELP, False),
    ("👋 stop 👋", OPT_OUT, False),
]

NOT_KEYWORDS = [
    "",
    "   ",
    "please don't stop",
    "stop sending me these",
    "can we stop by tomorrow?",
    "STOP IT NOW",
    "yes please",
    "help me with my order",
    "backend",
    "stopped",
    "Hi, I am interested",
    "st op",
]


@pytest.mark.parametrize("text,action,all_numbers", TABLE)
def test_keyword_table(text, action, all_numbers):
    keyword = classify(text)
    assert keyword is not None and keyword.action == action and keyword.all_numbers == all_numbers


@pytest.mark.parametrize("text", NOT_KEYWORDS)
def test_ordinary_messages_are_not_keywords(text):
    assert classify(text) is None


KEYWORDS = sorted(_KEYWORDS)
padding = st.text(alphabet=" \t\n.,;:!?¡¿\"'()…-", max_size=4)


def _random_case(word: str, flips: list[bool]) -> str:
    return "".join(ch.upper() if flip else ch for ch, flip in zip(word, flips + [False] * len(word)))


@settings(derandomize=True, max_examples=300)
@given(st.sampled_from(KEYWORDS), padding, padding, st.lists(st.booleans(), max_size=20))
def test_case_and_surrounding_punctuation_do_not_matter(word, before, after, flips):
    assert classify(before + _random_case(word, flips) + after).action == _KEYWORDS[word]


@settings(derandomize=True, max_examples=300)
@given(st.sampled_from(KEYWORDS), st.from_regex(r"[a-z]{2,8}", fullmatch=True), st.booleans())
def test_a_keyword_inside_a_sentence_is_not_a_keyword(word, other, before):
    text = f"{other} {word}" if before else f"{word} {other}"
    if classify(text) is not None:
        # Only acceptable when the whole phrase is itself a keyword (e.g. "stop all", "opt out").
        assert text in _KEYWORDS
    else:
        assert classify(text) is None


@settings(derandomize=True, max_examples=200)
@given(st.text(max_size=60))
def test_classify_never_raises_and_is_deterministic(text):
    assert classify(text) == classify(text)
