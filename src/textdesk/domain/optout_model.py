"""A small classifier for opt-out requests the rules have no phrase for ("who gave you my number?? stop").

Logistic regression over word and character n-grams of the normalised text, plus a naive Bayes guess of
the language (for the confirmation's wording). Both are trained by ``bench/optout_train.py`` on the
training set in ``bench/data`` and stored as weights in ``optout_model.json`` next to this module: pure
Python at run time, no network service and no extra package. The rules' negative phrases still veto
(see :mod:`textdesk.domain.optout_intent`); the threshold was chosen on the training set by
cross-validation to keep false opt-outs rare.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

MODEL_PATH = Path(__file__).with_name("optout_model.json")


def features(prepared: str) -> dict[str, float]:
    """Word unigrams and bigrams, and character 3- to 5-grams of each word padded with spaces."""
    words = prepared.split()
    found: dict[str, float] = {}
    for index, word in enumerate(words):
        found["w:" + word] = 1.0
        if index:
            found["b:" + words[index - 1] + " " + word] = 1.0
        padded = f" {word} "
        for size in (3, 4, 5):
            for start in range(max(1, len(padded) - size + 1)):
                found["c:" + padded[start : start + size]] = 1.0
    return found


@lru_cache(maxsize=1)
def _model() -> dict:
    with open(MODEL_PATH, encoding="utf-8") as handle:
        return json.load(handle)


def probability(prepared: str) -> float:
    """The model's probability that the (normalised) message asks us to stop."""
    model = _model()
    weights = model["weights"]
    score = model["bias"] + sum(weights.get(name, 0.0) for name in features(prepared))
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, score))))


def threshold() -> float:
    return _model()["threshold"]


def language(prepared: str) -> str:
    """The most likely of en, pt-br, es, it (naive Bayes over the same n-grams)."""
    model = _model()["language"]
    best, best_score = "en", -math.inf
    names = list(features(prepared))
    for lang, log_prior in model["prior"].items():
        table = model["log_likelihood"][lang]
        unseen = model["unseen"][lang]
        score = log_prior + sum(table.get(name, unseen) for name in names)
        if score > best_score:
            best, best_score = lang, score
    return best
