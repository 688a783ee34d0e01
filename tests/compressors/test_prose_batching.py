"""The prose compressor's batched helpers give exactly what the per-unit ones give."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from headroom_core.compressors.prose import _sentence_spans, _template, _templates

# Characters that matter: volatile runs (digits, hex, 0x), whitespace of every kind, case
# mappings that depend on context (final sigma), the batch separator itself, list markers.
_ALPHABET = st.sampled_from(
    [
        *"abcdefxyzABCDEFXYZ0123456789 \t\n\r\x0b\x1c\x00.,;:!?-*+•()\"'_Σσςİ٣\u00a0",
        *("0x1f", "deadbeef99", "ΟΔΟΣ ", "e.g. ", "1. ", "- item", "\n  12) "),
    ]
)
_TEXT = st.lists(_ALPHABET, max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(_TEXT, min_size=1, max_size=8))
def test_batched_templates_equal_one_by_one(texts: list[str]) -> None:
    assert _templates(texts) == [_template(t) for t in texts]


def test_list_items_start_new_sentences_at_line_starts_only() -> None:
    text = "Options are\n- first one\n- second one\nand a dash - inside a line."
    spans = [text[a:b] for a, b in _sentence_spans(text, 0, len(text))]
    assert spans == ["Options are", "- first one", "- second one\nand a dash - inside a line."]
