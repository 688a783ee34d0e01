"""The shipped router and the training pipeline (on a tiny subset; the full run is `make train-router`)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from headroom_core._config import ImageConfig
from headroom_core.images._analysis import FEATURE_NAMES, detail_retention, features, ssim
from headroom_core.images._providers import LEVELS
from headroom_core.images._router import WEIGHTS_FILE, RouterModel, load_router

from .conftest import CAT, DIAGRAM, PHOTO, SCREENSHOT, TEXT_PAGE

ROOT = Path(__file__).resolve().parents[2]


def _load_script():
    spec = importlib.util.spec_from_file_location(
        "train_image_router", ROOT / "scripts" / "train_image_router.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_weights_load_and_predict_every_fixture():
    router = load_router()
    assert router is not None, f"{WEIGHTS_FILE} is missing: run `make train-router`"
    for path in (SCREENSHOT, PHOTO, DIAGRAM, TEXT_PAGE):
        with Image.open(path) as image:
            image.load()
            for provider in ("openai", "anthropic", "gemini"):
                assert router.predict(features(image, provider, 765)) in LEVELS


def test_shipped_weights_report_held_out_metrics():
    weights = json.loads((ROOT / "headroom_core" / "images" / WEIGHTS_FILE).read_text())
    assert weights["metrics"]["data"]["ocr_labels"] is True  # labelled with the OCR bar
    assert weights["quality_bar"]["min_ocr_recall"] == ImageConfig().min_ocr_recall
    held = weights["metrics"]["held_out"]
    assert held["samples"] > 50 and held["text_bearing_samples"] > 20
    assert held["text_detector_accuracy"] >= 0.7
    assert 0.2 <= held["token_savings_with_ocr"] <= 0.95
    # With OCR at run time every held-out text image meets the OCR bar by construction.
    # Without it the router's cap is a learned guess that holds the bar for only about
    # half of the unseen text images (docs/images.md): recorded, not hidden.
    assert 0.4 <= held["text_samples_meeting_ocr_bar_router_only"] < 1.0


def test_text_detector_tells_screenshots_from_photos():
    from headroom_core.images._compress import TEXT_PROBABILITY

    router = load_router()
    with Image.open(SCREENSHOT) as shot, Image.open(CAT) as photo:
        shot.load()
        photo.load()
        assert router.text_probability(features(shot, "openai", 765)) >= TEXT_PROBABILITY
        assert router.text_probability(features(photo, "openai", 255)) < TEXT_PROBABILITY


def test_router_rejects_mismatched_weights():
    weights = {
        "features": ["width"],
        "levels": list(LEVELS),
        "mean": [0],
        "scale": [1],
        "coef": [[0]] * 4,
        "intercept": [0] * 4,
    }
    with pytest.raises(ValueError):
        RouterModel(weights)


def test_ssim_and_detail_on_a_real_image():
    with Image.open(SCREENSHOT) as image:
        a = np.asarray(image.convert("L"), np.float64)
        small = image.convert("L").resize((image.width // 3, image.height // 3), Image.Resampling.BOX)
        b = np.asarray(small.resize(image.size, Image.Resampling.BICUBIC), np.float64)
    assert ssim(a, a) == pytest.approx(1.0)
    assert detail_retention(a, a) == pytest.approx(1.0)
    assert ssim(a, b) < 0.99
    assert detail_retention(a, b) < 0.8  # a third of the resolution loses the glyph strokes


def test_feature_vector_shape_is_stable():
    with Image.open(PHOTO) as image:
        image.load()
        x = features(image, "anthropic", 1163)
    assert x.shape == (len(FEATURE_NAMES),) and np.isfinite(x).all()
    assert x[FEATURE_NAMES.index("provider_anthropic")] == 1.0


def test_training_pipeline_on_a_tiny_subset_is_reproducible(tmp_path):
    script = _load_script()
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    script.main(["--quick", "--workers", "1", "--out", str(first)])
    script.main(["--quick", "--workers", "1", "--out", str(second)])
    assert first.read_bytes() == second.read_bytes()
    model = RouterModel(json.loads(first.read_text()))
    assert model.coef.shape == (len(LEVELS), len(FEATURE_NAMES))
