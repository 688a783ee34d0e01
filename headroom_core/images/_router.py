"""The shipped strategy router: multinomial logistic regression over cheap image features.

`router_weights.json` is written by `scripts/train_image_router.py` (see docs/images.md):
feature standardisation (mean, scale), one weight row and intercept per level, and a
second, binary model on the same standardised features: is the image text-bearing (does
OCR read at least a few words in it)? Inference is a dot product in numpy; ties resolve
to the milder level (argmax takes the first).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from headroom_core.images._analysis import FEATURE_NAMES
from headroom_core.images._providers import LEVELS

WEIGHTS_FILE = "router_weights.json"


class RouterModel:
    def __init__(self, weights: dict[str, Any]) -> None:
        if tuple(weights["features"]) != FEATURE_NAMES:
            raise ValueError("router weights were trained on different features; retrain the router")
        if tuple(weights["levels"]) != LEVELS:
            raise ValueError("router weights name different levels; retrain the router")
        self.mean = np.asarray(weights["mean"], dtype=np.float64)
        self.scale = np.asarray(weights["scale"], dtype=np.float64)
        self.coef = np.asarray(weights["coef"], dtype=np.float64)
        self.intercept = np.asarray(weights["intercept"], dtype=np.float64)
        self.levels: tuple[str, ...] = tuple(weights["levels"])
        text = weights.get("text_model") or {}
        self.text_coef = np.asarray(text.get("coef", np.zeros(len(self.mean))), dtype=np.float64)
        self.text_intercept = float(text.get("intercept", 0.0))

    def scores(self, x: np.ndarray) -> np.ndarray:
        z = (np.asarray(x, dtype=np.float64) - self.mean) / self.scale
        return self.coef @ z + self.intercept

    def predict(self, x: np.ndarray) -> str:
        return self.levels[int(np.argmax(self.scores(x)))]

    def text_probability(self, x: np.ndarray) -> float:
        """Probability that OCR would find text in the image (the learned text detector)."""
        z = (np.asarray(x, dtype=np.float64) - self.mean) / self.scale
        return float(1.0 / (1.0 + np.exp(-(self.text_coef @ z + self.text_intercept))))


@cache
def load_router() -> RouterModel | None:
    """The shipped model, or None if the weights file is missing (then a fixed default applies)."""
    try:
        text = resources.files("headroom_core.images").joinpath(WEIGHTS_FILE).read_text("utf-8")
    except (FileNotFoundError, OSError):
        return None
    return RouterModel(json.loads(text))
