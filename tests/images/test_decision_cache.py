"""The per-image decision cache and the size refinement (issue 19 follow-up).

An agent loop re-sends the whole conversation on every turn: the decision for an image
already seen (same bytes, same config, same kind of question) is remembered, so OCR and
the level search do not run again, and the output is byte for byte the same.
"""

from __future__ import annotations

import math

from headroom_core import HeadroomConfig, MemoryCCRStore, retrieve
from headroom_core._config import ImageConfig
from headroom_core.images import _compress, compress_image_block
from headroom_core.images._compress import DECISIONS, Candidate, Decision, DecisionCache
from headroom_core.images._providers import MAX_SQUASH, image_tokens, refine_sizes
from tests.support import make_ctx

from .conftest import PHOTO, SCREENSHOT, file_block


def _config(**kw) -> HeadroomConfig:
    return HeadroomConfig(ccr_store=MemoryCCRStore(), images=ImageConfig(ocr=False, **kw))


def _counting_decide(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = _compress._decide

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(_compress, "_decide", counted)
    return calls


def test_a_repeated_image_is_decided_once_and_compresses_the_same(monkeypatch):
    calls = _counting_decide(monkeypatch)
    outs = []
    for _ in range(3):  # three turns: each a new compress() call, so a new context and store
        config = _config()
        ctx = make_ctx(config=config)
        out = compress_image_block(file_block(PHOTO), model="gpt-4o", ctx=ctx)
        assert out is not None and out.strategy != "passthrough"
        assert retrieve(out.ccr_keys[0], store=config.ccr_store) is not None  # stashed on every turn
        outs.append(out)
    assert len(calls) == 1
    assert outs[0].block == outs[1].block == outs[2].block
    assert outs[0].summary == outs[2].summary


def test_the_key_covers_the_config_the_provider_and_the_question(monkeypatch):
    calls = _counting_decide(monkeypatch)
    block = file_block(SCREENSHOT)
    compress_image_block(block, model="gpt-4o", ctx=make_ctx(config=_config()))
    compress_image_block(block, model="gpt-4o", ctx=make_ctx(config=_config(min_ssim=0.9)))
    compress_image_block(block, model="claude-sonnet-4-5", ctx=make_ctx(config=_config()))
    compress_image_block(
        block, model="gpt-4o", ctx=make_ctx(config=_config()), question="What colour is the background?"
    )
    compress_image_block(block, model="gpt-4o", ctx=make_ctx(config=_config()), question="Read the dates")
    assert len(calls) == 5
    compress_image_block(block, model="gpt-4o", ctx=make_ctx(config=_config()), question="Read every label")
    assert len(calls) == 5  # the same kind of question (read) as before: remembered
    # Same bytes in an Anthropic-shaped block sent to gpt-4o: low detail cannot be carried.
    compress_image_block(file_block(SCREENSHOT, "anthropic"), model="gpt-4o", ctx=make_ctx(config=_config()))
    assert len(calls) == 6


def test_the_cache_is_bounded_by_entries_and_bytes():
    def decision(n: int) -> Decision:
        return Decision(Candidate("keep", b"x" * n, "PNG", (1, 1), None, 85, 1.0, 1.0))

    cache = DecisionCache(max_entries=2, max_bytes=100)
    cache.put(("a",), decision(10))
    cache.put(("b",), decision(10))
    assert cache.get(("a",)) is not None  # now the most recent
    cache.put(("c",), decision(10))
    assert cache.get(("b",)) is None and len(cache) == 2
    cache.put(("d",), decision(95))  # pushes the others out by size
    assert cache.get(("a",)) is None and cache.get(("c",)) is None and cache.get(("d",)) is not None
    cache.put(("e",), decision(101))  # larger than the whole cache: not kept
    assert cache.get(("e",)) is None
    cache.clear()
    assert len(cache) == 0


def test_the_process_cache_fills_and_empties():
    compress_image_block(file_block(PHOTO), model="gpt-4o", ctx=make_ctx(config=_config()))
    assert len(DECISIONS) == 1
    DECISIONS.clear()
    assert len(DECISIONS) == 0


def test_refined_sizes_land_under_billing_boundaries():
    for provider, (w, h) in (
        ("openai", (1351, 768)),
        ("openai", (961, 636)),
        ("anthropic", (1453, 826)),
        ("gemini", (3013, 1561)),
    ):
        upper = image_tokens(provider, w, h)
        sizes = refine_sizes(provider, w, h, upper)
        assert sizes, provider
        tokens = [image_tokens(provider, *s) for s in sizes]
        assert tokens == sorted(tokens, reverse=True) and len(set(tokens)) == len(tokens)
        assert all(t < upper for t in tokens)
        for sw, sh in sizes:
            sx, sy = sw / w, sh / h
            assert sw <= w and sh <= h
            assert min(sx, sy) / max(sx, sy) >= MAX_SQUASH - 0.01  # aspect changes at most 25%
            assert min(sx, sy) >= 0.4 - 1 / min(w, h)
    # OpenAI: 1351x768 is 3x2 tiles; condensing the width alone reaches 2x2 at full height.
    assert refine_sizes("openai", 1351, 768, 1105)[0] == (1024, 768)
    assert image_tokens("openai", 1024, 768) == 765
    # Gemini's 384-px single-tile size is among the candidates when the floor allows it.
    small = refine_sizes("gemini", 900, 800, image_tokens("gemini", 900, 800), 0, 0.25)
    assert min(image_tokens("gemini", *s) for s in small) == 258
    assert math.isclose(small[-1][0] / 900, small[-1][1] / 800, rel_tol=0.34)
