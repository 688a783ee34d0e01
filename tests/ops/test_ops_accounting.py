"""The accounting core: usage parsing, prices, cost. Same numbers for the SDK, adapters and proxy."""

from __future__ import annotations

import json

import pytest

from headroom_core._accounting import (
    PRICED,
    UNPRICED,
    PriceFileError,
    StreamUsage,
    Usage,
    account_call,
    default_prices,
    load_prices,
    parse_usage,
    read_price_file,
    shipped_prices,
    usage_from_response,
)


def test_anthropic_usage_with_cache_fields():
    usage = parse_usage(
        {
            "input_tokens": 50,
            "output_tokens": 20,
            "cache_read_input_tokens": 4000,
            "cache_creation_input_tokens": 300,
        }
    )
    assert usage == Usage(50, 20, 4000, 300)
    assert usage.prompt_tokens == 4350 and usage.total_tokens == 4370


def test_openai_chat_usage_subtracts_cached_tokens_from_prompt():
    usage = parse_usage(
        {
            "prompt_tokens": 1000,
            "completion_tokens": 30,
            "total_tokens": 1030,
            "prompt_tokens_details": {"cached_tokens": 768},
        }
    )
    assert usage == Usage(232, 30, 768, 0)


def test_openai_responses_usage():
    usage = parse_usage(
        {"input_tokens": 900, "output_tokens": 5, "input_tokens_details": {"cached_tokens": 512}}
    )
    assert usage == Usage(388, 5, 512, 0)


def test_langchain_usage_metadata():
    usage = parse_usage(
        {
            "input_tokens": 500,
            "output_tokens": 9,
            "input_token_details": {"cache_read": 300, "cache_creation": 100},
        }
    )
    assert usage == Usage(100, 9, 300, 100)


def test_google_usage():
    usage = parse_usage({"promptTokenCount": 200, "candidatesTokenCount": 40, "cachedContentTokenCount": 150})
    assert usage == Usage(50, 40, 150, 0)


@pytest.mark.parametrize("block", [None, "x", [], {}, {"foo": 1}])
def test_not_a_usage_block(block):
    assert parse_usage(block) is None


def test_bad_values_count_as_zero():
    assert parse_usage({"input_tokens": -5, "output_tokens": "7"}) == Usage(0, 0)


def test_usage_from_whole_responses():
    assert usage_from_response({"usage": {"input_tokens": 3, "output_tokens": 4}}) == Usage(3, 4)
    assert usage_from_response(
        {"type": "response.completed", "response": {"usage": {"input_tokens": 2}}}
    ) == Usage(2, 0)
    assert usage_from_response({"choices": []}) is None


def test_anthropic_stream_usage():
    acc = StreamUsage()
    acc.feed(
        {
            "type": "message_start",
            "message": {"usage": {"input_tokens": 100, "output_tokens": 1, "cache_read_input_tokens": 50}},
        }
    )
    acc.feed({"type": "content_block_delta", "delta": {"text": "hi"}})
    acc.feed({"type": "message_delta", "usage": {"output_tokens": 42}})
    assert acc.result() == Usage(100, 42, 50, 0)


def test_openai_stream_usage_chunk():
    acc = StreamUsage()
    acc.feed({"object": "chat.completion.chunk", "choices": [{"delta": {"content": "x"}}]})
    assert acc.result() is None
    acc.feed(
        {
            "object": "chat.completion.chunk",
            "choices": [],
            "usage": {"prompt_tokens": 10, "completion_tokens": 2},
        }
    )
    assert acc.result() == Usage(10, 2)


def test_shipped_prices_name_their_date_and_source():
    table = shipped_prices()
    assert table.taken and table.source and len(table) >= 20
    assert {"claude-sonnet-4-5", "gpt-4o", "gpt-4o-mini", "gemini-2.5-pro"} <= set(table.models())


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),  # Bedrock
        ("anthropic.claude-3-5-haiku-20241022-v1:0", "claude-3-5-haiku"),
        ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),  # Vertex
        ("publishers/google/models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("openai/gpt-4o-mini", "gpt-4o-mini"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("GPT-4O", "gpt-4o"),
    ],
)
def test_deployment_ids_resolve_to_their_model(model, expected):
    table = default_prices()
    assert table.lookup(model) == table.lookup(expected) is not None


def test_a_dated_snapshot_with_its_own_price_keeps_it():
    table = default_prices()
    assert table.lookup("gpt-4o-2024-05-13").input == 5.0
    assert table.lookup("gpt-4o-2024-08-06").input == 2.5


@pytest.mark.parametrize(
    "model",
    ["gpt-4o-audio-preview", "o1-mini", "claude-sonnet-9", "gpt-4o-mini-tts", "my-finetune", "", None],
)
def test_unknown_models_are_unpriced_never_priced_as_another(model):
    account = account_call(model, Usage(1000, 100), tokens_before=500, tokens_after=100)
    assert account.pricing == UNPRICED
    assert account.cost_usd is None and account.saved_usd is None
    assert account.tokens_saved == 400


def test_cost_and_savings_of_one_call():
    account = account_call(
        "claude-sonnet-4-5",
        {
            "input_tokens": 1200,
            "output_tokens": 80,
            "cache_read_input_tokens": 4000,
            "cache_creation_input_tokens": 100,
        },
        tokens_before=9000,
        tokens_after=5200,
    )
    # 1200 x $3 + 80 x $15 + 4000 x $0.30 + 100 x $3.75, per million tokens
    assert account.cost_usd == pytest.approx((3600 + 1200 + 1200 + 375) / 1e6)
    assert account.saved_usd == pytest.approx(3800 * 3 / 1e6)
    assert account.pricing == PRICED
    assert account.as_dict()["tokens_saved"] == 3800


def test_no_usage_means_no_cost_but_savings_still_priced():
    account = account_call("gpt-4o", None, tokens_before=2000, tokens_after=1000)
    assert account.cost_usd is None and account.saved_usd == pytest.approx(1000 * 2.5 / 1e6)


def test_user_toml_file_extends_and_overrides(tmp_path):
    path = tmp_path / "prices.toml"
    path.write_text(
        'taken = "2026-01-01"\nsource = "our contract"\n'
        '[models."my-finetune"]\ninput = 1.0\noutput = 2.0\n'
        '[models."gpt-4o"]\ninput = 2.0\noutput = 8.0\ncache_read = 1.0\ncache_write = 2.0\n'
    )
    table = load_prices(path)
    assert table.lookup("my-finetune").cache_read == 1.0  # no cache price: cached tokens bill as input
    assert table.lookup("gpt-4o").input == 2.0
    assert table.lookup("claude-sonnet-4-5").input == 3.0  # the rest of the shipped table stays
    assert table.taken == "2026-01-01"
    assert account_call("my-finetune", Usage(1_000_000, 0), prices=table).cost_usd == 1.0


def test_user_json_file_and_env(tmp_path, monkeypatch):
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"models": {"acme-1": {"input": 4, "output": 4}}}))
    assert read_price_file(path).lookup("acme-1").output == 4.0
    monkeypatch.setenv("HEADROOM_PRICES", str(path))
    assert default_prices().lookup("acme-1") is not None
    assert account_call("acme-1", Usage(0, 1_000_000)).cost_usd == 4.0


@pytest.mark.parametrize(
    "text",
    [
        '{"models": {"m": {"input": -1, "output": 1}}}',
        '{"models": {"m": {"input": "a", "output": 1}}}',
        "[]",
        "{",
    ],
)
def test_bad_price_files_are_clear_errors(tmp_path, text):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(PriceFileError, match=r"bad\.json"):
        read_price_file(path)


def test_a_broken_env_file_falls_back_to_the_shipped_table(tmp_path, monkeypatch, caplog):
    path = tmp_path / "broken.json"
    path.write_text("{")
    monkeypatch.setenv("HEADROOM_PRICES", str(path))
    assert default_prices().lookup("gpt-4o") is not None
    assert "broken.json" in caplog.text


def test_missing_price_file(tmp_path):
    with pytest.raises(PriceFileError, match="cannot read"):
        read_price_file(tmp_path / "nope.toml")
