"""Bad input never raises out of compress(): it passes through untouched, with a note."""

from __future__ import annotations

import struct
import zlib

import pytest

from headroom_core import compress
from headroom_core.images import compress_image_block, estimate_block_tokens
from tests.support import make_ctx

from .conftest import ANIMATED_GIF, SCREENSHOT, anthropic_block, b64, openai_block


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` x `height` (a decompression bomb's calling card)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
        + struct.pack(">I", 0)
        + b"IEND"
        + struct.pack(">I", zlib.crc32(b"IEND"))
    )


def _outcome(block, config, model="gpt-4o"):
    return compress_image_block(block, model=model, ctx=make_ctx(config=config, model=model))


def test_truncated_png_passes_through(memory_config):
    block = openai_block(SCREENSHOT.read_bytes()[:20_000])
    out = _outcome(block, memory_config)
    assert out is not None and out.strategy == "passthrough" and out.block == block
    assert "truncated" in out.summary or "unreadable" in out.summary
    assert out.tokens_before == out.tokens_after == 765  # still sized from the header


def test_corrupt_base64_passes_through(memory_config):
    block = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "%%%not base64%%%"},
    }
    out = _outcome(block, memory_config, "claude-3-opus")
    assert out is not None and out.strategy == "passthrough" and out.block == block


def test_decompression_bomb_is_not_decoded(memory_config):
    block = openai_block(_png_header_only(100_000, 100_000))
    out = _outcome(block, memory_config)
    assert out is not None and out.strategy == "passthrough"
    assert "pixel limit" in out.summary
    # Counting still works from the header (capped by the provider's own downscale).
    assert estimate_block_tokens(block, "gpt-4o") == 765


def test_animated_gif_passes_through(memory_config):
    raw = ANIMATED_GIF.read_bytes()
    block = openai_block(raw, "image/gif")
    # 14x25 is tiny, so lower the floor to reach the decoder.
    from dataclasses import replace

    config = memory_config.with_(images=replace(memory_config.images, min_tokens=0))
    out = _outcome(block, config)
    assert out is not None and out.strategy == "passthrough" and "animated" in out.summary
    assert out.block == block


def test_unsupported_format_passes_through(memory_config, tmp_path):
    from PIL import Image

    with Image.open(SCREENSHOT) as image:
        image.save(tmp_path / "shot.bmp", "BMP")
    block = anthropic_block((tmp_path / "shot.bmp").read_bytes(), "image/bmp")
    out = _outcome(block, memory_config, "claude-3-opus")
    assert out is not None and out.strategy == "passthrough" and out.block == block


def test_svg_data_url_passes_through(memory_config):
    block = {"type": "image_url", "image_url": {"url": "data:image/svg+xml;utf8,<svg></svg>"}}
    out = _outcome(block, memory_config)
    assert out is not None and out.strategy == "passthrough" and out.block == block


def test_remote_url_is_never_fetched_by_default(memory_config):
    # pytest-socket blocks the network: an attempted fetch would fail this test loudly.
    block = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    out = _outcome(block, memory_config)
    assert out is not None and out.strategy == "passthrough" and "not fetched" in out.summary


@pytest.mark.filterwarnings("ignore:A test tried to use socket")
def test_remote_fetch_failure_is_a_note(memory_config):
    from dataclasses import replace

    config = memory_config.with_(images=replace(memory_config.images, allow_remote_fetch=True))
    block = {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}
    out = _outcome(block, config, "claude-3-opus")  # sockets are disabled in tests: the fetch fails
    assert out is not None and out.strategy == "passthrough" and out.block == block


@pytest.mark.parametrize(
    "block",
    [
        {"type": "image_url", "image_url": None},
        {"type": "image_url", "image_url": {"url": 42}},
        {"type": "image", "source": {"type": "base64", "data": None}},
        {"type": "image", "source": "nonsense"},
        {"type": "input_image"},
    ],
)
def test_malformed_blocks_never_raise(memory_config, block):
    messages = [{"role": "user", "content": [{"type": "text", "text": "hi"}, block]}]
    result = compress(messages, "gpt-4o", config=memory_config)
    assert result.messages[0]["content"][1] == block


def test_bad_images_inside_compress(memory_config):
    blocks = [
        openai_block(SCREENSHOT.read_bytes()[:5000]),
        openai_block(_png_header_only(50_000, 50_000)),
        openai_block(b"GIF89a" + b"\x00" * 40, "image/gif"),
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + b64(b"\x89PNG\r\n")}},
    ]
    messages = [{"role": "user", "content": blocks}]
    result = compress(messages, "gpt-4o", config=memory_config)
    assert result.messages[0]["content"] == blocks
    assert result.tokens_before == result.tokens_after


@pytest.mark.parametrize("mode", ["I;16", "CMYK", "LA", "P", "1"])
def test_unusual_pixel_modes_compress_or_pass_through(memory_config, tmp_path, mode):
    from PIL import Image

    with Image.open(SCREENSHOT) as image:
        converted = image.convert("L").convert(mode) if mode != "CMYK" else image.convert("CMYK")
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    path = tmp_path / f"shot.{fmt.lower()}"
    converted.save(path, fmt)
    mime = "image/jpeg" if fmt == "JPEG" else "image/png"
    block = openai_block(path.read_bytes(), mime)
    out = _outcome(block, memory_config)
    assert out is None or out.strategy == "passthrough" or out.tokens_after < out.tokens_before
