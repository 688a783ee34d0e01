"""SmartCrusher data integrity: marker keys come from storing (coloured `jq -C` output, issue
10.1) and numbers are shown exactly as written (big integers, long decimals, issue 12.1)."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from decimal import Decimal
from typing import Any

import orjson
import pytest

from headroom_core import (
    HeadroomConfig,
    JsonConfig,
    MemoryCCRStore,
    compress_text,
    parse_markers,
    retrieve,
)
from headroom_core._ccr import content_key
from headroom_core.compressors.json import (
    TABLE_HEADER_PREFIX,
    ExactNumber,
    crush,
    expand_output,
    parse_table_text,
)
from headroom_core.compressors.json._numbers import dumps, has_inexact_numbers, loads, number_is_exact
from tests.support import make_ctx

# --------------------------------------------------------------------------- coloured JSON (10.1)

_TOKEN = re.compile(
    r'"(?:[^"\\]|\\.)*"(?P<key>\s*:)?|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null|[{}\[\],:]'
)


def jq_colour(text: str) -> str:
    """Colour pretty JSON the way `jq -C` does: keys blue, strings green, punctuation bold."""

    def paint(match: re.Match[str]) -> str:
        token = match.group()
        if token.startswith('"'):
            if match.group("key"):
                name = token[: token.rindex(":")].rstrip()
                return f"\x1b[34;1m{name}\x1b[0m\x1b[1;39m:"
            return f"\x1b[0;32m{token}\x1b[0m"
        if token in "{}[],:":
            return f"\x1b[1;39m{token}\x1b[0m"
        if token == "null":
            return f"\x1b[1;30m{token}\x1b[0m"
        return f"\x1b[0;39m{token}\x1b[0m"

    return _TOKEN.sub(paint, text)


def coloured_rows(n: int = 400) -> tuple[list[dict[str, Any]], str]:
    rng = random.Random(17)
    rows = [
        {
            "id": f"job-{i:04d}",
            "state": "failed" if i in (57, 301) else "done",
            "duration_ms": round(rng.lognormvariate(5, 0.3), 1),
            "runner": f"runner-{rng.randrange(12)}",
        }
        for i in range(n)
    ]
    return rows, jq_colour(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())


@pytest.mark.parametrize("table_form", [True, False])
def test_coloured_json_markers_resolve_to_the_coloured_original(table_form):
    _, coloured = coloured_rows()
    assert "\x1b[" in coloured
    store = MemoryCCRStore()
    config = HeadroomConfig(ccr_store=store, json=JsonConfig(target_ratio=0.05, allow_table_form=table_form))
    result = compress_text(coloured, config=config)
    markers = parse_markers(result.text)
    assert markers, "expected a lossy result with a marker"
    assert set(result.ccr_keys) == {m.key for m in markers}
    for marker in markers:
        # Before the fix the key was the hash of the text without colour codes: never stored.
        assert retrieve(marker.key, store=store) == coloured
    assert "job-0057" in result.text and "job-0301" in result.text


def test_marker_key_is_the_key_that_storing_returned():
    """The crusher never hashes on its own: with a mapping to the caller's bytes (what the
    pipeline passes after removing colour codes) the key is the stored original's key."""
    rows, coloured = coloured_rows()
    plain = orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode()
    store = MemoryCCRStore()
    ctx = replace(make_ctx(store, json={"target_ratio": 0.05}), original_for={plain: coloured})
    out = crush(plain, ctx)
    assert out is not None
    (key,) = out.ccr_keys
    assert key == content_key(coloured) != content_key(plain)
    assert {m.key for m in parse_markers(out.text)} == {key}
    assert retrieve(key, store=store) == coloured


# --------------------------------------------------------------------------- exact numbers (12.1)


def _shown_numbers(text: str) -> list[str]:
    return re.findall(r"-?\d[\d.eE+-]*", text)


def test_integers_beyond_64_bits_are_shown_exactly_and_never_merge_into_a_constant():
    text = "[" + ",".join(f'{{"id": {i}, "v": {2**64 + i}}}' for i in range(300)) + "]"
    store = MemoryCCRStore()
    result = compress_text(text, config=HeadroomConfig(ccr_store=store))
    assert "1.8446744073709552e+19" not in result.text
    assert "constant" not in result.text.split("\n", 2)[1]
    for i in (0, 299):
        assert str(2**64 + i) in result.text
    if result.ccr_keys:
        assert retrieve(result.ccr_keys[0], store=store) == text
    else:  # lossless: every value exactly
        assert dumps(expand_output(result.text)) == dumps(loads(text))


@pytest.mark.parametrize(
    "number",
    [
        "0.00012345678901234567890",
        "1." + "0" * 40 + "1",
        "123456789012345678901234567890",
        "-9223372036854775809",
    ],
)
def test_lossless_form_keeps_numbers_a_double_cannot_hold(number):
    text = "[" + ",".join(f'{{"name": "n{i}", "value": {number}}}' for i in range(10)) + "]"
    out = crush(text, make_ctx(None))
    assert out is not None and out.ccr_keys == ()
    assert number in out.text
    expanded = expand_output(out.text)
    assert [row["value"] for row in expanded] == [ExactNumber(number)] * 10
    assert [str(row["value"]) for row in expanded] == [number] * 10
    assert Decimal(str(expanded[0]["value"])) == Decimal(number)


def test_distinct_long_decimals_stay_distinct_in_a_lossy_table():
    rng = random.Random(5)
    values = [f"0.{rng.randrange(10**24):024d}1" for _ in range(400)]
    text = "[" + ",".join(f'{{"k": {i}, "x": {v}}}' for i, v in enumerate(values)) + "]"
    ctx = make_ctx(json={"target_ratio": 0.05})
    out = crush(text, ctx)
    assert out is not None
    table = parse_table_text(out.text)
    shown = [row for row in table["rows"] if isinstance(row, list)]
    assert shown
    for row in shown:
        k = row[table["fields"].index("k")]
        x = row[table["fields"].index("x")]
        assert str(x) == values[k]


def test_wei_amounts_keep_every_digit_in_json_form():
    wei = [10**21 + i * 7919 for i in range(200)]
    items = ",".join(f'{{"hash": "0x{i:064x}", "gas": 21000, "wei": {w}}}' for i, w in enumerate(wei))
    text = '{"result": [' + items + "]}"
    out = crush(text, make_ctx(json={"target_ratio": 0.05, "allow_table_form": False}))
    assert out is not None and out.ccr_keys
    shown = [int(n) for n in re.findall(r'"wei":(\d+)', out.text)]
    assert shown and set(shown) <= set(wei)
    assert str(max(wei)) in out.text  # the maximum row is kept (extremes)


def test_exact_numbers_detection():
    assert not has_inexact_numbers(
        '{"a": 0.1, "b": 1.50, "c": 18446744073709551615, "d": 0.8444218515250481}'
    )
    assert has_inexact_numbers('{"a": 18446744073709551616}')
    assert has_inexact_numbers('{"a": 0.00012345678901234567890}')
    assert has_inexact_numbers('{"a": -9223372036854775809}')
    assert not has_inexact_numbers('{"v": "1.2.3.4.5.6.7.8.9.10.11", "ip": "192.168.100.200"}')
    # digits inside strings (hashes, quoted ids) are not numbers: no second parse for them
    assert not has_inexact_numbers(
        '{"sha": "1dee34de5345c50c7d4445e16972936f", "id": "123456789012345678901"}'
    )
    assert number_is_exact("1e5") and number_is_exact("-0.0") and not number_is_exact("1e400")
    # Bounded work on hostile text: a long chain of exponent-like tokens.
    assert has_inexact_numbers("1e123" * 20000) in (True, False)


def test_ordinary_documents_do_not_pay_for_exactness():
    doc = [{"x": 0.1 * i, "n": i} for i in range(50)]
    text = orjson.dumps(doc).decode()
    parsed = loads(text)
    assert parsed == doc and not any(isinstance(row["x"], ExactNumber) for row in parsed)


def test_exact_number_behaves_as_its_value_for_statistics_and_as_its_text_for_output():
    a, b = ExactNumber(str(2**64 + 1)), ExactNumber(str(2**64 + 2))
    assert a != b and float(a) == float(b)
    assert len({a, b}) == 2
    assert dumps([a, b]) == f"[{2**64 + 1},{2**64 + 2}]"
    assert a.text == str(2**64 + 1) and repr(a) == a.text


def test_table_header_output_for_big_int_is_parseable():
    text = "[" + ",".join(f'{{"i": {i}, "big": {2**70}}}' for i in range(20)) + "]"
    out = crush(text, make_ctx(None))
    assert out is not None and out.text.startswith(TABLE_HEADER_PREFIX)
    assert f'constant: {{"big":{2**70}}}' in out.text
    assert all(str(row["big"]) == str(2**70) for row in expand_output(out.text))


# --------------------------------------------------------------------------- the table codec owns its prefix


@pytest.mark.parametrize(
    "first_import",
    [
        "headroom_core",
        "headroom_core._ccr",
        "headroom_core.compressors",
        "headroom_core.compressors.json._table",
    ],
)
def test_table_header_prefix_is_the_codecs_and_re_exported_by_ccr(first_import):
    """`_ccr.TABLE_HEADER_PREFIX` is the codec's constant, whatever is imported first."""
    import subprocess
    import sys

    code = (
        f"import {first_import}\n"
        "from headroom_core import _ccr\n"
        "from headroom_core.compressors.json import _table\n"
        "assert _ccr.TABLE_HEADER_PREFIX is _table.TABLE_HEADER_PREFIX == '[headroom table: '\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
