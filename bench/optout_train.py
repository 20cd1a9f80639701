"""Train the opt-out classifier on the training set and write src/textdesk/domain/optout_model.json.

    python bench/optout_train.py          # train, choose the threshold, write the model
    python bench/optout_train.py --check  # only print the cross-validated figures

Only the training set (bench/data/optout_intent_<lang>.tsv) is read; the held-out set is never used here.
The threshold is the lowest one whose cross-validated precision of rules + model stays at or above
``--min-precision`` (false opt-outs cost sales), so recall is gained only where precision allows.
Deterministic: the folds and the training are fixed, the same data gives the same file.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from optout_intent import LANGUAGES, load  # noqa: E402
from textdesk.domain import optout, optout_intent, optout_model  # noqa: E402

FOLDS = 5
EPOCHS = 300
RATE = 0.5
L2 = 0.01
MIN_COUNT = 2  # a feature seen once is noise at this size


def examples() -> list[tuple[str, bool, str]]:
    """(prepared text, label, language) of every training message."""
    return [
        (optout_intent.prepare(text), label, LANGUAGES[short]) for short in LANGUAGES for label, text in load(short)
    ]


def vocabulary(rows) -> set[str]:
    counts = Counter(name for text, _, _ in rows for name in optout_model.features(text))
    return {name for name, n in counts.items() if n >= MIN_COUNT}


def train_logistic(rows) -> tuple[float, dict[str, float]]:
    """Full-batch gradient descent with L2; small data, so a few hundred passes take a second."""
    kept = vocabulary(rows)
    data = [([n for n in optout_model.features(text) if n in kept], 1.0 if label else 0.0) for text, label, _ in rows]
    weights: dict[str, float] = defaultdict(float)
    bias = 0.0
    for _ in range(EPOCHS):
        gradient: dict[str, float] = defaultdict(float)
        bias_gradient = 0.0
        for names, target in data:
            score = bias + sum(weights[n] for n in names)
            error = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, score)))) - target
            bias_gradient += error
            for n in names:
                gradient[n] += error
        size = len(data)
        bias -= RATE * bias_gradient / size
        for n in kept:
            weights[n] -= RATE * (gradient.get(n, 0.0) / size + L2 * weights[n])
    return bias, {n: round(w, 4) for n, w in weights.items() if abs(w) >= 1e-3}


def train_language(rows) -> dict:
    counts: dict[str, Counter] = {lang: Counter() for lang in LANGUAGES.values()}
    per_language = Counter(lang for _, _, lang in rows)
    for text, _, lang in rows:
        counts[lang].update(optout_model.features(text))
    # Character n-grams seen three times or more carry the language; words and rarer n-grams only add bytes.
    names = {n for n, c in sum(counts.values(), Counter()).items() if c >= 3 and n.startswith("c:")}
    model = {"prior": {}, "log_likelihood": {}, "unseen": {}}
    for lang, counter in counts.items():
        total = sum(counter[n] for n in names) + len(names)
        model["prior"][lang] = round(math.log(per_language[lang] / len(rows)), 4)
        model["log_likelihood"][lang] = {n: round(math.log((counter[n] + 1) / total), 3) for n in names if counter[n]}
        model["unseen"][lang] = round(math.log(1 / total), 3)
    return model


def score(bias: float, weights: dict[str, float], text: str) -> float:
    value = bias + sum(weights.get(n, 0.0) for n in optout_model.features(text))
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, value))))


def rules_say(text: str) -> bool | None:
    """True/False when the keyword or the rules decide (a hit, or a negative phrase's veto), None otherwise."""
    keyword = optout.classify(text)
    if keyword is not None:
        return keyword.action == optout.OPT_OUT
    return optout_intent.rules(text)


def cross_validated(rows) -> list[tuple[bool, bool | None, float]]:
    """(label, rules' verdict, model probability from a fold that did not see the message) per message."""
    out = []
    for fold in range(FOLDS):
        train = [row for i, row in enumerate(rows) if i % FOLDS != fold]
        test = [row for i, row in enumerate(rows) if i % FOLDS == fold]
        bias, weights = train_logistic(train)
        out.extend((label, rules_say(text), score(bias, weights, text)) for text, label, _ in test)
    return out


def figures(results, threshold: float) -> tuple[float, float]:
    tp = fp = fn = 0
    for label, verdict, probability in results:
        predicted = verdict if verdict is not None else probability >= threshold
        tp += predicted and label
        fp += predicted and not label
        fn += (not predicted) and label
    return (tp / (tp + fp) if tp + fp else 0.0), (tp / (tp + fn) if tp + fn else 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="print the cross-validated figures, write nothing")
    parser.add_argument("--min-precision", type=float, default=0.98)
    args = parser.parse_args()
    rows = examples()
    results = cross_validated(rows)
    chosen = 0.95
    for step in range(95, 29, -5):
        candidate = step / 100
        precision, recall = figures(results, candidate)
        print(f"threshold {candidate:.2f}: cross-validated precision {precision:.2f}, recall {recall:.2f}")
        if precision >= args.min_precision:
            chosen = candidate
    print(f"chosen threshold {chosen:.2f}")
    if args.check:
        return
    bias, weights = train_logistic(rows)
    model = {
        "about": "opt-out classifier trained by bench/optout_train.py on bench/data/optout_intent_<lang>.tsv",
        "threshold": chosen,
        "bias": round(bias, 4),
        "weights": dict(sorted(weights.items())),
        "language": train_language(rows),
    }
    with open(optout_model.MODEL_PATH, "w", encoding="utf-8") as handle:
        json.dump(model, handle, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        handle.write("\n")
    print(
        f"wrote {optout_model.MODEL_PATH.name}: {len(weights)} weights, {optout_model.MODEL_PATH.stat().st_size} bytes"
    )


if __name__ == "__main__":
    main()
