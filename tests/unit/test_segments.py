"""The segment counter against known vectors and as properties."""

from hypothesis import given
from hypothesis import strategies as st

from textdesk.domain import segments
from textdesk.domain.segments import GSM7, GSM7_BASIC, GSM7_EXTENSION, UCS2, count


def test_160_plain_characters_fit_one_segment():
    result = count("a" * 160)
    assert (result.encoding, result.segments, result.remaining) == (GSM7, 1, 0)


def test_161_characters_take_two_parts():
    result = count("a" * 161)
    assert result.segments == 2
    assert result.parts == [153, 8]
    assert result.remaining == 153 - 8


def test_307_characters_take_three_parts():
    assert count("a" * 307).segments == 3


def test_extension_characters_count_two_and_are_never_split():
    result = count("€" * 81)
    assert result.encoding == GSM7
    assert result.units == 162
    assert result.parts == [76, 5]


def test_80_euro_signs_fit_one_segment():
    assert count("€" * 80).segments == 1


def test_emoji_count_two_code_units_and_are_never_split():
    result = count("😀" * 36)
    assert result.encoding == UCS2
    assert result.units == 72
    assert result.parts == [33, 3]
    assert result.ucs2_characters == ["😀"]


def test_one_non_gsm_character_switches_to_ucs2():
    result = count("a" * 70 + "π")
    assert result.encoding == UCS2
    assert result.parts == [67, 4]
    assert result.ucs2_characters == ["π"]


def test_lowercase_c_cedilla_is_not_gsm7_but_capital_is():
    assert count("Ç").encoding == GSM7
    assert count("ç").ucs2_characters == ["ç"]


def test_backtick_is_not_gsm7():
    assert count("`").encoding == UCS2


def test_empty_body():
    result = count("")
    assert (result.segments, result.units, result.remaining) == (0, 0, 160)


gsm_text = st.text(alphabet=st.sampled_from(sorted(GSM7_BASIC | GSM7_EXTENSION)), max_size=1200)
any_text = st.text(max_size=800)


@given(gsm_text)
def test_gsm_parts_respect_capacity(body):
    result = count(body)
    assert result.encoding == GSM7
    assert sum(result.parts) == len(body)
    if result.segments > 1:
        offset = 0
        for n in result.parts:
            part = body[offset : offset + n]
            offset += n
            assert sum(segments.unit_cost(c, GSM7) for c in part) <= 153
    assert result.remaining >= 0


@given(any_text)
def test_parts_cover_the_body_and_never_exceed_capacity(body):
    result = count(body)
    assert sum(result.parts) == len(body) == result.characters
    single, multi = segments.LIMITS[result.encoding]
    capacity = single if result.segments <= 1 else multi
    offset = 0
    for n in result.parts:
        part = body[offset : offset + n]
        offset += n
        assert sum(segments.unit_cost(c, result.encoding) for c in part) <= capacity
    assert 0 <= result.remaining <= capacity


@given(any_text)
def test_ucs2_units_are_utf16_code_units(body):
    result = count(body)
    if result.encoding == UCS2:
        assert result.units == len(body.encode("utf-16-le")) // 2
        assert all(not segments.is_gsm7(c) for c in result.ucs2_characters)
    else:
        assert result.ucs2_characters == []


@given(any_text, any_text)
def test_appending_never_reduces_segments(a, b):
    assert count(a + b).segments >= count(a).segments
