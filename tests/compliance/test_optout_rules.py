"""Today's opt-out rules as pure functions: reserved words in four languages, one confirmation per episode."""

from __future__ import annotations

import pytest

from textdesk.domain import optout, optout_intent, optout_model
from textdesk.domain.optout_intent import detect

RESERVED = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "OPT OUT", "opt-out"]
LOCAL = {"pt-br": ["PARAR", "Pare", "sair", "descadastrar"], "es": ["BAJA", "No más", "darme de baja", "alto"]}
LOCAL["it"] = ["ANNULLA", "disdici", "Basta", "cancellami"]


@pytest.mark.parametrize("word", RESERVED)
def test_every_reserved_word_is_an_opt_out(word):
    keyword = optout.classify(word)
    assert keyword is not None and keyword.action == optout.OPT_OUT


@pytest.mark.parametrize("language,word", [(lang, w) for lang, words in LOCAL.items() for w in words])
def test_local_forms_are_opt_outs_in_their_language(language, word):
    keyword = optout.classify(word)
    assert keyword.action == optout.OPT_OUT
    assert keyword.language() == language or language in keyword.languages


def test_the_reply_language_follows_the_customer_when_the_word_is_shared():
    assert optout.classify("cancelar").language("es") == "es"
    assert optout.classify("cancelar").language("it") == "pt-br"
    assert optout.classify("STOP").language("it") == "it"
    assert optout.classify("STOP").language(None) == "en"


@pytest.mark.parametrize("word,action", [("START", optout.OPT_IN), ("unstop", optout.OPT_IN), ("HELP", optout.HELP)])
def test_start_unstop_and_help(word, action):
    assert optout.classify(word).action == action


def test_three_stops_share_one_confirmation_key_and_a_new_episode_gets_another():
    first = optout.confirmation_key(optout.OPT_OUT, "+15550001", "+15550100", episode=0)
    again = optout.confirmation_key(optout.OPT_OUT, "+15550001", "+15550100", episode=0)
    after_start = optout.confirmation_key(optout.OPT_OUT, "+15550001", "+15550100", episode=42)
    assert first == again != after_start


def test_help_is_answered_once_per_five_minutes():
    assert optout.help_key("+1", "+2", 600.0) == optout.help_key("+1", "+2", 899.0)
    assert optout.help_key("+1", "+2", 600.0) != optout.help_key("+1", "+2", 900.0)


def test_a_confirmation_later_than_five_minutes_is_not_sent():
    assert optout.confirmation_is_due(1000.0, 1000.0 + 299)
    assert not optout.confirmation_is_due(1000.0, 1000.0 + 301)


@pytest.mark.parametrize(
    "text,language",
    [
        ("no me escriban más", "es"),
        ("non scrivetemi più", "it"),
        ("para de me mandar mensagem", "pt-br"),
        ("leave me alone", "en"),
        ("Please remove my number from your list", "en"),
        ("Déjenme en paz!!", "es"),
    ],
)
def test_free_text_asking_to_stop_is_detected(text, language):
    intent = detect(text)
    assert intent is not None and intent.language == language


@pytest.mark.parametrize(
    "text",
    [
        "Don't stop texting me, I like the deals",
        "can you stop by the office?",
        "No dejen de escribirme",
        "Non smettete di scrivermi",
        "Não para de me mandar as novidades",
        "Cancel my order please",
        "The app stopped working",
        "",
    ],
)
def test_hard_negatives_are_not_opt_outs(text):
    assert detect(text) is None


@pytest.mark.parametrize(
    "text,language",
    [
        ("i am done with your texts", "en"),
        ("chega, não aguento mais essas mensagens", "pt-br"),
        ("no quiero saber nada más de estos mensajes", "es"),
        ("basta, non ne voglio più sapere", "it"),
    ],
)
def test_the_classifier_finds_requests_the_rules_have_no_phrase_for(text, language):
    assert optout_intent.rules(text) is None  # no rule speaks: the model decides
    intent = detect(text)
    assert intent is not None and intent.language == language


def test_a_negative_phrase_vetoes_the_classifier_and_ordinary_questions_stay_ordinary():
    assert optout_intent.rules("stop by the store on Monday") is False
    assert detect("stop by the store on Monday") is None
    assert detect("Can you text me the price?") is None
    assert 0.5 <= optout_model.threshold() < 1.0


def test_the_stored_model_is_the_one_the_training_set_gives():
    """The JSON in the package is reproducible from bench/data: training twice writes the same weights."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "optout_train.py"
    spec = importlib.util.spec_from_file_location("optout_train", path)
    train = importlib.util.module_from_spec(spec)
    import sys

    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(train)
    finally:
        sys.path.remove(str(path.parent))
    bias, weights = train.train_logistic(train.examples())
    stored = optout_model._model()
    assert round(bias, 4) == stored["bias"] and weights == stored["weights"]
