"""CacheAligner: dynamic values leave the prefix, nothing the model sees is lost."""

from __future__ import annotations

import re

import orjson
import pytest

from benchmarks.workloads.context_workloads import cache_session
from headroom_core import CacheAligner, HeadroomConfig, MemoryCCRStore, compress, manage_context
from headroom_core._config import ContextConfig
from headroom_core._messages import message_text
from headroom_core.context import common_prefix_tokens, find_dynamic
from headroom_core.context.cache_aligner import NOTE_PREFIX
from tests.support import openai_conversation


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("Today is 2026-11-24.", "date", "2026-11-24"),
        ("Now: 2026-11-24T09:14:03Z ok", "datetime", "2026-11-24T09:14:03Z"),
        ("It is Tuesday, November 24, 2026 here", "date", "Tuesday, November 24, 2026"),
        ("Local time 09:14:03 UTC.", "time", "09:14:03 UTC"),
        ("session 7c1e0a2b-4f3d-4a9e-8b6c-0123456789ab", "uuid", "7c1e0a2b-4f3d-4a9e-8b6c-0123456789ab"),
        ("req_8f3a92c1d0 was logged", "request_id", "req_8f3a92c1d0"),
        ("Request ID: A1B2C3D4E5", "request_id", "A1B2C3D4E5"),
        ("nonce 9f86d081884c7d659a2feaa0c55ad015", "hex", "9f86d081884c7d659a2feaa0c55ad015"),
        ("Turn: 17.", "counter", "17"),
        ("epoch 1764000000 seconds", "timestamp", "1764000000"),
    ],
)
def test_finds_dynamic_values(text, kind, value):
    spans = find_dynamic(text)
    assert [(text[s:e], k) for s, e, k in spans] == [(value, kind)]


@pytest.mark.parametrize(
    "text",
    [
        "Step 1: read the file.",
        "Use Python 3.11 and port 8080.",
        "Follow rule #4 strictly.",
        "You are helpful.",
    ],
)
def test_static_text_is_left_alone(text):
    assert find_dynamic(text) == []


def _request(now: str, req: str, question: str = "Status?") -> list[dict]:
    return [
        {"role": "system", "content": f"You are ops. Current time: {now}. Request ID: {req}. Be brief."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi."},
        {"role": "user", "content": question},
    ]


def _restore(messages: list[dict], report) -> str:
    """Put the moved values back into the placeholders: must give the original text."""
    text = "\n".join(message_text(m) for m in messages)
    text = text.replace("\n\n" + report.note, "").replace(report.note, "")
    for value in report.moved:
        text = text.replace("{{" + value.placeholder + "}}", value.value)
    return text


def test_no_information_is_lost_and_input_untouched():
    original = _request("2026-11-24T09:14:03Z", "req_8f3a92c1d0")
    snapshot = orjson.dumps(original)
    out, report = CacheAligner().align(original)
    assert orjson.dumps(original) == snapshot
    assert "2026-11-24T09:14:03Z" not in out[0]["content"] and "req_8f3a92c1d0" not in out[0]["content"]
    assert out[-1]["content"].endswith(report.note)
    assert "datetime_1=2026-11-24T09:14:03Z" in report.note and "request_id_1=req_8f3a92c1d0" in report.note
    assert _restore(out, report) == "\n".join(message_text(m) for m in original)


def test_prefix_is_byte_identical_across_calls():
    a, _ = CacheAligner().align(_request("2026-11-24T09:14:03Z", "req_8f3a92c1d0"))
    b, _ = CacheAligner().align(_request("2026-11-25T17:02:44Z", "req_00aa11bb22"))
    assert a[:3] == b[:3]
    assert common_prefix_tokens(a, b) > common_prefix_tokens(
        _request("2026-11-24T09:14:03Z", "req_8f3a92c1d0"), _request("2026-11-25T17:02:44Z", "req_00aa11bb22")
    )


@pytest.mark.parametrize("direct", [False, True])
def test_twenty_turn_session_prefix_stability(direct):
    aligned = cache_session(20, align=True, direct=direct)
    raw = cache_session(20, align=False)
    assert aligned["min_prefix_stability"] >= 0.99
    assert aligned["prefix_stability"] >= 0.99
    assert raw["prefix_stability"] < 0.2
    assert aligned["cached_share"] > raw["cached_share"] + 0.5


def test_openai_tool_tail_gets_a_system_note():
    messages = openai_conversation(
        "done", system="Date: 2026-11-24.", question="run it", call_id="c", tool="x"
    )
    out, report = CacheAligner().align(messages)
    assert out[:4] != messages[:4] and out[3] == messages[3]
    assert out[-1] == {"role": "system", "content": report.note}
    assert report.note_message_index == 4


def test_anthropic_note_and_breakpoints():
    messages = [
        {"role": "system", "content": "Session 7c1e0a2b-4f3d-4a9e-8b6c-0123456789ab. Be careful."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "ls", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "a.py"}]},
    ]
    out, report = CacheAligner(anthropic_breakpoints=True).align(messages)
    assert out[-1]["content"][0]["type"] == "tool_result"  # tool_result still leads
    assert out[-1]["content"][-1] == {"type": "text", "text": report.note}
    assert report.breakpoints == [0, 2]
    assert out[0]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert out[2]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert any("cache_control" in hint for hint in report.hints)


def test_breakpoints_respect_the_limit_of_four():
    cc = {"type": "ephemeral"}
    messages = [
        {
            "role": "system",
            "content": [{"type": "text", "text": f"part {i}", "cache_control": cc} for i in range(3)],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x", "content": "x"}]},
    ]
    messages = [
        messages[0],
        {"role": "user", "content": "Date 2026-11-24"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "more"},
    ]
    out, report = CacheAligner(anthropic_breakpoints=True, max_breakpoints=4).align(
        messages, provider="anthropic"
    )
    total = sum(
        1
        for m in out
        for b in (m["content"] if isinstance(m["content"], list) else [])
        if "cache_control" in b
    )
    assert total <= 4 and len(report.breakpoints) == 1


def test_through_compress():
    config = HeadroomConfig(
        ccr_store=MemoryCCRStore(), context=ContextConfig(cache_align=True, learning=False)
    )
    result = compress(_request("2026-11-24T09:14:03Z", "req_8f3a92c1d0"), "gpt-4o", config=config)
    assert result.context is not None and result.context.cache is not None
    assert "{{datetime_1}}" in result.messages[0]["content"]
    assert NOTE_PREFIX in result.messages[-1]["content"]
    assert result.context.budget is None


def test_align_then_fit_keeps_note_and_breakpoints():
    config = HeadroomConfig(
        ccr_store=MemoryCCRStore(),
        context=ContextConfig(cache_align=True, cache_anthropic_breakpoints=True, learning=False),
    )
    messages = [
        {"role": "system", "content": "Now 2026-11-24T09:14:03Z."},
        {"role": "user", "content": "start"},
    ]
    for t in range(8):
        messages.append(
            {"role": "assistant", "content": [{"type": "tool_use", "id": f"t{t}", "name": "ls", "input": {}}]}
        )
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": f"t{t}", "content": "file " * 80}],
            }
        )
    messages.append({"role": "assistant", "content": "done listing"})
    messages.append({"role": "user", "content": "anything odd?"})
    out, report = manage_context(messages, model="claude-sonnet-4", config=config, token_budget=400)
    assert report.tokens_after <= 400 and report.dropped
    assert NOTE_PREFIX in out[-1]["content"]
    marked = [
        i
        for i, m in enumerate(out)
        if isinstance(m["content"], list)
        and any("cache_control" in b for b in m["content"] if isinstance(b, dict))
    ]
    assert marked == report.cache.breakpoints and marked[-1] == len(out) - 2
    assert re.search(r"datetime_1=2026-11-24T09:14:03Z", out[-1]["content"])
