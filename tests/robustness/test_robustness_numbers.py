"""Issue 12.1, searched generically: JSON numbers that a double cannot hold (integers past
64 bits, long decimals, big exponents) must come out exactly as written, in the lossless form
and in every row a lossy form keeps, with the exact original behind any key."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from headroom_core import HeadroomConfig
from tests.robustness.invariants import property_settings, text_checked

# JSON number texts, biased towards what doubles get wrong: many digits, huge magnitudes.
NUMBER = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.from_regex(r"-?(0|[1-9][0-9]{0,30})\.[0-9]{1,30}", fullmatch=True),
    st.from_regex(r"-?[1-9][0-9]{0,20}(\.[0-9]{1,20})?[eE][+-]?[0-9]{1,2}", fullmatch=True),
    st.sampled_from(["0.1", "1.0", "-0", "-0.0", "9007199254740993", "18446744073709551617"]),
)


def _document(numbers: list[str], rows: int) -> str:
    cells = [numbers[i % len(numbers)] for i in range(rows)]
    return "[" + ",".join(f'{{"id": {i}, "v": {v}, "tag": "t{i % 3}"}}' for i, v in enumerate(cells)) + "]"


@property_settings(40)
@given(numbers=st.lists(NUMBER, min_size=1, max_size=12), rows=st.integers(min_value=3, max_value=400))
def test_adversarial_numbers_round_trip_exactly(numbers, rows):
    text = _document(numbers, rows)
    json.loads(text)  # the generator only makes valid JSON
    # Lossless forms are expanded again and compared number by number through their source
    # text (Decimal), kept rows likewise, and every key must give back the exact original.
    text_checked(text)


@property_settings(20)
@given(numbers=st.lists(NUMBER, min_size=1, max_size=8), rows=st.integers(min_value=3, max_value=200))
def test_adversarial_numbers_without_ccr_stay_lossless(numbers, rows):
    text_checked(_document(numbers, rows), config=HeadroomConfig(ccr_enabled=False))
