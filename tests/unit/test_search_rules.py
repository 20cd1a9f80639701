"""What a search query means and how matches are shown (pure rules, no database)."""

from hypothesis import given
from hypothesis import strategies as st

from textdesk.domain import search


def test_words_are_folded_and_digits_read_only_from_number_like_queries():
    q = search.parse("  São   Paulo ")
    assert q.words == ("sao", "paulo") and q.digits == ""
    assert search.parse("(415) 555-01").digits == "41555501"
    assert search.parse("call 555").digits == ""  # words with a number: not a phone fragment
    assert search.parse("12").digits == ""  # too short to mean anything
    assert not search.parse("   ") and not search.parse(None)


def test_queries_for_the_databases_hold_only_word_characters():
    q = search.parse("it's 'a' \"quote\" & | ! :* (x)")
    assert search.tsquery(q) == "'it':* & 's':* & 'a':* & 'quote':* & 'x':*"
    assert search.fts5_query(q) == '"it"* "s"* "a"* "quote"* "x"*'


def test_like_fragment_matches_wildcards_literally():
    assert search.like_fragment("50%_off\\") == "%50\\%\\_off\\\\%"


def test_highlight_marks_word_prefixes_whatever_the_accents_and_escapes_the_rest():
    q = search.parse("orcamento")
    html = search.marked_html(search.highlight("<b>Seu orçamento</b> & Orçamentos", q))
    assert html == "&lt;b&gt;Seu <mark>orçamento</mark>&lt;/b&gt; &amp; <mark>Orçamento</mark>s"


def test_highlight_of_a_number_follows_its_digits_through_separators():
    q = search.parse("5550134")
    html = search.marked_html(search.highlight("+1 415-555-0134", q, number=True))
    assert html == "+1 415-<mark>555-0134</mark>"


def test_long_text_is_cut_around_the_first_match():
    text = "x " * 200 + "needle" + " y" * 200
    segments = search.highlight(text, search.parse("needle"), around=60)
    shown = "".join(p for p, _ in segments)
    assert ("needle", True) in segments and shown.startswith("…") and shown.endswith("…") and len(shown) <= 62


@given(st.text(max_size=80), st.text(max_size=20))
def test_highlighting_never_changes_the_text_and_never_lets_markup_through(text, typed):
    segments = search.highlight(text, search.parse(typed))
    assert "".join(p for p, _ in segments) == text
    html = search.marked_html(segments)
    assert "<" not in html.replace("<mark>", "").replace("</mark>", "")
