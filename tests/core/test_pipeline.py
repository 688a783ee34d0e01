"""compress(): formats, immutability, determinism and bad input."""

from __future__ import annotations

import copy
import json
import tracemalloc
import warnings
from functools import partial

import orjson
import pytest

from headroom_core import (
    CompressResult,
    HeadroomConfig,
    MemoryCCRStore,
    compress,
    compress_text,
    count_tokens,
    parse_markers,
    retrieve,
)
from tests import support


def _rows(n: int) -> list[dict]:
    return [
        {
            "id": i,
            "status": "failed" if i == 1234 else "settled",
            "amount": 10 + i % 7,
            "currency": "usd",
            "url": f"https://shop.example/orders/{i}",
        }
        for i in range(n)
    ]


# The turn these tests compress: a question about orders answered by one SQL tool call.
ORDERS_CALL: dict = {"question": "Which orders failed?", "tool": "run_sql", "args": {"q": "select"}}
openai_conversation = partial(support.openai_conversation, system="You are helpful.", **ORDERS_CALL)


@pytest.fixture
def big_json() -> str:
    return json.dumps(_rows(2000))


def test_result_shape_and_ratio_format(memory_config, big_json):
    r = compress(openai_conversation(big_json), config=memory_config)
    assert isinstance(r, CompressResult)
    assert r.tokens_before == count_tokens(openai_conversation(big_json))
    assert r.tokens_after == count_tokens(r.messages)
    assert r.tokens_saved == r.tokens_before - r.tokens_after
    assert f"{r.compression_ratio:.0%}".endswith("%")
    assert r.format == "openai"
    assert [t.message_index for t in r.transforms_applied] == [3]


def test_openai_format_preserved_and_input_not_mutated(memory_config, big_json):
    msgs = openai_conversation(big_json)
    snapshot = copy.deepcopy(msgs)
    r = compress(msgs, config=memory_config)
    assert msgs == snapshot
    assert [m["role"] for m in r.messages] == ["system", "user", "assistant", "tool"]
    assert r.messages[2] == snapshot[2]  # tool_calls intact
    assert r.messages[3]["tool_call_id"] == "call_1"
    assert r.messages[0] == snapshot[0] and r.messages[1] == snapshot[1]  # system/user untouched


def test_anthropic_format_preserved(memory_config, big_json):
    msgs = support.anthropic_conversation([big_json], preface="Let me query.", **ORDERS_CALL)
    snapshot = copy.deepcopy(msgs)
    r = compress(msgs, model="claude-sonnet-4", config=memory_config)
    assert msgs == snapshot
    assert r.format == "anthropic"
    block = r.messages[2]["content"][0]
    assert block["type"] == "tool_result" and block["tool_use_id"] == "toolu_1"
    assert block["cache_control"] == {"type": "ephemeral"}
    assert r.messages[1] == snapshot[1]
    assert r.transforms_applied and r.transforms_applied[0].message_index == 2


def test_deterministic_byte_identical(big_json):
    a = compress(openai_conversation(big_json), config=HeadroomConfig(ccr_store=MemoryCCRStore()))
    b = compress(openai_conversation(big_json), config=HeadroomConfig(ccr_store=MemoryCCRStore()))
    assert orjson.dumps(a.messages) == orjson.dumps(b.messages)
    assert a.ccr_keys == b.ccr_keys


def test_every_marker_key_is_retrievable_exactly(memory_config, big_json):
    r = compress(openai_conversation(big_json), config=memory_config)
    for key in r.ccr_keys:
        assert retrieve(key, config=memory_config) == big_json
    for m in parse_markers(r.messages[3]["content"]):
        assert m.key in r.ccr_keys


def test_small_messages_and_user_text_are_left_alone(memory_config):
    msgs = openai_conversation('{"ok": true}')
    r = compress(msgs, config=memory_config)
    assert r.messages == msgs and r.tokens_saved == 0


def test_none_content_and_empty_list_pass_through(memory_config):
    msgs = [
        {"role": "assistant", "content": None},
        {"role": "user", "content": []},
        {"role": "tool", "tool_call_id": "x", "content": ""},
    ]
    assert compress(msgs, config=memory_config).messages == msgs


def test_non_json_in_json_looking_message_is_text(memory_config):
    text = "{" + "not json at all, " * 500 + "]"
    r = compress(openai_conversation(text), config=memory_config)
    assert r.transforms_applied[0].route != "json"
    for key in r.ccr_keys:
        assert retrieve(key, config=memory_config) == text


def test_invalid_surrogates_do_not_crash(memory_config):
    text = json.dumps([{"id": i, "name": "bad \ud800 char"} for i in range(300)], ensure_ascii=False)
    r = compress(openai_conversation(text), config=memory_config)
    for key in r.ccr_keys:
        assert retrieve(key, config=memory_config) == text


def test_twenty_level_nesting(memory_config):
    doc: object = [{"leaf": i, "v": "x" * 20} for i in range(400)]
    for level in range(20):
        doc = {f"level{level}": doc}
    text = json.dumps(doc)
    r = compress(openai_conversation(text), config=memory_config)
    assert r.tokens_after <= r.tokens_before


def test_fifty_megabyte_tool_output_is_bounded(memory_config):
    line = "2026-11-23T10:00:00Z INFO worker processed job id=123456 in 42ms\n"
    payload = line * (50_000_000 // len(line))
    msgs = openai_conversation(payload)
    tracemalloc.start()
    r = compress(msgs, config=memory_config)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 6 * len(payload)
    assert r.tokens_after < r.tokens_before / 10
    (key,) = r.ccr_keys
    assert retrieve(key, config=memory_config) == payload


def test_unknown_model_warns_and_still_compresses(memory_config, big_json):
    with pytest.warns(UserWarning, match="unknown model"):
        r = compress(openai_conversation(big_json), model="zz-unknown-model-1", config=memory_config)
    assert r.warnings and "unknown model" in r.warnings[0]


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("hello",), {}, "list of chat messages"),
        ((None,), {}, "list of chat messages"),
        (([1, 2],), {}, "message 0 should be a dict"),
        (([{"content": "x"}],), {}, "no 'role'"),
        (([{"role": "user", "content": 5}],), {}, "'content' should be"),
        (([],), {"model": 4}, "model must be a str"),
        (([],), {"query": 4}, "query must be a str"),
        (([],), {"config": {"min_tokens": 1}}, "HeadroomConfig"),
        (([],), {"token_budget": -5}, "token_budget"),
    ],
)
def test_wrong_types_raise_clear_type_errors(args, kwargs, match):
    with pytest.raises(TypeError, match=match):
        compress(*args, **kwargs)


def test_compress_text_never_inflates_and_checks_type(memory_config):
    r = compress_text("short", config=memory_config)
    assert r.text == "short" and r.tokens_saved == 0
    with pytest.raises(TypeError, match="expected a str"):
        compress_text(b"bytes")


def test_ccr_disabled_means_only_lossless(big_json):
    cfg = HeadroomConfig(ccr_enabled=False)
    r = compress(openai_conversation(big_json), config=cfg)
    assert r.ccr_keys == []
    assert not parse_markers(r.messages[3]["content"])


def test_user_messages_compressed_only_when_enabled(memory_config, big_json):
    msgs = [{"role": "user", "content": big_json}]
    assert compress(msgs, config=memory_config).messages == msgs
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = compress(msgs, config=memory_config.with_(compress_user_messages=True))
    assert r.tokens_after < r.tokens_before


def test_already_compressed_output_is_not_compressed_again(memory_config):
    """An agent loop re-sends a compressed tool result: its key must still lead to the original."""
    import random

    rng = random.Random(7)
    rows = [
        {
            "id": i,
            "note": " ".join(rng.choice(["alpha", "beta", "gamma", "delta"]) for _ in range(12)),
            "status": "failed" if i == 77 else "ok",
        }
        for i in range(1500)
    ]
    lossy_text = json.dumps(rows)
    table_text = json.dumps(_rows(2000))
    for text in (lossy_text, table_text):
        first = compress(openai_conversation(text), config=memory_config)
        assert first.tokens_after < first.tokens_before / 3
        again = compress(first.messages, config=memory_config)
        assert again.messages == first.messages
        for key in first.ccr_keys:
            assert retrieve(key, config=memory_config) == text
    assert compress(
        openai_conversation(lossy_text), config=memory_config
    ).ccr_keys  # the lossy case has a key
