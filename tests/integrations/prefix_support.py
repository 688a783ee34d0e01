"""Shared pieces of the adapters' prefix-stability tests (issue 11 section 1).

One 10-turn script for every adapter: a new question each turn and a large tool output
that differs per call (JSON orders or a slice of a real log), and one check that request
N+1 begins with request N, message by message, byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path

TURNS = 10
_LOG_LINES = (
    (Path(__file__).parents[1] / "fixtures" / "loghub_HDFS_2k.log").read_text(encoding="utf-8").splitlines()
)
_CITIES = ["Lyon", "Porto", "Gdansk", "Austin", "Osaka", "Quito", "Accra", "Perth", "Lyon", "Osaka"]


def question(turn: int) -> str:
    """The user's question of `turn` (it changes every turn, as in a real session)."""
    if turn % 2:
        return f"Which blocks had PacketResponder exceptions in part {turn} of the datanode log?"
    return f"Which orders from {_CITIES[turn]} failed on day {turn}, and what were their amounts?"


def source_of(turn: int) -> str:
    """The tool argument the scripted model asks for on `turn`."""
    return f"{'log' if turn % 2 else 'orders'}-{turn}"


def tool_output(source: str) -> str:
    """A large, realistic tool output that differs per call: 300 JSON orders or 400 log lines."""
    kind, _, n = source.partition("-")
    turn = int(n)
    if kind == "orders":
        rows = [
            {
                "order_id": f"ORD-{turn:02d}{i:04d}",
                "city": _CITIES[(i * 7 + turn) % len(_CITIES)],
                "status": "failed" if i % 97 == turn else "shipped",
                "amount_eur": round(5 + (i * 37 + turn * 11) % 900 + 0.25, 2),
            }
            for i in range(300)
        ]
        return json.dumps(rows)
    return "\n".join(_LOG_LINES[turn * 180 : turn * 180 + 400])


def serialise(messages: list[dict]) -> list[str]:
    """Provider-format message dicts as JSON text, one string per message."""
    return [json.dumps(m, sort_keys=True, ensure_ascii=False) for m in messages]


def assert_prefix_stable(requests: list[list[str]], *, at_least: int = TURNS) -> None:
    """Every request begins with the one before it, message by message, byte for byte."""
    assert len(requests) >= at_least
    for n in range(len(requests) - 1):
        before, after = requests[n], requests[n + 1]
        assert len(after) >= len(before), f"request {n + 1} is shorter than request {n}"
        for i, (a, b) in enumerate(zip(before, after)):
            assert a == b, f"request {n + 1} differs from request {n} at message {i}:\n{a[:300]}\n{b[:300]}"


def assert_compressed(tool_texts: list[str], expected: int) -> None:
    """The run really compressed (prefix stability of untouched text would prove little)."""
    raw = sum(len(tool_output(source_of(t))) for t in range(len(tool_texts)))
    assert len(tool_texts) == expected and sum(len(t) for t in tool_texts) < raw / 3
    assert any("headroom_retrieve(key=" in t for t in tool_texts)
