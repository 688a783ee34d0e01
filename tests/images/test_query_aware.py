"""Query-aware image compression (issue 19): a question that asks to read keeps text
legible; one about layout, colour or objects lets a text-bearing image go to low detail."""

from __future__ import annotations

import pytest

from headroom_core import HeadroomConfig, MemoryCCRStore, compress
from headroom_core._config import ImageConfig
from headroom_core.images import _ocr, compress_image_block
from headroom_core.images._intent import question_intent
from tests.support import make_ctx

from .conftest import CAT, FIXTURES, file_block, openai_block

BOX_PLOT = FIXTURES / "images" / "nodejs_compare_boxplot.png"
"""A real box plot whose x labels are rotated: tesseract reads only a few words in it (too
few to call it text-bearing), the router's text detector calls it text."""
CHART = FIXTURES / "images" / "cargo_build_unit_time_chart.png"
"""A real chart with small labels whose low-detail version passes SSIM and detail (0.96 /
0.87) while OCR reads only about a third of its words: only the question can tell."""


@pytest.mark.parametrize(
    ("question", "intent"),
    [
        ("What do these show? Read any visible text and numbers.", "read"),
        ("What is the exact error message in the terminal?", "read"),
        ("Which value does the y axis label show?", "read"),
        ("What colour is the background, and how is the page laid out?", "visual"),
        ("Is there a person or an animal in this photo?", "visual"),
        ("What colour is the label on the third bar?", "read"),  # mixed: reading wins
        ("Describe these.", None),
        ("", None),
        (None, None),
    ],
)
def test_question_intent(question, intent):
    assert question_intent(question) == intent


def test_intent_is_linear_on_hostile_text():
    assert question_intent("a" * 5_000_000) is None


def _config(**kw) -> HeadroomConfig:
    # use_router off: start from the strongest level, so only the rule decides the level.
    return HeadroomConfig(ccr_store=MemoryCCRStore(), images=ImageConfig(use_router=False, **kw))


def _level(out) -> str:
    if out is None:
        return "unchanged"  # no cheaper level met the bar (OCR on: only the original keeps every word)
    return "low" if out.block["image_url"].get("detail") == "low" else out.strategy


def test_read_question_never_takes_a_text_image_to_low_detail():
    block = openai_block(CHART.read_bytes())
    for question in ("Read the numbers on the bars.", "What does the code say?", "List the labels."):
        out = compress_image_block(
            block, model="gpt-4o", ctx=make_ctx(query=question, config=_config(), model="gpt-4o")
        )
        assert _level(out) != "low", question


@pytest.mark.skipif(not _ocr.available(), reason="tesseract is not installed")
def test_rotated_labels_tesseract_barely_reads_still_keep_a_read_question_off_low_detail():
    block = openai_block(BOX_PLOT.read_bytes())
    read = "What do these show? Read any visible text and numbers."
    out = compress_image_block(
        block, model="gpt-4o", ctx=make_ctx(query=read, config=_config(), model="gpt-4o")
    )
    assert out is not None and _level(out) != "low"
    visual = "What colours are used, and how is the chart laid out?"
    out = compress_image_block(
        block, model="gpt-4o", ctx=make_ctx(query=visual, config=_config(), model="gpt-4o")
    )
    assert _level(out) == "low"


def test_no_question_keeps_text_legible_too():
    out = compress_image_block(
        openai_block(CHART.read_bytes()), model="gpt-4o", ctx=make_ctx(config=_config())
    )
    assert _level(out) != "low"


def test_layout_or_colour_question_may_take_it_to_low_detail():
    question = "What colours are used, and how is the chart laid out?"
    out = compress_image_block(
        openai_block(CHART.read_bytes()),
        model="gpt-4o",
        ctx=make_ctx(query=question, config=_config(), model="gpt-4o"),
    )
    assert _level(out) == "low" and "question is visual" in out.summary


def test_query_aware_off_ignores_the_question():
    config = _config(query_aware=False)
    question = "What colours are used?"
    out = compress_image_block(
        openai_block(CHART.read_bytes()),
        model="gpt-4o",
        ctx=make_ctx(query=question, config=config, model="gpt-4o"),
    )
    assert _level(out) != "low"


def test_photos_go_low_whatever_the_question():
    block = file_block(CAT)
    out = compress_image_block(
        block, model="gpt-4o", ctx=make_ctx(query="Read all text.", config=_config(), model="gpt-4o")
    )
    assert _level(out) == "low"


def test_compress_reads_the_question_sent_with_the_image():
    chart = openai_block(CHART.read_bytes())
    read = [{"role": "user", "content": [{"type": "text", "text": "Read the axis labels."}, chart]}]
    look = [{"role": "user", "content": [{"type": "text", "text": "Which colours are used?"}, chart]}]
    config = _config()
    read_out = compress(read, "gpt-4o", config=config).messages[0]["content"][1]
    look_out = compress(look, "gpt-4o", config=config).messages[0]["content"][1]
    assert read_out["image_url"].get("detail") != "low"
    assert look_out["image_url"].get("detail") == "low"
    router_only = _config(ocr=False)
    read_out = compress(read, "gpt-4o", config=router_only).messages[0]["content"][1]
    assert read_out["image_url"].get("detail") != "low"


def test_a_later_question_does_not_change_an_earlier_image():
    """Prompt cache: the image compresses the same way on every later turn."""
    chart = openai_block(CHART.read_bytes())
    turn1 = [{"role": "user", "content": [{"type": "text", "text": "Read the axis labels."}, chart]}]
    turn2 = [
        *turn1,
        {"role": "assistant", "content": "The labels are ..."},
        {"role": "user", "content": "Now, what colours does it use?"},
    ]
    first = compress(turn1, "gpt-4o", config=_config()).messages[0]
    second = compress(turn2, "gpt-4o", config=_config()).messages[0]
    assert first == second
