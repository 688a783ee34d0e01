"""The OCR legibility bar (issue 19): tesseract word recall of what the provider sees.

Real images (tests/fixtures/, origins in CORPUS_README.md) and generated ones. These tests
need the tesseract binary (`.ci/run` installs Debian's tesseract-ocr before `make test`);
without it they are skipped locally and fail under CI.
"""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image, ImageDraw, ImageFont

from headroom_core import HeadroomConfig, MemoryCCRStore, retrieve
from headroom_core._config import ImageConfig
from headroom_core.images import _ocr, compress_image_block
from headroom_core.images._analysis import uniform_border
from headroom_core.images._codec import b64decode, locate
from headroom_core.images._compress import _normalise_mode, ocr_recall, ocr_reference, reference_view
from tests.support import make_ctx

from .conftest import FIXTURES, SCREENSHOT, anthropic_block, openai_block

if not _ocr.available():
    if os.environ.get("CI"):
        raise RuntimeError("tesseract is required under CI (.ci/run installs tesseract-ocr)")
    pytest.skip("tesseract is not installed (apt-get install tesseract-ocr)", allow_module_level=True)

IMAGES = FIXTURES / "images"
TERMINAL = IMAGES / "rustc_llvm_cov_show_terminal.png"
CHART = IMAGES / "cargo_build_unit_time_chart.png"
WEB = IMAGES / "rust_book_rustdoc_web_page.png"
DIAGRAM = IMAGES / "embedded_nrf52_memory_map.png"
BAR = ImageConfig().min_ocr_recall
MODELS = {"openai": "gpt-4o", "anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.0-flash"}


def _ocr_config(**kw) -> HeadroomConfig:
    return HeadroomConfig(ccr_store=MemoryCCRStore(), images=ImageConfig(ocr=True, **kw))


def _image(block: dict) -> Image.Image:
    image = Image.open(io.BytesIO(b64decode(locate(block).b64)))
    image.load()
    return image


def measured_recall(original: Image.Image, compressed: Image.Image, provider: str) -> tuple[float, int]:
    """Independent re-measurement: OCR of the provider's view of the original vs the output."""
    work = _normalise_mode(original)
    box = uniform_border(work)
    work = work.crop(box) if box is not None else work
    reference = reference_view(work, provider, None)
    words, scale = ocr_reference(reference)
    buf = io.BytesIO()
    compressed.save(buf, "PNG")
    return ocr_recall(reference, buf.getvalue(), words, scale), len(words.confident)


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def generated_terminal(size: int = 12) -> Image.Image:
    """A terminal screenshot in DejaVu Sans Mono (matplotlib's copy: same on every machine)."""
    import matplotlib

    font = ImageFont.truetype(f"{matplotlib.get_data_path()}/fonts/ttf/DejaVuSansMono.ttf", size)
    lines = (FIXTURES / "loghub_HDFS_2k.log").read_text().splitlines()[:24]
    image = Image.new("RGB", (900, 24 * int(size * 1.3) + 12), (12, 12, 12))
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((6, 6 + i * int(size * 1.3)), line[:100], fill=(204, 204, 204), font=font)
    return image


# --------------------------------------------------------------------------- the measure


def test_normalisation_and_recall_are_defined_on_words():
    assert _ocr.normalise_word("(Hello,") == "hello"
    assert _ocr.normalise_word("ab") is None and _ocr.normalise_word("---") is None
    ref = _ocr.OcrWords(("alpha", "beta", "beta", "gamma"), ())
    assert _ocr.word_recall(ref, _ocr.OcrWords((), ("beta", "alpha", "zeta"))) == 0.5
    assert _ocr.word_recall(_ocr.OcrWords((), ()), _ocr.OcrWords((), ())) == 1.0


def test_tesseract_reads_a_real_screenshot_and_not_a_photo():
    with Image.open(SCREENSHOT) as shot, Image.open(IMAGES / "chelsea.png") as cat:
        shot_words, _ = ocr_reference(reference_view(_normalise_mode(shot), "openai", None))
        cat_words, _ = ocr_reference(reference_view(_normalise_mode(cat), "openai", None))
    assert shot_words.text_bearing and len(shot_words.confident) >= 30
    assert not cat_words.text_bearing


def test_the_bar_catches_what_ssim_misses():
    """Issue 19's finding: halving a small-label chart keeps SSIM above 0.9 but loses words."""
    with Image.open(CHART) as chart:
        work = _normalise_mode(chart.copy())
    reference = reference_view(work, "openai", None)
    words, scale = ocr_reference(reference)
    half = work.resize((work.width // 2, work.height // 2), Image.Resampling.LANCZOS)
    recall = ocr_recall(reference, _png(half), words, scale)
    assert words.text_bearing and recall < 0.7


# --------------------------------------------------------------------------- compression holds the bar


@pytest.mark.parametrize(
    ("path", "provider"),
    [
        (TERMINAL, "openai"),
        (TERMINAL, "anthropic"),
        (CHART, "openai"),
        (CHART, "gemini"),
        (WEB, "anthropic"),
        (WEB, "gemini"),
        (DIAGRAM, "openai"),
        (DIAGRAM, "anthropic"),
    ],
    ids=lambda v: getattr(v, "stem", v),
)
def test_every_compressed_text_image_meets_the_ocr_bar(path, provider):
    model = MODELS[provider]
    raw = path.read_bytes()
    block = anthropic_block(raw) if provider == "anthropic" else openai_block(raw)
    config = _ocr_config()
    out = compress_image_block(
        block, model=model, ctx=make_ctx(query="Read the labels.", config=config, model=model)
    )
    if out is None:
        return  # nothing met both bars below the original: left alone, which is allowed
    assert out.strategy != "passthrough" and "OCR recall" in out.summary
    assert "low" not in out.strategy.split("+")
    with Image.open(path) as original:
        recall, words = measured_recall(original, _image(out.block), provider)
    assert words >= _ocr.MIN_TEXT_WORDS and recall >= BAR, out.summary
    assert retrieve(out.ccr_keys[0], store=config.ccr_store) is not None


def test_generated_small_font_terminal_meets_the_bar_and_is_deterministic():
    raw = _png(generated_terminal(11))
    config = _ocr_config()
    first = compress_image_block(openai_block(raw), model="gpt-4o", ctx=make_ctx(config=config))
    second = compress_image_block(openai_block(raw), model="gpt-4o", ctx=make_ctx(config=_ocr_config()))
    assert first is not None and second is not None
    assert (
        first.block == second.block
        and first.summary.split("; original")[0] == second.summary.split("; original")[0]
    )
    with Image.open(io.BytesIO(raw)) as original:
        recall, _ = measured_recall(original, _image(first.block), "openai")
    assert recall >= BAR


def test_without_tesseract_the_router_decides(monkeypatch):
    """OCR on in the config but the binary missing: no crash, the router's guess is the cap."""
    monkeypatch.setattr(_ocr, "_command", lambda: None)
    monkeypatch.setattr(_ocr, "available", lambda: False)
    out = compress_image_block(
        openai_block(CHART.read_bytes()),
        model="gpt-4o",
        ctx=make_ctx(query="Read it.", config=_ocr_config(), model="gpt-4o"),
    )
    assert out is None or ("OCR recall" not in out.summary and "low" not in out.strategy.split("+"))


def test_refinement_condenses_to_fewer_tiles_and_keeps_the_bar():
    """The nRF52 memory map (1351x768 as gpt-4o sees it, 3x2 tiles): every level below
    the seen size loses words, but condensing the width alone to 1024 px (2x2 tiles)
    keeps them; the refinement between levels finds it."""
    raw = DIAGRAM.read_bytes()
    config = _ocr_config()
    out = compress_image_block(
        openai_block(raw), model="gpt-4o", ctx=make_ctx(query="Read it.", config=config)
    )
    assert out is not None and "fit" in out.strategy.split("+"), out and out.summary
    assert out.tokens_after < 1105
    with Image.open(DIAGRAM) as original:
        recall, _ = measured_recall(original, _image(out.block), "openai")
    assert recall >= BAR
