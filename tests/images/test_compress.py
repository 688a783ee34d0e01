"""compress_image_block and compress() on real images: savings, quality, CCR, determinism."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import pytest
from PIL import Image

from headroom_core import HeadroomConfig, MemoryCCRStore, compress, count_tokens, retrieve
from headroom_core.images import compress_image_block, dedupe_images, estimate_block_tokens
from headroom_core.images._codec import b64decode, locate
from tests.support import make_ctx

from .conftest import CAT, DIAGRAM, PHOTO, SCREENSHOT, TEXT_PAGE, anthropic_block, file_block


def _decoded(block: dict) -> Image.Image:
    ref = locate(block)
    image = Image.open(io.BytesIO(b64decode(ref.b64)))
    image.load()
    return image


def test_openai_message_end_to_end(memory_config):
    block = file_block(SCREENSHOT)
    messages = [{"role": "user", "content": [{"type": "text", "text": "What is on my calendar?"}, block]}]
    result = compress(messages, "gpt-4o", config=memory_config)
    text_only = count_tokens([{"role": "user", "content": [messages[0]["content"][0]]}], "gpt-4o")
    assert result.tokens_before == text_only + 765  # the image is counted
    (t,) = [t for t in result.transforms_applied if t.route == "image"]
    assert t.tokens_before == 765 and t.tokens_after < 765
    assert result.tokens_after == text_only + t.tokens_after
    assert result.tokens_after <= result.tokens_before * 0.6
    new_block = result.messages[0]["content"][1]
    assert new_block["type"] == "image_url" and new_block["image_url"]["url"].startswith("data:image/")
    assert json.loads(retrieve(t.ccr_keys[0], store=memory_config.ccr_store)) == block
    assert messages[0]["content"][1] == block  # caller's objects untouched


def test_anthropic_message_end_to_end(memory_config):
    block = anthropic_block(DIAGRAM.read_bytes())
    block["cache_control"] = {"type": "ephemeral"}
    messages = [{"role": "user", "content": [block, {"type": "text", "text": "Explain this flow."}]}]
    result = compress(messages, "claude-sonnet-4-5", config=memory_config)
    (t,) = [t for t in result.transforms_applied if t.route == "image"]
    assert t.tokens_before == estimate_block_tokens(block, "claude-sonnet-4-5") == 966
    assert result.tokens_before - result.tokens_after == t.tokens_before - t.tokens_after > 0
    new_block = result.messages[0]["content"][0]
    assert new_block["type"] == "image" and new_block["source"]["type"] == "base64"
    assert new_block["cache_control"] == {"type": "ephemeral"}
    assert json.loads(retrieve(t.ccr_keys[0], store=memory_config.ccr_store)) == block


def test_deterministic_bytes(memory_config):
    block = file_block(PHOTO)
    first = compress_image_block(block, model="gpt-4o", ctx=make_ctx(config=memory_config))
    second = compress_image_block(block, model="gpt-4o", ctx=make_ctx(config=memory_config))
    assert first is not None and first.block == second.block and first.strategy == second.strategy


@pytest.mark.parametrize("model", ["gpt-4o", "claude-sonnet-4-5", "gemini-2.0-flash"])
def test_output_is_what_the_accounting_says(memory_config, model):
    out = compress_image_block(
        file_block(SCREENSHOT), model=model, ctx=make_ctx(config=memory_config, model=model)
    )
    assert out is not None
    assert estimate_block_tokens(out.block, model) == out.tokens_after < out.tokens_before


def test_text_page_keeps_legible_resolution(memory_config):
    # The scanned page is small already; OpenAI low detail sees it whole, so that is free.
    out = compress_image_block(file_block(TEXT_PAGE), model="gpt-4o", ctx=make_ctx(config=memory_config))
    assert out is not None and out.block["image_url"]["detail"] == "low"
    assert _decoded(out.block).size == (384, 191)


def test_quality_bar_is_respected(memory_config):
    strict = memory_config.with_(images=replace(memory_config.images, min_ssim=0.999, min_detail=0.999))
    out = compress_image_block(
        file_block(PHOTO), model="claude-opus-4", ctx=make_ctx(config=strict, model="claude-opus-4")
    )
    assert out is None  # nothing but the original meets a near-perfect bar


def test_ccr_disabled_means_no_lossy_change():
    config = HeadroomConfig(ccr_enabled=False)
    out = compress_image_block(file_block(SCREENSHOT), model="gpt-4o", ctx=make_ctx(config=config))
    assert out is None


def test_images_disabled(memory_config):
    config = memory_config.with_(images=replace(memory_config.images, enabled=False))
    messages = [{"role": "user", "content": [file_block(SCREENSHOT)]}]
    result = compress(messages, "gpt-4o", config=config)
    assert result.messages == messages and result.tokens_before == result.tokens_after


def test_small_images_are_left_alone(memory_config):
    out = compress_image_block(
        file_block(TEXT_PAGE, "anthropic"), model="claude-3-haiku", ctx=make_ctx(config=memory_config)
    )
    assert out is None  # 98 tokens: below ImageConfig.min_tokens


def test_uniform_border_is_cropped(memory_config):
    with Image.open(CAT) as cat:
        canvas = Image.new("RGB", (cat.width + 600, cat.height + 400), (255, 255, 255))
        canvas.paste(cat.convert("RGB"), (300, 200))
    buf = io.BytesIO()
    canvas.save(buf, "PNG")
    block = anthropic_block(buf.getvalue())
    out = compress_image_block(block, model="claude-3-5-sonnet", ctx=make_ctx(config=memory_config))
    assert out is not None and out.strategy.startswith("crop")
    w, h = _decoded(out.block).size
    assert w <= cat.width + 4 and h <= cat.height + 4


def test_duplicates_become_references_in_one_call(memory_config):
    first, again = file_block(SCREENSHOT), file_block(SCREENSHOT)
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "look"}, first]},
        {"role": "assistant", "content": "I see a calendar."},
        {"role": "user", "content": [{"type": "text", "text": "and again"}, again]},
    ]
    result = compress(messages, "gpt-4o", config=memory_config)
    ref = result.messages[2]["content"][1]
    assert ref["type"] == "text" and "identical to image #1" in ref["text"]
    (t,) = [t for t in result.transforms_applied if t.compressor == "dedupe"]
    assert json.loads(retrieve(t.ccr_keys[0], store=memory_config.ccr_store)) == first
    # A second compress() call starts fresh: its first image is not a duplicate.
    again_result = compress(messages[:1], "gpt-4o", config=memory_config)
    assert again_result.messages[0]["content"][1]["type"] == "image_url"


def test_dedupe_images_function(memory_config):
    block = file_block(PHOTO, "anthropic")
    messages = [
        {"role": "user", "content": [block]},
        {"role": "user", "content": [block, {"type": "text", "text": "same?"}]},
    ]
    out, keys = dedupe_images(messages, make_ctx(config=memory_config))
    assert out[0]["content"][0] == block
    assert out[1]["content"][0]["type"] == "text" and len(keys) == 1
    assert json.loads(retrieve(keys[0], store=memory_config.ccr_store)) == block
    plain, no_keys = dedupe_images(messages)
    assert "identical to image #1" in plain[1]["content"][0]["text"] and no_keys == []


def test_langchain_v1_image_block(memory_config):
    raw = SCREENSHOT.read_bytes()
    block = {"type": "image", "base64": anthropic_block(raw)["source"]["data"], "mime_type": "image/png"}
    out = compress_image_block(block, model="claude-3-5-sonnet", ctx=make_ctx(config=memory_config))
    assert out is not None and set(out.block) == {"type", "base64", "mime_type"}
    assert out.tokens_after < out.tokens_before


def test_mixed_set_savings_and_quality(memory_config):
    store = MemoryCCRStore()
    config = memory_config.with_(ccr_store=store)
    before = after = 0
    for path in (SCREENSHOT, PHOTO, DIAGRAM, CAT):
        for model in ("gpt-4o", "claude-sonnet-4-5"):
            block = file_block(path)
            out = compress_image_block(block, model=model, ctx=make_ctx(config=config, model=model))
            tokens = estimate_block_tokens(block, model)
            before += tokens
            after += out.tokens_after if out is not None else tokens
            if out is not None and out.strategy != "passthrough":
                assert "SSIM" in out.summary
    assert 0.4 <= 1 - after / before <= 0.9


def test_anthropic_blocks_priced_for_openai_never_claim_low_detail(memory_config):
    # Anthropic blocks have no `detail` field, so the 85-token low level is not available.
    block = anthropic_block(SCREENSHOT.read_bytes())
    out = compress_image_block(block, model="gpt-4o", ctx=make_ctx(config=memory_config))
    assert out is not None and "detail" not in out.block
    assert out.tokens_after == estimate_block_tokens(out.block, "gpt-4o") > 85


def test_dedupe_without_ccr_keeps_the_first_copy_intact():
    config = HeadroomConfig(ccr_enabled=False)
    block = file_block(SCREENSHOT)
    messages = [{"role": "user", "content": [block]}, {"role": "user", "content": [file_block(SCREENSHOT)]}]
    result = compress(messages, "gpt-4o", config=config)
    assert result.messages[0]["content"][0] == block  # no lossy step without CCR
    reference = result.messages[1]["content"][0]
    assert reference["type"] == "text" and "retrieve" not in reference["text"]
    assert result.tokens_after < result.tokens_before


def test_choose_level_search_order():
    from headroom_core.images._compress import choose_level

    levels = ("keep", "fewer_tiles", "half", "low")
    tried: list[str] = []

    def passes_up_to(limit):
        def attempt(level):
            tried.append(level)
            return level if levels.index(level) <= levels.index(limit) else None

        return attempt

    assert choose_level(levels, "fewer_tiles", passes_up_to("half")) == "half"
    assert tried == ["fewer_tiles", "half", "low"]
    tried.clear()
    assert choose_level(levels, "keep", passes_up_to("half")) == "half"
    assert tried == ["keep", "fewer_tiles", "half", "low"]
    tried.clear()
    assert choose_level(levels, "keep", passes_up_to("half"), explore=False) == "keep"
    assert tried == ["keep"]
    tried.clear()
    assert choose_level(levels, "low", passes_up_to("fewer_tiles")) == "fewer_tiles"
    assert tried == ["low", "half", "fewer_tiles"]
    tried.clear()
    assert choose_level(levels, "half", passes_up_to("half")) == "half"
    assert tried == ["half", "low"]


def test_choose_level_tries_a_larger_level_after_a_failed_smaller_one():
    """OpenAI's low detail (85 tokens, up to 512 px) is larger than half of a 720-px image:
    it may pass where half failed, so a failed half does not end the search for it."""
    from headroom_core.images._compress import choose_level

    levels = ("keep", "fewer_tiles", "half", "low")
    sizes = {"keep": (720, 480), "fewer_tiles": (512, 341), "half": (360, 240), "low": (512, 341)}
    passing = {"keep", "fewer_tiles", "low"}
    tried: list[str] = []

    def attempt(level):
        tried.append(level)
        return level if level in passing else None

    assert choose_level(levels, "keep", attempt, size_of=sizes.__getitem__) == "low"
    assert tried == ["keep", "fewer_tiles", "half", "low"]
    # A stronger level smaller than the failed one is not tried.
    sizes["low"] = (300, 200)
    tried.clear()
    assert choose_level(levels, "keep", attempt, size_of=sizes.__getitem__) == "fewer_tiles"
    assert tried == ["keep", "fewer_tiles", "half"]
