"""Precision and recall of opt-out detection (reserved words + free-text intent) on the labelled set.

    python bench/optout_intent.py            # summary line
    python bench/optout_intent.py --errors   # also every message the rules got wrong

The set (bench/data/optout_intent_<lang>.tsv: ``label<TAB>text``, 1 = asks to stop) holds positives in
everyday wording and hard negatives: negated requests ("don't stop texting me"), other things that stop
(a bus stop, an app that stopped working), orders and appointments to cancel. A false opt-out costs a sale,
a missed one risks a fine: both figures are printed. No timing, so the contended machine does not matter.

Detection is the rules (textdesk.domain.optout_intent) and, where they are silent, a small classifier trained
on that same set (bench/optout_train.py), so the first line is an upper bound. The second, printed last,
measures the held-out set (bench/data/optout_intent_holdout.tsv: ``lang<TAB>label<TAB>text``), written
separately and never used to write rules, train the model or choose its threshold: that is the figure to
expect on new wording.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from textdesk.domain import optout, optout_intent  # noqa: E402

DATA = ROOT / "bench" / "data"
LANGUAGES = {"en": "en", "pt": "pt-br", "es": "es", "it": "it"}


def load(short: str) -> list[tuple[bool, str]]:
    with open(DATA / f"optout_intent_{short}.tsv", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [(row["label"].strip() == "1", row["text"]) for row in reader]


def load_holdout() -> dict[str, list[tuple[bool, str]]]:
    by_language: dict[str, list[tuple[bool, str]]] = {short: [] for short in LANGUAGES}
    with open(DATA / "optout_intent_holdout.tsv", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            by_language[row["lang"]].append((row["label"].strip() == "1", row["text"]))
    return by_language


def is_opt_out(text: str) -> bool:
    keyword = optout.classify(text)
    if keyword is not None:
        return keyword.action == optout.OPT_OUT
    return optout_intent.detect(text) is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--errors", action="store_true", help="print the misclassified messages")
    args = parser.parse_args()
    print(summary("optout intent", {short: load(short) for short in LANGUAGES}, args.errors))
    print(summary("optout intent (held out)", load_holdout(), args.errors))


def summary(title: str, sets: dict[str, list[tuple[bool, str]]], errors: bool) -> str:
    tp = fp = fn = total = 0
    recall_by_language = {}
    for short, messages in sets.items():
        l_tp = l_fn = 0
        for label, text in messages:
            predicted = is_opt_out(text)
            total += 1
            if predicted and label:
                tp += 1
                l_tp += 1
            elif predicted and not label:
                fp += 1
                if errors:
                    print(f"false opt-out [{short}]: {text}")
            elif label:
                fn += 1
                l_fn += 1
                if errors:
                    print(f"missed [{short}]: {text}")
        recall_by_language[short] = l_tp / (l_tp + l_fn) if l_tp + l_fn else 0.0
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    per_language = ", ".join(f"{short} {value:.2f}" for short, value in recall_by_language.items())
    return f"{title}: precision {precision:.2f}, recall {recall:.2f} on {total} messages ({per_language})"


if __name__ == "__main__":
    main()
