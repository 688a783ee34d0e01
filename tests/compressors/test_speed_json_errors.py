"""The crusher's error test skips the per-item scan of strings and rows when none holds a
cue (`_signals._may_hold_log_error`); the verdicts stay those of the plain per-item rule,
`_is_error_item` on every item."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headroom_core.compressors.json import _signals
from headroom_core.compressors.json._numbers import dumps, loads

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def plain_error_indices(items: list[Any]) -> list[int]:
    return [i for i, item in enumerate(items) if _signals._is_error_item(item, dumps(item))]


def check(items: list[Any]) -> None:
    texts = [dumps(item) for item in items]
    expected = plain_error_indices(items)
    assert _signals._error_indices(items, texts, None) == expected
    if sum(1 for item in items if isinstance(item, dict)) * 2 >= len(items):
        columns = _signals._columns(items)
        if len(columns) < _signals._MAX_FIELDS:
            assert _signals._error_indices(items, texts, columns) == expected


def arrays(node: Any, out: list[list[Any]]) -> None:
    if isinstance(node, list):
        out.append(node)
        for child in node:
            arrays(child, out)
    elif isinstance(node, dict):
        out.append(list(node.values()))
        for child in node.values():
            arrays(child, out)


def real_arrays() -> list[list[Any]]:
    from benchmarks.workloads.cache_workloads import session
    from benchmarks.workloads.context_workloads import agent_session

    texts = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(FIXTURES.glob("*.json"))]
    messages, _ = agent_session(200)
    for message in [*messages, *session()]:
        content = message.get("content")
        if message.get("role") == "tool" and isinstance(content, str) and content.lstrip()[:1] in "[{":
            texts.append(content)
    out: list[list[Any]] = []
    for text in texts:
        try:
            arrays(loads(text), out)
        except (orjson.JSONDecodeError, ValueError):
            continue
    return [a for a in out if len(a) >= 2]


def test_real_arrays() -> None:
    found = real_arrays()
    assert len(found) > 100
    for items in found:
        check(items)


CUE_PIECES = [
    "ERROR",
    "error",
    "Error:",
    "KeyError: x",
    "Exception:",
    "panic: ",
    "xpanic:",
    "failed",
    "Failure",
    "ailed",
    "CRIT",
    "CRITICAL",
    "ALERT!",
    "Traceback (most recent call last)",
    "_",
    " ",
    "ok",
    "\x00",
    "é",
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.lists(st.sampled_from(CUE_PIECES), max_size=4).map("".join),
            st.lists(st.lists(st.sampled_from(CUE_PIECES), max_size=3).map("".join), max_size=3),
            st.integers(-(2**63), 2**63 - 1),
            st.none(),
            st.dictionaries(
                st.sampled_from(["status", "message", "error", "name"]),
                st.lists(st.sampled_from(CUE_PIECES), max_size=3).map("".join),
                max_size=3,
            ),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_generated_arrays(items: list[Any]) -> None:
    check(items)


@pytest.mark.parametrize(
    "line", ["all fine", "panic:x", "disk FAILED", "it failed", "ValueError: bad", "CRITICAL"]
)
def test_single_lines(line: str) -> None:
    check([line, "ok", "ok"])


@pytest.mark.parametrize(
    "piece", [*CUE_PIECES, "FATAL", "PANIC", "SEVERE", "EMERG", "CRIT:", "Failed", "failure"]
)
def test_each_cue_alone(piece: str) -> None:
    """Each cue as the only one in its array (a missing cue would be skipped unseen)."""
    for line in (piece, f"x {piece} y", f"a{piece}", f"{piece}b", f"x.{piece}"):
        check([line, "ok", "fine"])
        check([[line, 1], ["ok", 2]])
        check([{"id": 1}, line, {"id": 2}])
