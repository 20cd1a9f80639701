from hypothesis import given
from hypothesis import strategies as st

from textdesk.domain import phones


def test_national_number_uses_region():
    assert phones.normalise("(11) 91234-5678", "BR").e164 == "+5511912345678"


def test_international_number_ignores_region():
    assert phones.normalise("+1 415 555 2671", "BR").e164 == "+14155552671"


def test_double_zero_prefix_is_international():
    assert phones.normalise("0044 20 7946 0958", "US").e164 == "+442079460958"


def test_invalid_number_keeps_raw_and_has_no_e164():
    result = phones.normalise("12345", "US")
    assert result.raw == "12345" and result.e164 == "" and not result.is_valid


def test_empty_value():
    assert phones.normalise("   ", "US").is_empty


def test_is_e164():
    assert phones.is_e164("+5511912345678")
    assert not phones.is_e164("5511912345678")
    assert not phones.is_e164("+55 11 91234-5678")


def test_region_and_display():
    assert phones.region_of("+5511912345678") == "BR"
    assert phones.display("+14155552671") == "+1 415-555-2671"


@given(st.text(max_size=40))
def test_normalise_never_raises_and_output_is_e164_or_empty(raw):
    result = phones.normalise(raw, "US")
    assert result.e164 == "" or phones.is_e164(result.e164)
