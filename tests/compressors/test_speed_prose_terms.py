"""`_relevance.terms` (shared by the prose, code, search-results and log compressors) gives
exactly what the plain rule gives: the Unicode patterns on every text, one token at a time
(restated here the simple way). Checked on every real corpus text, its lines, paragraphs
and windows, and on generated texts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from headroom_core import _relevance
from tests.support.real_texts import fixture_texts


def plain_terms(text: str) -> list[str]:
    """Each token's expansion, then the pair term a `key=` / `key:` before it makes."""
    out: list[str] = []
    if len(text) > _relevance.PAIR_TEXT_CHARS or ("=" not in text and ":" not in text):
        for token in _relevance._CHAIN.findall(text):
            out.extend(_relevance._expand(token))
        return out
    pending_key: str | None = None
    for token, pair in _relevance._TOKEN.findall(text):
        out.extend(_relevance._expand(token))
        if pending_key is not None and len(token) <= _relevance._MAX_PAIR_VALUE:
            out.append(pending_key + "=" + token.lower())
        pending_key = token.lower().strip("_") if pair and not token[0].isdigit() else None
    return out


def test_real_texts_give_the_plain_terms() -> None:
    texts = [text for _, text in fixture_texts()]
    assert len(texts) > 20
    for text in texts:
        assert _relevance.terms(text) == plain_terms(text)
        # Lines, paragraphs and 4 KB windows: the pair path (short texts with `=` or `:`),
        # ASCII pieces of texts that are not ASCII as a whole.
        pieces = [*text.split("\n"), *text.split("\n\n")]
        pieces += [text[k : k + 4000] for k in range(0, min(len(text), 400_000), 4000)]
        for piece in pieces:
            assert _relevance.terms(piece) == plain_terms(piece), piece[:200]


_PIECES = st.sampled_from(
    [
        *"ab_Z9 .:-=\"'\t\n",
        *("key=", "key: ", '"k": "v"', "x == y", "3: four", "_a_: b", "::", "a::b", "x-y", "foo.bar"),
        *("RunnableSequence", "with_fallbacks", "HTTPServer", "The", "is", "x" * 70),
        *("ΟΔΟΣ", "é", "٣", "²", "K", "ſ", "İ", "\u00a0", "\u2003", "_é_", "Straße"),
    ]
)


@settings(max_examples=600, deadline=None)
@given(st.lists(_PIECES, max_size=40).map("".join))
def test_generated_texts_give_the_plain_terms(text: str) -> None:
    assert _relevance.terms(text) == plain_terms(text)


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(max_codepoint=127), max_size=200))
def test_ascii_patterns_match_as_the_unicode_ones(text: str) -> None:
    assert _relevance._CHAIN_ASCII.findall(text) == _relevance._CHAIN.findall(text)
    assert _relevance._TOKEN_ASCII.findall(text) == _relevance._TOKEN.findall(text)
