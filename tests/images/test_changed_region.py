"""Near-repeat screenshots (issue 19, agent loops): only the changed box is sent.

The same real screen (tests/fixtures/gnome_help_screenshot_shell-appts.png) with a
status line drawn in at each step. With `split_ok` the later frames become a note
naming the first frame plus a crop of the changed box; the original of every frame stays
retrievable, and a frame compresses the same way whatever follows it (prompt caching).
"""

from __future__ import annotations

import io

import orjson
from PIL import Image, ImageDraw

from headroom_core import HeadroomConfig, MemoryCCRStore, retrieve
from headroom_core._config import ImageConfig
from headroom_core.images import _region, compress_image_block
from headroom_core.images._codec import b64decode, locate
from tests.support import make_ctx

from .conftest import PHOTO, SCREENSHOT, anthropic_block, file_block, openai_block


def _frame(step: int, box: tuple[int, int, int, int] | None = None) -> bytes:
    with Image.open(SCREENSHOT) as image:
        frame = image.convert("RGB")
    if step:
        draw = ImageDraw.Draw(frame)
        draw.rectangle(box or (10, frame.height - 40, 420, frame.height - 10), fill=(250, 250, 250))
        draw.text((16, frame.height - 34), f"status: step {step} done", fill=(0, 0, 0))
    buf = io.BytesIO()
    frame.save(buf, "PNG")
    return buf.getvalue()


def _config() -> HeadroomConfig:
    return HeadroomConfig(ccr_store=MemoryCCRStore(), images=ImageConfig(ocr=False))


def _run(frames: list[bytes], model: str = "gpt-4o", split_ok: bool = True):
    config = _config()
    ctx = make_ctx(config=config)
    blocks = [openai_block(raw) for raw in frames]
    outs = [compress_image_block(b, model=model, ctx=ctx, split_ok=split_ok) for b in blocks]
    return config, blocks, outs


def test_a_near_repeat_becomes_a_note_and_the_changed_box():
    config, blocks, outs = _run([_frame(0), _frame(1), _frame(2)])
    for i in (1, 2):
        out = outs[i]
        assert out is not None and out.strategy == "changed_region"
        note, region = out.blocks
        assert note == out.block and note["type"] == "text"
        assert f"image #{i + 1}: the screen of image #1" in note["text"] and "retrieve" in note["text"]
        with Image.open(io.BytesIO(b64decode(locate(region).b64))) as crop:
            assert crop.width <= 430 and crop.height <= 50  # the status line, not the screen
        assert out.tokens_after < out.tokens_before
        # The original frame is retrievable exactly.
        assert orjson.loads(retrieve(out.ccr_keys[0], store=config.ccr_store)) == blocks[i]


def test_without_split_ok_every_image_stays_one_part():
    _, _, outs = _run([_frame(0), _frame(1)], split_ok=False)
    assert all(o is None or (o.strategy != "changed_region" and not o.blocks) for o in outs)


def test_a_frame_compresses_the_same_whatever_follows():
    _, _, short = _run([_frame(0), _frame(1)], model="claude-sonnet-4-5")
    _, _, long = _run([_frame(0), _frame(1), _frame(2), _frame(3)], model="claude-sonnet-4-5")
    assert short[1] is not None and long[1] is not None
    assert short[1].blocks == long[1].blocks and short[1].summary == long[1].summary


def test_a_large_change_or_another_image_is_compressed_on_its_own():
    big = (0, 0, 700, 500)  # most of the screen repainted
    _, _, outs = _run([_frame(0), _frame(1, big)])
    assert outs[1] is None or outs[1].strategy != "changed_region"
    config = _config()
    ctx = make_ctx(config=config)
    compress_image_block(openai_block(_frame(0)), model="gpt-4o", ctx=ctx, split_ok=True)
    other = compress_image_block(file_block(PHOTO), model="gpt-4o", ctx=ctx, split_ok=True)
    assert other is not None and other.strategy != "changed_region"


def test_the_same_pixels_in_new_bytes_become_a_note_alone():
    first = _frame(0)
    with Image.open(io.BytesIO(first)) as image:
        buf = io.BytesIO()
        image.save(buf, "PNG", compress_level=1)  # other bytes, same pixels
    _, _, outs = _run([first, buf.getvalue()])
    assert outs[1] is not None and outs[1].strategy == "changed_region"
    assert outs[1].blocks == (outs[1].block,) and "the same pixels as image #1" in outs[1].block["text"]


def test_changed_box_is_none_for_identical_images():
    with Image.open(SCREENSHOT) as image:
        assert _region.changed_box(image, image.copy()) is None


def test_without_ccr_no_frame_is_cut_to_its_changed_box():
    config = HeadroomConfig(ccr_enabled=False, images=ImageConfig(ocr=False))
    ctx = make_ctx(None, config=config)
    outs = [
        compress_image_block(openai_block(raw), model="gpt-4o", ctx=ctx, split_ok=True)
        for raw in (_frame(0), _frame(1))
    ]
    assert all(o is None or o.strategy != "changed_region" for o in outs)


# --------------------------------------------------------------------------- through compress()


def _loop(frames: list[bytes], anthropic_tool_results: bool = False) -> list[dict]:
    """An agent loop: each step a user message with a line of text and the screen, then
    the assistant's reply (or, in Anthropic shape, the screen inside a tool_result)."""
    messages: list[dict] = []
    for step, raw in enumerate(frames):
        if anthropic_tool_results:
            messages.append(
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": f"t{step}", "name": "screen", "input": {}}],
                }
            )
            messages.append(
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": f"t{step}",
                            "content": [{"type": "text", "text": f"step {step}"}, anthropic_block(raw)],
                        },
                        {"type": "text", "text": f"after step {step}"},
                    ],
                }
            )
        else:
            messages.append(
                {
                    "role": "user",
                    "content": [{"type": "text", "text": f"step {step}"}, openai_block(raw), "tail"],
                }
            )
            messages.append({"role": "assistant", "content": f"clicked (step {step})"})
    return messages


def test_compress_splices_the_note_and_the_changed_box_into_the_message():
    from headroom_core import compress

    frames = [_frame(0), _frame(1), _frame(2)]
    messages = _loop(frames)
    config = _config()
    result = compress(messages, "gpt-4o", config=config)
    first = result.messages[0]["content"]
    assert len(first) == 3 and first[1]["type"] == "image_url"  # a full screen stays one part
    for mi, step in ((2, 1), (4, 2)):
        parts = result.messages[mi]["content"]
        assert [p if isinstance(p, str) else p["type"] for p in parts] == [
            "text",
            "text",
            "image_url",
            "tail",
        ]
        assert parts[0]["text"] == f"step {step}"
        assert f"image #{step + 1}: the screen of image #1" in parts[1]["text"]
        with Image.open(io.BytesIO(b64decode(locate(parts[2]).b64))) as crop:
            assert crop.height <= 50
    # Every frame's original is retrievable exactly, and the caller's messages are untouched.
    changed = [t for t in result.transforms_applied if t.compressor == "changed_region"]
    assert len(changed) == 2
    for t in changed:
        original = orjson.loads(retrieve(t.ccr_keys[0], store=config.ccr_store))
        assert original == messages[t.message_index]["content"][1]
    assert messages == _loop(frames)
    assert result.tokens_after < result.tokens_before


def test_compress_output_of_a_frame_does_not_depend_on_later_frames():
    """Prompt caching: compressing the conversation up to a frame gives the same messages
    as compressing it with later frames appended."""
    from headroom_core import compress

    frames = [_frame(0), _frame(1), _frame(2), _frame(3)]
    full = compress(_loop(frames), "claude-sonnet-4-5", config=_config()).messages
    for n in (2, 3):
        prefix = compress(_loop(frames[:n]), "claude-sonnet-4-5", config=_config()).messages
        assert prefix == full[: len(prefix)]


def test_compress_splices_inside_an_anthropic_tool_result():
    from headroom_core import compress

    messages = _loop([_frame(0), _frame(1)], anthropic_tool_results=True)
    result = compress(messages, "claude-sonnet-4-5", config=_config())
    inner = result.messages[3]["content"][0]["content"]
    assert [p["type"] for p in inner] == ["text", "text", "image"]
    assert "the screen of image #1" in inner[1]["text"]
    assert result.messages[3]["content"][1] == {"type": "text", "text": "after step 1"}
