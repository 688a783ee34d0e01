"""The speed shortcuts of routing, code and search results give the answers of the long way.

Each shortcut skips work when a cheap test shows it cannot change the result: the blob and
test-output pre-checks of the router, the base64 pre-check of `_is_blob`, a path's terms
made once per search listing, the router's sample parse reused by the code compressor, and
a code outline counted from its input's token ids and the lines around its edits.
These tests compare each shortcut with the work it skips, on generated and real inputs.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json.decoder
import random
import re
import textwrap
from array import array
from pathlib import Path

import pytest

from headroom_core import (
    HeadroomConfig,
    MemoryCCRStore,
    _counting,
    _language,
    _router,
    _tokenizer,
    compress,
    count_tokens,
    get_tokenizer,
)
from headroom_core._relevance import terms
from headroom_core._tokenizer import Tokenizer, _chunks
from headroom_core.compressors import _treesitter as ts
from headroom_core.compressors import code_compressor, search_results
from tests.support.real_texts import fixture_texts

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _fixture_texts() -> list[str]:
    return [text for _, text in fixture_texts()]


def _blobby_text(rnd: random.Random) -> str:
    def b64(n: int) -> str:
        return "".join(rnd.choice(_ALPHABET) for _ in range(n))

    pieces = []
    for _ in range(rnd.choice([1, 5, 30, 80])):
        r = rnd.random()
        if r < 0.25:
            pieces.append(b64(rnd.choice([3, 4, 60, 76, 200, 201])) + rnd.choice(["", "=", "==", "==="]))
        elif r < 0.35:
            lines = [
                b64(rnd.choice([76, 150, 200])) + rnd.choice(["", "\r"]) for _ in range(rnd.randint(2, 40))
            ]
            pieces.append("\n".join(lines) + rnd.choice(["", "=="]))
        elif r < 0.45:
            pieces.append("data:image/png;base64," + b64(rnd.choice([100, 3000])))
        elif r < 0.55:
            pieces.append(b64(rnd.choice([300, 2100, 5000])))
        elif r < 0.6:
            pieces.append("")
        else:
            pieces.append(rnd.choice(["def foo():", "  x = 1", "hello world", "{", "abcd", "é" * 3000]))
    return "\n".join(pieces) + rnd.choice(["", "\n", "\r\n"])


def test_blob_spans_precheck_never_hides_a_span(monkeypatch: pytest.MonkeyPatch) -> None:
    rnd = random.Random(7)
    texts = [_blobby_text(rnd) for _ in range(400)] + _fixture_texts()
    quick = [_router._blob_spans(t) for t in texts]
    monkeypatch.setattr(_router, "_may_hold_blob", lambda text: True)
    assert quick == [_router._blob_spans(t) for t in texts]
    assert sum(1 for spans in quick if spans) > 50  # the generated texts do hold blobs


def test_is_blob_precheck_agrees_with_the_base64_share() -> None:
    rnd = random.Random(11)
    texts = [_blobby_text(rnd) for _ in range(300)] + _fixture_texts()
    for text in texts:
        sample = _router.binary_sample(text).strip()
        if len(sample) < _router.MIN_BASE64_RUN or _router.looks_binary(text):
            continue
        assert _router._is_blob(text) == (_router._base64_share(sample) > 0.6)


def test_test_output_precheck_passes_every_line_the_patterns_match() -> None:
    runner_lines = [
        "==== test session starts ====",
        "===== 3 passed in 0.12s =====",
        "Ran 3 tests in 0.1s",
        "ok  example.com/pkg 0.1s",
        "ok\texample.com/pkg\t(cached)",
        "test_x (a.B) ... ok",
        "test foo ... ignored",
        "tests/a.py ..F. [ 50%]",
        "✓ works",
        "  PASS src/x.test.js",
        "--- FAIL: TestX (0.00s)",
        "    --- SKIP: TestY (0.00s)",
        "FAIL: test_x (a.B)",
        "ERROR: test_y (a.B)",
        "tests/a.py::test_z PASSED",
        "running 3 tests",
        "Tests: 3 passed, 3 total",
        " Test Files  2 passed (2)",
        "test result: ok. 3 passed; 0 failed",
        "Test Suites: 1 passed, 1 total",
        "=== RUN   TestX",
    ]
    rnd = random.Random(5)
    for _ in range(5000):
        line = rnd.choice(runner_lines)
        cut = rnd.randint(0, len(line))
        line = line[:cut] + rnd.choice(["", " ", "x", "\t", "ok"]) + line[cut:]
        if _router._TEST_STRONG.match(line) or _router._TEST_LINE.match(line):
            assert _router._may_be_test_output(["some other line", line]), line
    for text in _fixture_texts():
        lines = _router._sample_lines(text)
        if any(_router._TEST_STRONG.match(x) or _router._TEST_LINE.match(x) for x in lines):
            assert _router._may_be_test_output(lines)


def test_looks_like_json_without_the_copy() -> None:
    for text in ['  {"a": 1}\n', "[1, 2]", "  \n", "", "x{}", "{", " [1, 2] x", "\u3000{}\u3000"]:
        stripped = text.strip()
        expected = len(stripped) >= 2 and stripped[0] in "[{" and _router._parses(stripped)
        assert _router.looks_like_json(text) == expected


def test_search_line_terms_equal_the_whole_line_terms() -> None:
    rnd = random.Random(3)
    chars = ["a", "B", "_", ".", "-", ":", "=", " ", "\t", "'", '"', "1", "x", "::", "==", "é", "/"]
    lines = []
    for _ in range(5000):
        path = "".join(rnd.choice(chars) for _ in range(rnd.randint(1, 10)))
        body = "".join(rnd.choice(chars) for _ in range(rnd.randint(0, 15)))
        if rnd.random() < 0.05:
            body += "x" * rnd.choice([4080, 4090, 4096, 5000])
        lines.append((path, body))
    got = search_results._line_terms([path for path, _ in lines], [body for _, body in lines])
    assert got == [terms(f"{path} {body}") for path, body in lines]


def test_code_compressor_reuses_the_routers_sample_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    text = (FIXTURES / "go1.19_net_http_server.go").read_text(encoding="utf-8")
    assert len(text) > code_compressor._SAMPLE_CHARS
    _language._error_share.cache_clear()
    assert _language.detect_language(text, path="server.go") == "go"
    parses: list[int] = []
    real_parse = ts.parse

    def counting_parse(language: str, data: bytes) -> object:
        parses.append(len(data))
        return real_parse(language, data)

    monkeypatch.setattr(ts, "parse", counting_parse)
    assert not code_compressor._mostly_errors("go", text)
    assert parses == []  # answered by the router's parse of the same sample
    _language._error_share.cache_clear()
    assert not code_compressor._mostly_errors("go", text)
    assert len(parses) == 1  # and the same answer when it has to parse


def _apply_edits(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    """`data` with each (start, end, replacement) of `edits` (sorted, not overlapping) applied."""
    out, position = [], 0
    for start, end, replacement in edits:
        out += [data[position:start], replacement]
        position = end
    return b"".join([*out, data[position:]])


def _random_edits(rnd: random.Random, data: bytes) -> list[tuple[int, int, bytes]]:
    replacements = [b"", b"x", b"\n", b"{ /* [headroom: lines 1-2 omitted] */ }", b"...  # marker\n", b"/"]
    replacements += [b"\n/", b"// c ...", b"\r\n", b"  ", b"\n\n", "é".encode(), b"'s", b"123", b"):\n"]
    count = rnd.choice([1, 3, 20, 100])
    points = sorted(rnd.sample(range(len(data) + 1), min(2 * count, len(data) + 1)))
    edits: list[tuple[int, int, bytes]] = []
    for start, end in zip(points[::2], points[1::2], strict=False):
        while start < len(data) and data[start] & 0xC0 == 0x80:  # stay on character boundaries
            start += 1
        while end < len(data) and data[end] & 0xC0 == 0x80:
            end += 1
        if end >= start and (not edits or start >= edits[-1][1]):
            edits.append((start, end, rnd.choice(replacements)))
    return edits


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4", "claude-sonnet-4"])
def test_count_after_edits_equals_counting_the_output(model: str) -> None:
    rnd = random.Random(model)
    tokenizer = get_tokenizer(model)
    pieces = ["x", "  ", "\t", "\n", "\r\n", "/", "//c", "):", "\u00a0", "\u3000", "\u0085", "é", "'s", "123"]
    pieces += [" ", "\x0b", "\x0c", "\x1c", "def f():", "{", "}", "'", '"', "  \n", "\n\n"]
    texts = [text[:60_000] for text in _fixture_texts()[:12]]
    texts += ["".join(rnd.choice(pieces) for _ in range(rnd.randint(50, 3000))) for _ in range(10)]
    exact = 0
    for text in texts:
        data = text.encode("utf-8")
        ids = array("I", tokenizer.encode(text))
        for _ in range(8):
            edits = _random_edits(rnd, data)
            output = _apply_edits(data, edits)
            tokens = _counting.count_after_edits(tokenizer, data, ids, edits, output)
            if tokens is not None:  # None: no cut found near an edit, the caller counts
                assert tokens == tokenizer.count(output.decode("utf-8"))
                exact += 1
    assert exact > 150


def _record_encodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text the tokenizer encodes while `monkeypatch` holds (a `MonkeyPatch.context()`)."""
    encoded: list[str] = []
    real_encode = Tokenizer.encode

    def spy(self: Tokenizer, text: str) -> list[int]:
        encoded.append(text)
        return real_encode(self, text)

    monkeypatch.setattr(Tokenizer, "encode", spy)
    return encoded


def test_code_outline_is_counted_from_the_inputs_ids() -> None:
    import inspect
    import textwrap

    source = inspect.getsource(textwrap)
    messages = [
        {"role": "user", "content": "How does TextWrapper split words?"},
        {"role": "tool", "tool_call_id": "c1", "content": source},
    ]
    with pytest.MonkeyPatch.context() as patch:
        encoded = _record_encodes(patch)
        result = compress(messages, "gpt-4o", config=HeadroomConfig(ccr_store=MemoryCCRStore()))
    output = result.messages[1]["content"]
    assert output != source and result.transforms_applied[0].compressor == "code"
    assert encoded.count(source) == 1 and output not in encoded  # counted from the edits
    assert result.tokens_after == count_tokens(result.messages, "gpt-4o")
    assert result.transforms_applied[0].tokens_after == get_tokenizer("gpt-4o").count(output)
    assert _counting._token_ids.get() is None  # the call's final count released the ids


@pytest.mark.parametrize(
    ("text", "edit"),
    [
        ("a\n   ", (5, 5, b"\nb")),  # blanks at the end, then an insertion after them
        ("a\n  \n  b\nc\n", (9, 10, b"  \n")),  # a blank line made by the edit
        ("f():\n//x\ny\n", (9, 10, b"z")),  # `:\n//` is one piece
        ("x\n    return 1\n", (10, 16, b"\n")),  # the edit empties the rest of a line
        ("a\r\n\r\nb\r\n", (5, 6, b"c")),
        ("é\n\u3000\nb\n", (7, 8, b"c")),  # non-ASCII whitespace
    ],
)
def test_count_after_edits_edge_cases(text: str, edit: tuple[int, int, bytes]) -> None:
    tokenizer = get_tokenizer("gpt-4o")
    data = text.encode("utf-8")
    start, end, replacement = edit
    output = data[:start] + replacement + data[end:]
    tokens = _counting.count_after_edits(tokenizer, data, array("I", tokenizer.encode(text)), [edit], output)
    assert tokens in (None, tokenizer.count(output.decode("utf-8")))


def _chunked_ids(tokenizer: Tokenizer, text: str) -> array[int]:
    ids = array("I")
    for chunk in _chunks(text):
        ids.extend(tokenizer.encode(chunk))
    return ids


@pytest.mark.parametrize("chunk_chars", [1500, 7000])
def test_count_after_edits_of_texts_counted_chunk_by_chunk(
    chunk_chars: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A small chunk size puts many chunk cuts, of the original and of the output, near edits.
    monkeypatch.setattr(_tokenizer, "_CHUNK_CHARS", chunk_chars)
    rnd = random.Random(chunk_chars)
    tokenizer = get_tokenizer("gpt-4o")
    texts = [text[:30_000] for text in _fixture_texts()[:12]]
    texts += [inspect.getsource(module) for module in (textwrap, json.decoder, argparse)]
    exact = 0
    for text in texts:
        data = text.encode("utf-8")
        ids = _chunked_ids(tokenizer, text)
        assert len(ids) == tokenizer.count(text)
        for _ in range(6):
            edits = _random_edits(rnd, data)
            output = _apply_edits(data, edits)
            tokens = _counting.count_after_edits(tokenizer, data, ids, edits, output)
            if tokens is not None:
                assert tokens == tokenizer.count(output.decode("utf-8"))
                exact += 1
    assert exact > 40


def test_outline_by_parts_is_counted_from_the_inputs_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_tokenizer, "_CHUNK_CHARS", 20_000)
    source = "\n\n".join(inspect.getsource(module) for module in (textwrap, argparse, json.decoder))
    config = HeadroomConfig(ccr_store=MemoryCCRStore())
    config = config.with_(code=dataclasses.replace(config.code, max_chars=60_000))
    messages = [
        {"role": "user", "content": "How does ArgumentParser parse_known_args work?"},
        {"role": "tool", "tool_call_id": "c1", "content": source},
    ]
    with pytest.MonkeyPatch.context() as patch:
        encoded = _record_encodes(patch)
        result = compress(messages, "gpt-4o", config=config)
    output = result.messages[1]["content"]
    assert "outlined in" in result.transforms_applied[0].summary
    assert len(output) > 20_000 and not any(output.startswith(text) for text in encoded)
    assert result.transforms_applied[0].tokens_after == get_tokenizer("gpt-4o").count(output)
    assert result.tokens_after == count_tokens(result.messages, "gpt-4o")


def test_directive_search_agrees_with_a_multiline_search() -> None:
    # The plain rule: `^\s*` (MULTILINE) before a directive, run over line breaks too.
    spanning = re.compile(b"^\\s*" + code_compressor._DIRECTIVE, re.MULTILINE)
    pieces = [b"\n", b"\r\n", b" ", b"\t", b"\x0b", b"\x0c", b"x", b"//", b"#", b"#!"]
    pieces += [b"//go:generate x", b"// +build linux", b"# -*- coding: utf-8 -*-"]
    pieces += [b"/* eslint-disable */", b"// @ts-ignore", b"# noqa"]
    rnd = random.Random(3)
    texts = [b"".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 30))) for _ in range(3000)]
    texts += [text.encode("utf-8") for text in _fixture_texts()]
    found = [
        bool(code_compressor._DIRECTIVE_ON_FIRST_LINE.match(text))
        or bool(code_compressor._DIRECTIVE_ON_LATER_LINE.search(text))
        for text in texts
    ]
    assert found == [bool(spanning.search(text)) for text in texts]
    assert 100 < sum(found) < len(texts) - 100
