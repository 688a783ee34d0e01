"""The tokenizer registry: real encodings, offline, no silent fallback."""

from __future__ import annotations

import gzip
import hashlib
import warnings

import pytest
import tiktoken_ext.openai_public as openai_public

from headroom_core import TokenizerUnavailableError, _tokenizer, count_tokens, get_tokenizer


def test_known_token_ids_match_openai_encodings():
    # Published reference ids for these encodings.
    assert get_tokenizer("gpt-4").encode("hello world") == [15339, 1917]
    assert get_tokenizer("gpt-4o").encode("hello world") == [24912, 2375]


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("openai/gpt-4o", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
    ],
)
def test_openai_models_are_exact(model, encoding):
    tok = get_tokenizer(model)
    assert tok.encoding_name == encoding
    assert not tok.approximate


@pytest.mark.parametrize(
    "model",
    [
        "claude-3-5-sonnet-latest",
        "anthropic.claude-sonnet-4",
        "gemini-2.0-flash",
        "meta-llama/Llama-3.1-8B-Instruct",
        "mistral-large",
    ],
)
def test_other_families_are_documented_approximations(model):
    tok = get_tokenizer(model)
    assert tok.approximate
    assert tok.factor in _tokenizer.APPROXIMATION_FACTORS.values()
    text = "The quick brown fox jumps over the lazy dog. " * 40
    base = len(get_tokenizer("gpt-4o").encode(text))
    assert tok.count(text) == round(base * tok.factor)


def test_unknown_model_warns_and_uses_o200k():
    with pytest.warns(UserWarning, match="unknown model"):
        tok = _tokenizer.get_tokenizer.__wrapped__("totally-new-model-9000")
    assert tok.encoding_name == "o200k_base"


def test_packaged_vocabulary_is_verified_against_tiktoken_hash():
    data = _tokenizer._packaged_bpe("o200k_base")
    assert data is not None
    # The hash tiktoken pins for the download URL (read from its source, not copied here).
    import inspect

    source = inspect.getsource(openai_public.o200k_base)
    assert hashlib.sha256(data).hexdigest() in source


def test_tampered_vocabulary_is_refused(monkeypatch):
    monkeypatch.setenv("HEADROOM_TOKENIZER_CACHE", "0")  # parse the packaged bytes, not the start-up cache
    good = _tokenizer._packaged_bpe("cl100k_base")
    monkeypatch.setattr(_tokenizer, "_packaged_bpe", lambda name: good + b"AAAA 999999999\n")
    with pytest.raises(TokenizerUnavailableError, match="sha256"):
        _tokenizer._encoding_params_offline("cl100k_base")


def test_no_silent_fallback_when_nothing_can_load(monkeypatch):
    monkeypatch.setattr(_tokenizer, "_packaged_bpe", lambda name: None)
    with pytest.raises(TokenizerUnavailableError):
        _tokenizer.get_encoding.__wrapped__("no_such_encoding")


def test_offline_load_touches_no_network():
    # pytest-socket blocks sockets in this suite: building fresh encodings must still work.
    enc = _tokenizer.get_encoding.__wrapped__("cl100k_base")
    assert enc.encode_ordinary("offline") == get_tokenizer("gpt-4").encode("offline")


def test_special_tokens_in_content_are_plain_text():
    assert get_tokenizer("gpt-4o").count("<|endoftext|>") > 1


def test_lone_surrogates_are_counted_not_raised():
    assert get_tokenizer("gpt-4o").count("bad \ud800 text") > 0


def test_chunked_counting_of_huge_text_is_close_to_exact():
    text = "\n".join(f"line {i} with some words and a value {i * 7}" for i in range(60_000))
    tok = get_tokenizer("gpt-4o")
    exact = len(tok.encoding.encode_ordinary(text))
    assert len(text) > _tokenizer._CHUNK_CHARS
    assert abs(tok.count(text) - exact) <= 4


def test_count_tokens_on_messages_includes_overhead():
    msgs = [{"role": "user", "content": "hello world"}]
    assert count_tokens(msgs) == 3 + 3 + 2
    assert count_tokens([]) == 0
    with pytest.raises(TypeError, match="str or a list"):
        count_tokens(42)
    with pytest.raises(TypeError, match="message 0"):
        count_tokens(["not a dict"])


def test_gzip_roundtrip_of_packaged_file_is_plain_bpe():
    data = _tokenizer._packaged_bpe("cl100k_base")
    assert gzip.compress(data)  # sanity: bytes, parseable lines
    first = data.splitlines()[0].split()
    assert len(first) == 2 and first[1] == b"0"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        get_tokenizer("gpt-4o")  # known model: no warning
