"""Real images as content blocks, for the image tests."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SCREENSHOT = FIXTURES / "gnome_help_screenshot_shell-appts.png"
TEXT_PAGE = FIXTURES / "skimage_page_scanned_document.png"
PHOTO = FIXTURES / "skimage_hubble_deep_field.jpg"
DIAGRAM = FIXTURES / "pydocs_logging_flow_diagram.png"
CAT = FIXTURES / "images" / "chelsea.png"
ANIMATED_GIF = FIXTURES / "images" / "no_time_for_that_tiny.gif"


def media_type(path: Path) -> str:
    return {".png": "image/png", ".jpg": "image/jpeg", ".gif": "image/gif"}[path.suffix]


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def openai_block(raw: bytes, mime: str = "image/png", detail: str | None = None) -> dict:
    inner = {"url": f"data:{mime};base64,{b64(raw)}"}
    if detail is not None:
        inner["detail"] = detail
    return {"type": "image_url", "image_url": inner}


def anthropic_block(raw: bytes, mime: str = "image/png") -> dict:
    return {"type": "image", "source": {"type": "base64", "media_type": mime, "data": b64(raw)}}


def file_block(path: Path, shape: str = "openai") -> dict:
    raw = path.read_bytes()
    if shape == "openai":
        return openai_block(raw, media_type(path))
    return anthropic_block(raw, media_type(path))


@pytest.fixture
def memory_config():
    """A fresh in-memory CCR store, OCR off: these tests exercise the mechanics (router,
    levels, CCR, bad input) fast; test_ocr.py and test_query_aware.py set OCR themselves."""
    from headroom_core import HeadroomConfig, MemoryCCRStore
    from headroom_core._config import ImageConfig

    return HeadroomConfig(ccr_store=MemoryCCRStore(), images=ImageConfig(ocr=False))


@pytest.fixture
def image_ctx(memory_config):
    """A compression context like the one `compress()` gives its image slots."""
    from tests.support import make_ctx

    return make_ctx(config=memory_config)


@pytest.fixture(autouse=True)
def _fresh_decision_cache():
    """Each test starts without remembered image decisions (the cache is process-wide)."""
    from headroom_core.images._compress import DECISIONS

    DECISIONS.clear()
    yield
    DECISIONS.clear()
