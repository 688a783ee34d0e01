"""headroom_core._text: one binary rule, one set of base64 patterns, plurals, head-that-fits."""

from __future__ import annotations

import base64
import random

import pytest

from headroom_core import get_tokenizer
from headroom_core._router import route
from headroom_core._text import (
    BASE64_RUN,
    DATA_URL,
    head_that_fits,
    is_plausible_base64,
    looks_binary,
    plural,
)
from headroom_core.compressors.blobs import BlobCompressor
from tests.support import make_ctx


def with_controls(share: float, n: int = 20_000) -> str:
    rng = random.Random(3)
    return "".join("\x01" if rng.random() < share else rng.choice("abc def\n") for _ in range(n))


@pytest.mark.parametrize(("share", "binary"), [(0.0, False), (0.03, False), (0.08, False), (0.2, True)])
def test_one_binary_rule_for_router_and_compressors(share, binary):
    """Issue 10: four thresholds (2 %, 1 %+1, 10 %, any NUL) disagreed; now one rule."""
    text = with_controls(share)
    assert looks_binary(text) is binary
    assert (route(text)[0].kind == "blob") is binary
    out = BlobCompressor().compress(text, make_ctx())
    if binary:
        assert out is not None and "binary content" in out.text
    else:
        assert out is None


def test_a_stray_nul_does_not_make_a_log_binary():
    text = "2024-01-01 10:00:00 INFO ok line\n" * 2000
    text = text[:5000] + "\x00" + text[5000:]
    assert not looks_binary(text)
    assert looks_binary("\x00" * 200)
    assert looks_binary(bytes(range(256)).decode("latin-1") * 40)
    assert not looks_binary("")


def test_base64_patterns():
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 3).decode()
    assert BASE64_RUN.search(f"x {png} y").group(0) == png
    assert is_plausible_base64(png)
    assert not is_plausible_base64("a" * 400)  # a long word
    assert not is_plausible_base64("0123456789abcdef" * 30)  # a hex digest
    url = f"data:image/png;base64,{png}"
    match = DATA_URL.search(f'<img src="{url}">')
    assert match is not None and match.group("mime") == "image/png" and match.group("body") == png


def test_plural():
    assert plural(1, "line") == "1 line"
    assert plural(0, "line") == "0 lines"
    assert plural(1204, "line") == "1,204 lines"
    assert plural(2, "entry", "entries") == "2 entries"


def test_head_that_fits():
    tok = get_tokenizer("gpt-4o")
    text = "\n".join(f"line {i} with a few words" for i in range(500))
    out = head_that_fits(text, 100, "[more omitted]", tok.count)
    assert out is not None and tok.count(out) <= 100
    assert out.endswith("\n[more omitted]")
    head = out[: -len("\n[more omitted]")]
    assert text.startswith(head) and head.endswith("words")  # whole lines
    # Notes may depend on what is shown; the whole text comes back when it fits.
    assert head_that_fits("short", 50, lambda n: f"[{n} lines]", tok.count) == "short\n[1 lines]"
    one_word = "x" * 5000
    cut = head_that_fits(one_word, 40, "[cut]", tok.count)
    assert cut is not None and tok.count(cut) <= 40 and cut.startswith("xxx")
    assert head_that_fits(text, 2, "a note longer than two tokens", tok.count) is None


def test_head_that_fits_finer_cuts():
    """chunks.py cuts a passage at a word, the retrieval answer's lone unit at a character:
    the same search, told where a head may end."""
    tok = get_tokenizer("gpt-4o")
    text = "\n".join(f"line {i} with a few words" for i in range(500))
    line = head_that_fits(text, 100, "[more]", tok.count)
    word = head_that_fits(text, 100, "[more]", tok.count, cut="word")
    char = head_that_fits(text, 100, "[more]", tok.count, cut="char")
    heads = [out[: -len("\n[more]")] for out in (line, word, char) if out is not None]
    assert len(heads) == 3 and all(text.startswith(h) for h in heads)
    assert all(tok.count(f"{h}\n[more]") <= 100 for h in heads)
    assert heads[0].endswith("words") and len(heads[0]) <= len(heads[1]) <= len(heads[2])
    assert not heads[1].endswith(" ") and text[len(heads[1])] in " \n"  # ends before whitespace
    # A note that fits alone comes back alone when no head fits beside it.
    assert head_that_fits("x" * 500, 3, "[more]", tok.count, cut="word") == "[more]"
