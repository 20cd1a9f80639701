"""What a search box query means, and how a match is shown: pure functions over text.

A query is a list of words (matched as prefixes, case- and accent-insensitively, all of them) and, when it looks
like part of a phone number, its digits. Highlighting folds text the same way, so "sao" marks "São", and returns
plain segments: whoever renders them escapes the text (a message body is never trusted markup).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_WORDS = 8
MIN_DIGITS = 3
WORD = re.compile(r"\w+", re.UNICODE)
PHONE_LIKE = re.compile(r"^[\s+()./-]*\d[\d\s+()./-]*$")


def fold(text: str) -> str:
    """Lower case without accents ("São" → "sao"), the same length as far as possible for highlighting."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


@dataclass(frozen=True)
class Query:
    text: str
    words: tuple[str, ...]
    digits: str  # the query's digits when it reads as (part of) a phone number, else ""

    def __bool__(self) -> bool:
        return bool(self.words or self.digits)

    @property
    def name_text(self) -> str:
        """The query as typed, trimmed, for matching names (a fragment inside a name)."""
        return " ".join(self.text.split())


def parse(text: str | None) -> Query:
    text = (text or "").strip()[:200]
    words = tuple(dict.fromkeys(fold(w) for w in WORD.findall(text)))[:MAX_WORDS]
    digits = re.sub(r"\D", "", text) if PHONE_LIKE.match(text) else ""
    if len(digits) < MIN_DIGITS:
        digits = ""
    return Query(text=text, words=words, digits=digits)


def tsquery(query: Query) -> str:
    """PostgreSQL ``to_tsquery`` text: every word as a prefix (words are \\w only, so quoting is safe)."""
    return " & ".join(f"'{w}':*" for w in query.words)


def fts5_query(query: Query) -> str:
    """SQLite FTS5 MATCH text: every word as a quoted prefix."""
    return " ".join(f'"{w}"*' for w in query.words)


def like_fragment(text: str) -> str:
    """``%text%`` for LIKE with ``\\`` as escape: a user's ``%`` or ``_`` is matched literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _spans(text: str, query: Query) -> list[tuple[int, int]]:
    """Where the query's words (as word prefixes) or its name text occur in ``text``."""
    folded = fold(text)
    if len(folded) != len(text):  # a character that folds into several: highlight nothing rather than wrongly
        return []
    spans = []
    for m in WORD.finditer(folded):
        for w in query.words:
            if m.group().startswith(w):
                spans.append((m.start(), m.start() + len(w)))
                break
    name = fold(query.name_text)
    if name and (" " in name or not query.words):
        at = folded.find(name)
        while at >= 0:
            spans.append((at, at + len(name)))
            at = folded.find(name, at + len(name))
    return _merge(spans)


def _digit_spans(text: str, digits: str) -> list[tuple[int, int]]:
    """Where the digits occur in a number written with separators ("+1 415-555-0134" holds "5550")."""
    positions = [i for i, ch in enumerate(text) if ch.isdigit()]
    only = "".join(text[i] for i in positions)
    spans = []
    at = only.find(digits)
    while at >= 0 and digits:
        spans.append((positions[at], positions[at + len(digits) - 1] + 1))
        at = only.find(digits, at + len(digits))
    return spans


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def highlight(text: str, query: Query, *, number: bool = False, around: int | None = None) -> list[tuple[str, bool]]:
    """``text`` as segments ``(piece, is_match)``. ``number``: match the query's digits instead of its words.
    ``around``: keep about that many characters around the first match (with "…" where cut)."""
    text = text or ""
    spans = _digit_spans(text, query.digits) if number else _spans(text, query)
    prefix = suffix = ""
    if around is not None and len(text) > around:
        first = spans[0][0] if spans else 0
        start = max(0, min(first - around // 3, len(text) - around))
        end = start + around
        prefix, suffix = ("…" if start else ""), ("…" if end < len(text) else "")
        text = text[start:end]
        spans = [(max(s - start, 0), min(e - start, len(text))) for s, e in spans if e > start and s < end]
    segments: list[tuple[str, bool]] = [(prefix, False)] if prefix else []
    at = 0
    for s, e in spans:
        if s > at:
            segments.append((text[at:s], False))
        segments.append((text[s:e], True))
        at = e
    if at < len(text):
        segments.append((text[at:], False))
    if suffix:
        segments.append((suffix, False))
    return segments


def marked_html(segments: list[tuple[str, bool]]) -> str:
    """Segments as HTML: text escaped, matches in ``<mark>``."""
    from html import escape

    return "".join(f"<mark>{escape(p)}</mark>" if hit else escape(p) for p, hit in segments)
