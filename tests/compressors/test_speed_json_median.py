"""The JSON crusher's median (`_signals._median`) is `np.median`, bit for bit.

The crusher takes medians of short numeric columns many times per document; its own
median skips numpy's generic axis handling. These tests hold it to `float(np.median(x))`
on random, adversarial and real columns (the corpus and fixture JSON documents)."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headroom_core.compressors.json import _signals
from headroom_core.compressors.json._numbers import loads

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def same_double(a: float, b: float) -> bool:
    """Equal as IEEE doubles (NaN equals NaN; 0.0 and -0.0 differ)."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return struct.pack("<d", a) == struct.pack("<d", b)


def check(values: list[float]) -> None:
    array = np.array(values, dtype=np.float64)
    with np.errstate(all="ignore"):
        expected = float(np.median(array))
        got = _signals._median(array.copy())
    assert same_double(got, expected), (values, got, expected)


SPECIAL = [0.0, -0.0, 1.0, -1.0, math.inf, -math.inf, math.nan, 1e308, -1e308, 5e-324, 2.5, 0.1]


@pytest.mark.parametrize("size", range(1, 9))
def test_special_values(size: int) -> None:
    rng = np.random.default_rng(size)
    for _ in range(400):
        check([SPECIAL[int(i)] for i in rng.integers(0, len(SPECIAL), size)])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=70))
def test_any_doubles(values: list[float]) -> None:
    check(values)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-5, 5).map(float), min_size=1, max_size=40))
def test_many_ties(values: list[float]) -> None:
    check(values)


def test_does_not_change_its_input() -> None:
    array = np.array([3.0, 1.0, 2.0, 0.5])
    _signals._median(array)
    assert array.tolist() == [3.0, 1.0, 2.0, 0.5]


def numeric_columns(node: object, out: list[list[float]]) -> None:
    """Every array's numeric field columns (and arrays of numbers), as the crusher sees them."""
    if isinstance(node, dict):
        for child in node.values():
            numeric_columns(child, out)
    elif isinstance(node, list):
        if len(node) >= 8:
            if any(isinstance(item, dict) for item in node):
                for column in _signals._columns(node):
                    if column.numbers is not None:
                        out.append(column.numbers.tolist())
            numbers = [float(v) for v in node if isinstance(v, (int, float)) and not isinstance(v, bool)]
            if len(numbers) >= 8:
                out.append(numbers)
        for child in node:
            numeric_columns(child, out)


def real_documents() -> list[Path]:
    paths = sorted(FIXTURES.glob("*.json"))
    return paths


def agent_session_outputs() -> list[str]:
    """The JSON tool outputs of the benchmark's agent session (context workloads)."""
    from benchmarks.workloads.context_workloads import agent_session

    messages, _ = agent_session(200)
    return [
        m["content"]
        for m in messages
        if m.get("role") == "tool" and str(m.get("content")).startswith(("[", "{"))
    ]


@pytest.mark.parametrize("path", real_documents(), ids=lambda p: p.name)
def test_real_columns(path: Path) -> None:
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        doc = loads(text)
    except (orjson.JSONDecodeError, ValueError):
        pytest.skip("not a single JSON document")
    check_columns_of(doc)


def test_agent_session_columns() -> None:
    outputs = agent_session_outputs()
    assert outputs
    for text in outputs:
        check_columns_of(loads(text))


def check_columns_of(doc: object) -> None:
    columns: list[list[float]] = []
    numeric_columns(doc, columns)
    for values in columns[:500]:
        check(values)
        finite = [v for v in values if math.isfinite(v)]
        if finite:
            check(finite)
            check([abs(v - _signals._median(np.array(finite))) for v in finite])
            check(np.diff(np.array(finite)).tolist() or [0.0])


# --------------------------------------------------------------------------- deciles


def check_deciles(values: list[float]) -> None:
    array = np.array(values, dtype=np.float64)
    expected = [float(v) for v in np.percentile(array, [10, 50, 90])]
    got = _signals._deciles_1_5_9(array.copy())
    assert all(same_double(g, e) for g, e in zip(got, expected, strict=True)), (values, got, expected)


@pytest.mark.parametrize("size", range(2, 40))
def test_deciles_random(size: int) -> None:
    rng = np.random.default_rng(size)
    for _ in range(200):
        check_deciles(rng.lognormal(3.0, 2.0, size).tolist())
        check_deciles(rng.integers(1, 6, size).astype(float).tolist())


@settings(max_examples=400, deadline=None)
@given(st.lists(st.floats(min_value=5e-324, max_value=1e308), min_size=2, max_size=80))
def test_deciles_any_positive_doubles(values: list[float]) -> None:
    check_deciles(values)


def test_deciles_real_columns() -> None:
    columns: list[list[float]] = []
    for path in real_documents():
        try:
            numeric_columns(loads(path.read_text(encoding="utf-8", errors="replace")), columns)
        except (orjson.JSONDecodeError, ValueError):
            continue
    for text in agent_session_outputs():
        numeric_columns(loads(text), columns)
    checked = 0
    for values in columns:
        positive = [v for v in values if math.isfinite(v) and v > 0]
        if len(positive) >= 2:
            check_deciles(positive)
            checked += 1
    assert checked >= 50
