"""The pipeline on hostile shapes and broken stores (issue 12 items 8, 12, 13; interface 2).

Generators search each class (nesting anywhere in a message, malformed tool calls, stores
that refuse records) instead of pinning one instance.
"""

from __future__ import annotations

import json
import logging
import random
import sys
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headroom_core import (
    HeadroomConfig,
    MemoryCCRStore,
    compress,
    compress_text,
    count_tokens,
    parse_markers,
    retrieve,
)
from headroom_core._config import ContextConfig
from headroom_core._errors import CCRStoreError
from headroom_core._messages import copy_messages, json_text
from tests.support import openai_conversation


def _rows(n: int, seed: int = 5) -> str:
    rng = random.Random(seed)
    return json.dumps(
        [
            {
                "id": i,
                "status": "failed" if i % 211 == 7 else "ok",
                "note": " ".join(rng.choice(["alpha", "beta", "gamma", "delta", "omega"]) for _ in range(10)),
                "amount": rng.randint(1, 10_000),
            }
            for i in range(n)
        ]
    )


# The turn these tests compress: a question about rows answered by one query tool call.
_conversation = partial(
    openai_conversation, system="You are helpful.", question="Which rows failed?", call_id="c1", tool="query"
)


# --------------------------------------------------------------------------- item 8: forged markers


def test_a_quoted_marker_does_not_disable_compression():
    """Issue 12 item 8: an output quoting a marker whose key is stored is still compressed."""
    store = MemoryCCRStore()
    config = HeadroomConfig(ccr_store=store)
    first = compress(_conversation(_rows(1500)), config=config)
    marker_text = first.messages[3]["content"]
    assert parse_markers(marker_text), "the first output must carry a marker"
    # A tool later reads a file that quotes that compressed output, inside much more data.
    forged = _rows(3000, seed=9)[:-1] + ", " + json.dumps({"id": -1, "note": marker_text}) + "]"
    again = compress(_conversation(forged), config=config)
    assert again.tokens_after < again.tokens_before / 5
    for key in again.ccr_keys:
        assert retrieve(key, store=store) == forged or key in first.ccr_keys


def test_the_exact_output_headroom_produced_is_not_compressed_twice():
    store = MemoryCCRStore()
    config = HeadroomConfig(ccr_store=store)
    first = compress(_conversation(_rows(1500)), config=config)
    again = compress(first.messages, config=config)
    assert again.messages == first.messages
    # Changed by one character: no longer Headroom's exact output, so it is compressed.
    edited = first.messages[3]["content"] + " "
    assert compress_text(edited, config=config).route != "headroom"


def test_compress_text_output_is_recognised_by_compress():
    """A wrapped tool compressed its output; the request compression must leave it alone."""
    store = MemoryCCRStore()
    config = HeadroomConfig(ccr_store=store)
    text = _rows(1500)
    wrapped = compress_text(text, config=config)
    assert wrapped.ccr_keys
    result = compress(_conversation(wrapped.text), config=config)
    assert result.messages[3]["content"] == wrapped.text
    assert retrieve(wrapped.ccr_keys[0], store=store) == text


# --------------------------------------------------------------------------- item 13: nesting


def _nested(depth: int, shape: str) -> Any:
    value: Any = "leaf"
    for level in range(depth):
        if shape == "dict" or (shape == "mixed" and level % 2):
            value = {"k": value}
        else:
            value = [value]
    return value


_PLACES = ("extra_key", "tool_use_input", "tool_call_arguments", "text_block_field", "tool_result_inner")


def _message_with(place: str, deep: Any) -> list[dict[str, Any]]:
    if place == "extra_key":
        return [{"role": "user", "content": "hi", "metadata": deep}]
    if place == "tool_use_input":
        return [
            {"role": "user", "content": [{"type": "text", "text": "go"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "x", "input": deep}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
        ]
    if place == "tool_call_arguments":
        return [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c", "type": "function", "function": {"name": "x", "arguments": deep}}],
            },
            {"role": "tool", "tool_call_id": "c", "content": "ok"},
        ]
    if place == "text_block_field":
        return [{"role": "user", "content": [{"type": "text", "text": "hi", "annotations": deep}]}]
    return [
        {"role": "user", "content": "go"},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": deep}]}
            ],
        },
    ]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    depth=st.sampled_from([10, 300, 496, 1200, 5000]),
    shape=st.sampled_from(["dict", "list", "mixed"]),
    place=st.sampled_from(_PLACES),
    budget=st.sampled_from([None, 50]),
)
def test_deep_nesting_anywhere_passes_through(depth, shape, place, budget):
    """Issue 12 item 13: no RecursionError from copying, counting or fitting, at any depth."""
    deep = _nested(depth, shape)
    messages = _message_with(place, deep)
    config = HeadroomConfig(ccr_store=MemoryCCRStore())
    result = compress(messages, config=config, token_budget=budget)
    assert result.messages
    if budget is None:
        assert len(result.messages) == len(messages)
    assert count_tokens(messages) > 0


def test_copy_and_json_text_are_iterative():
    deep = _nested(sys.getrecursionlimit() * 3, "mixed")
    copied = copy_messages([{"role": "user", "content": "x", "meta": deep}])[0]["meta"]
    text = json_text(deep)
    assert (text.count("leaf") == 1 and text.startswith("{")) or text.startswith("[")
    assert copied is not deep
    assert json_text({"a": [1, {"b": None}]}) == '{"a":[1,{"b":null}]}'


@pytest.mark.parametrize("function", ["not a dict", 42, None, ["x"]])
def test_tool_call_whose_function_is_not_a_dict_passes_through(function):
    messages = [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c", "type": "function", "function": function}],
        },
        {"role": "tool", "tool_call_id": "c", "content": _rows(800)},
    ]
    result = compress(messages, config=HeadroomConfig(ccr_store=MemoryCCRStore()))
    assert result.messages[1] == messages[1]
    assert result.tokens_after < result.tokens_before
    assert count_tokens(messages) > 0


# --------------------------------------------------------------------------- item 12: oversize inputs


def test_oversize_input_is_estimated_not_counted(monkeypatch):
    """Issue 12 item 12: what is cut is estimated, never encoded whole (speed is a bench)."""
    from headroom_core._tokenizer import Tokenizer

    encoded: list[int] = []
    real = Tokenizer.encode

    def spy(self, text):
        encoded.append(len(text))
        return real(self, text)

    monkeypatch.setattr(Tokenizer, "encode", spy)
    config = HeadroomConfig(ccr_store=MemoryCCRStore(), max_input_bytes=1 << 20)
    word = "a" * (6 << 20)
    result = compress(_conversation(word), config=config)
    assert result.tokens_after < 10_000 < result.tokens_before
    assert max(encoded) <= 1 << 20, "a text above the estimate threshold was encoded whole"
    (key,) = result.ccr_keys
    assert retrieve(key, config=config) == word


# --------------------------------------------------------------------------- interface 2: store failures


class RefusingStore(MemoryCCRStore):
    def put(self, key, value, **kwargs):
        raise CCRStoreError("refused: read-only store")


def test_store_refusing_records_falls_back_to_lossless(caplog):
    config = HeadroomConfig(ccr_store=RefusingStore())
    with caplog.at_level(logging.WARNING, logger="headroom"):
        result = compress(_conversation(_rows(1500)), config=config)
    assert result.ccr_keys == []
    assert not parse_markers(result.messages[3]["content"])
    assert any("CCR store error" in r.getMessage() for r in caplog.records)
    assert result.tokens_after <= result.tokens_before


def test_store_refusing_records_with_a_budget_never_emits_dead_markers():
    config = HeadroomConfig(ccr_store=RefusingStore(), context=ContextConfig(strategy="importance"))
    messages = [*_conversation(_rows(1500)), {"role": "user", "content": "and now?"}]
    result = compress(messages, config=config, token_budget=400)
    text = json.dumps(result.messages)
    assert not parse_markers(text.replace('\\"', '"'))
    stable = compress(messages, config=config.with_(context=ContextConfig()), token_budget=400)
    assert not parse_markers(json.dumps(stable.messages).replace('\\"', '"'))


def test_store_construction_failure_does_not_fail_compress(monkeypatch, caplog):
    from headroom_core import _ccr

    def broken(config):
        raise OSError("read-only file system")

    monkeypatch.setattr(_ccr, "store_for", broken)
    with caplog.at_level(logging.WARNING, logger="headroom"):
        result = compress(_conversation(_rows(1500)), config=HeadroomConfig())
    assert result.ccr_keys == [] and result.tokens_after <= result.tokens_before
    assert any("CCR store unavailable" in r.getMessage() for r in caplog.records)


def test_cache_dir_that_is_a_file_does_not_fail_compress(tmp_path):
    path = tmp_path / "not-a-dir"
    path.write_text("x")
    result = compress(_conversation(_rows(1500)), config=HeadroomConfig(ccr_path=str(path)))
    assert result.tokens_after <= result.tokens_before
    assert not parse_markers(result.messages[3]["content"]) or result.ccr_keys


# --------------------------------------------------------------------------- compress_text policy


def test_compress_text_tokenizes_each_output_once(monkeypatch):
    from headroom_core._tokenizer import Tokenizer

    text = _rows(300)
    counted: list[str] = []
    real = Tokenizer.count

    def spy(self, value):
        counted.append(value)
        return real(self, value)

    monkeypatch.setattr(Tokenizer, "count", spy)
    compress_text(text, config=HeadroomConfig(ccr_store=MemoryCCRStore()))
    assert counted.count(text) == 1


def test_compress_text_min_size_and_default_query():
    config = HeadroomConfig(ccr_store=MemoryCCRStore())
    small = '{"id": 1, "status": "ok"}'
    r = compress_text(small, config=config)
    assert r.text == small and r.compressor == "none"
    text = _rows(1500)
    steered = compress_text(text, config=config, tool_name="query", tool_args={"filter": "1234"})
    assert '"id":1234' in steered.text.replace(" ", "") or "1234" in steered.text


# --------------------------------------------------------------------------- config validation


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"min_tokens": -1}, ValueError),
        ({"min_tokens": "10"}, TypeError),
        ({"ccr_enabled": 1}, TypeError),
        ({"max_input_bytes": 0}, ValueError),
        ({"disabled_compressors": "prose"}, TypeError),
        ({"ccr_store": object()}, TypeError),
        ({"context": {"strategy": "stable"}}, TypeError),
    ],
)
def test_config_validates_on_construction(kwargs, error):
    with pytest.raises(error):
        HeadroomConfig(**kwargs)


def test_config_normalises_compressor_names_and_checks_nested():
    assert HeadroomConfig(disabled_compressors=["prose"]).disabled_compressors == frozenset({"prose"})
    with pytest.raises(ValueError, match="strategy"):
        ContextConfig(strategy="random")
    with pytest.raises(ValueError, match="low_water_ratio"):
        ContextConfig(low_water_ratio=0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        HeadroomConfig().text.__class__(target_ratio=2.0)


# --------------------------------------------------------------------------- issue 10: one pass


def test_compress_hands_its_state_to_the_context_manager(monkeypatch):
    """With a budget, nothing is validated, copied, detected or resolved a second time."""
    import headroom_core._pipeline as pipeline
    import headroom_core.context as context

    def forbidden(*args, **kwargs):
        raise AssertionError("done twice")

    calls = {"store": 0}
    real_resolve = pipeline.resolve_store

    def counting_resolve(config):
        calls["store"] += 1
        return real_resolve(config)

    monkeypatch.setattr(context, "validate_messages", forbidden)
    monkeypatch.setattr(context, "copy_messages", forbidden)
    monkeypatch.setattr(context, "detect_format", forbidden)
    monkeypatch.setattr(pipeline, "resolve_store", counting_resolve)
    messages = [*_conversation(_rows(1500)), {"role": "assistant", "content": "ok"}]
    messages += [{"role": "user", "content": "and the next one?"}]
    result = compress(messages, config=HeadroomConfig(ccr_store=MemoryCCRStore()), token_budget=300)
    assert result.context is not None and result.tokens_after <= 300 + 60
    assert calls["store"] == 1


def test_the_library_never_prints(capsys):
    compress(_conversation(_rows(1500)), config=HeadroomConfig(ccr_store=RefusingStore()))
    compress_text(_rows(1500), config=HeadroomConfig(ccr_enabled=False))
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_resending_an_output_refreshes_its_records():
    """Issue 12 item 4 from the pipeline's side: a re-sent output re-issues its markers."""
    store = MemoryCCRStore()
    config = HeadroomConfig(ccr_store=store)
    first = compress(_conversation(_rows(1500)), config=config)
    touched: list[str] = []
    real = store.touch

    def spy(key):
        touched.append(key)
        return real(key)

    store.touch = spy  # type: ignore[method-assign]
    compress(first.messages, config=config)
    assert set(first.ccr_keys) <= set(touched)
