"""Provider token formulas against the providers' published examples; header-only sizing."""

from __future__ import annotations

import pytest

from headroom_core import count_tokens
from headroom_core.images import estimate_block_tokens, image_tokens, infer_provider, seen_size

from .conftest import PHOTO, SCREENSHOT, TEXT_PAGE, anthropic_block, file_block, openai_block


@pytest.mark.parametrize(
    ("width", "height", "detail", "expected"),
    [
        (1024, 1024, "high", 765),  # OpenAI: 768x768 -> 4 tiles
        (2048, 4096, "high", 1105),  # OpenAI: 1024x2048 -> 768x1536 -> 6 tiles
        (4096, 8192, "low", 85),  # OpenAI: low detail is flat
        (512, 512, None, 255),  # one tile; "auto" counted as high
    ],
)
def test_openai_published_examples(width, height, detail, expected):
    assert image_tokens("openai", width, height, detail) == expected


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [(200, 200, 54), (1000, 1000, 1334), (1092, 1092, 1590)],  # Anthropic's published table
)
def test_anthropic_published_examples(width, height, expected):
    assert image_tokens("anthropic", width, height) == expected


def test_anthropic_long_edge_is_capped_at_1568():
    assert seen_size("anthropic", 3000, 1000) == (1568, 523)
    assert image_tokens("anthropic", 3000, 1000) == 1094  # ceil(1568 * 523 / 750)
    # Huge squares are also held to ~1,600 tokens.
    assert 1590 <= image_tokens("anthropic", 8000, 8000) <= 1600


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [(384, 384, 258), (300, 100, 258), (768, 768, 258), (1536, 768, 516), (1024, 1024, 1032)],
)
def test_gemini_tiles(width, height, expected):
    assert image_tokens("gemini", width, height) == expected


def test_provider_inference_and_override():
    assert infer_provider("claude-sonnet-4-5") == "anthropic"
    assert infer_provider("gemini-2.0-flash") == "gemini"
    assert infer_provider("gpt-4o") == "openai"
    assert infer_provider("gpt-4o", "anthropic") == "anthropic"
    with pytest.raises(ValueError):
        infer_provider("gpt-4o", "bogus")


def test_block_estimates_from_real_headers():
    # gnome screenshot is 764x863: openai 2x2 tiles, anthropic ceil(764*863/750).
    assert estimate_block_tokens(file_block(SCREENSHOT), "gpt-4o") == 765
    assert estimate_block_tokens(file_block(SCREENSHOT, "anthropic"), "claude-3-5-sonnet") == 880
    # JPEG (size marker after the APP segments), 1000x872.
    assert estimate_block_tokens(file_block(PHOTO), "gpt-4o") == 765
    assert estimate_block_tokens(file_block(PHOTO), "claude-opus-4") == 1163
    low = openai_block(TEXT_PAGE.read_bytes(), detail="low")
    assert estimate_block_tokens(low, "gpt-4o") == 85


def test_header_sizing_reads_only_a_prefix():
    # A payload whose tail is garbage still sizes from its header: no full decode happens.
    raw = SCREENSHOT.read_bytes()
    damaged = raw[:4096] + b"\x00" * 200_000
    assert estimate_block_tokens(openai_block(damaged), "gpt-4o") == 765


def test_unsizable_images_fall_back_to_85():
    remote = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    assert estimate_block_tokens(remote, "gpt-4o") == 85
    assert estimate_block_tokens(openai_block(b"not an image"), "claude-3-opus") == 85


def test_conversation_counts_include_images():
    text_only = [{"role": "user", "content": [{"type": "text", "text": "what is this?"}]}]
    with_image = [
        {"role": "user", "content": [{"type": "text", "text": "what is this?"}, file_block(SCREENSHOT)]}
    ]
    assert count_tokens(with_image, "gpt-4o") - count_tokens(text_only, "gpt-4o") == 765
    anthropic = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "what is this?"}, anthropic_block(SCREENSHOT.read_bytes())],
        }
    ]
    assert count_tokens(anthropic, "claude-3-5-sonnet") - count_tokens(text_only, "claude-3-5-sonnet") == 880
