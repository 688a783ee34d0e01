"""Token counts made once per call: the pipeline and the compressors share them (issue 11 §3)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from headroom_core import HeadroomConfig, MemoryCCRStore, compress, compress_text, get_tokenizer
from headroom_core._counting import count_once, counting_scope, known_count
from headroom_core._tokenizer import Tokenizer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MAN_FIND = (FIXTURES / "man_find.1.txt").read_text()
TUTORIAL = (FIXTURES / "pydocs3.11_tutorial_classes.rst.txt").read_text()


def _reference() -> str:
    """The Python language reference as text (~465 KB): its output is past the size the
    prose compressor counts exactly on its own."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[name] for name in sorted(topics))


def test_known_count_and_count_once_share_the_scope_memo() -> None:
    tokenizer = get_tokenizer("gpt-4o")
    text = "word " * 200
    assert known_count(text) is None  # no scope: nothing is known
    memo: dict[str, int] = {}
    with counting_scope(memo):
        assert known_count(text) is None
        n = count_once(text, tokenizer)
        assert n == tokenizer.count(text)
        assert memo == {text: n}
        assert known_count(text) == n
        assert count_once("short", tokenizer) == tokenizer.count("short")
        assert "short" not in memo  # short texts are not worth a hash
    assert known_count(text) is None  # the scope ends with the block


def test_scopes_nest_and_restore() -> None:
    outer: dict[str, int] = {"a" * 300: 7}
    with counting_scope(outer):
        with counting_scope({}):
            assert known_count("a" * 300) is None
        assert known_count("a" * 300) == 7


@pytest.fixture
def encodes(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every text the tokenizer encodes during the test (to count it, or to keep its ids)."""
    seen: Counter[str] = Counter()
    original = Tokenizer.encode

    def spy(self: Tokenizer, text: str) -> list[int]:
        seen[text] += 1
        return original(self, text)

    monkeypatch.setattr(Tokenizer, "encode", spy)
    return seen


@pytest.mark.parametrize(
    "document", [MAN_FIND, TUTORIAL, _reference()], ids=["man-find", "tutorial", "reference"]
)
def test_compress_encodes_the_input_and_the_output_once(document: str, encodes: Counter[str]) -> None:
    messages = [
        {"role": "user", "content": "How do I find files by modification time?"},
        {"role": "tool", "tool_call_id": "c1", "content": document},
    ]
    result = compress(messages, "gpt-4o", config=HeadroomConfig(ccr_store=MemoryCCRStore()))
    output = result.messages[1]["content"]
    assert output != document and result.tokens_after < result.tokens_before
    assert encodes[document] == 1
    assert encodes[output] == 1
    # The counts reported are exact.
    tokenizer = get_tokenizer("gpt-4o")
    assert result.transforms_applied[0].tokens_before == tokenizer.count(document)
    assert result.transforms_applied[0].tokens_after == tokenizer.count(output)


def test_compress_text_encodes_the_input_and_the_output_once(encodes: Counter[str]) -> None:
    result = compress_text(MAN_FIND, query="-mtime", config=HeadroomConfig(ccr_store=MemoryCCRStore()))
    assert result.text != MAN_FIND
    assert encodes[MAN_FIND] == 1
    assert encodes[result.text] == 1
    assert result.tokens_after == get_tokenizer("gpt-4o").count(result.text)
