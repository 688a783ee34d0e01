"""Numpy image measures: SSIM, detail retention, uniform-border detection, router features.

All measures work on 8-bit greyscale arrays (float64 for the sums, so large images do
not lose precision) and are deterministic.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

SSIM_WINDOW = 7
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2
EDGE_THRESHOLD = 24.0
FEATURE_THUMB = 512
FEATURE_NAMES = (
    "log2_width",
    "log2_height",
    "log_aspect",
    "log2_seen_tokens",
    "edge_density",
    "sharp_edge_share",
    "transition_rate",
    "log2_colours",
    "entropy",
    "background_share",
    "half_scale_retention",
    "provider_openai",
    "provider_anthropic",
    "provider_gemini",
)


def grey(image: Image.Image) -> np.ndarray:
    """An 8-bit luminance array (alpha composited on white first, as viewers show it)."""
    return np.asarray(flatten_alpha(image).convert("L"), dtype=np.float64)


def flatten_alpha(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        canvas.alpha_composite(rgba)
        return canvas.convert("RGB")
    if image.mode not in ("RGB", "L"):
        return image.convert("RGB")
    return image


def _box_mean(a: np.ndarray, k: int) -> np.ndarray:
    """Mean over every k x k window ('valid' positions): running sums along each axis."""
    c = np.cumsum(a, axis=0)
    c = np.concatenate([c[k - 1 : k], c[k:] - c[:-k]], axis=0)
    c = np.cumsum(c, axis=1)
    c = np.concatenate([c[:, k - 1 : k], c[:, k:] - c[:, :-k]], axis=1)
    return c / (k * k)


SSIM_MAX_PIXELS = 500_000
"""SSIM is computed after integer box-pooling to at most about this many pixels (the
classic reference implementation also downsamples); fine detail is what
`detail_retention` measures, at full resolution."""


def ssim_pooling(size: tuple[int, int]) -> int:
    return max(1, math.ceil(math.sqrt(size[0] * size[1] / SSIM_MAX_PIXELS)))


def ssim(reference: np.ndarray, candidate: np.ndarray, window: int = SSIM_WINDOW) -> float:
    """Mean structural similarity of two same-sized greyscale arrays (uniform window)."""
    if reference.shape != candidate.shape:
        raise ValueError("ssim() needs arrays of the same shape")
    if min(reference.shape) < window:
        return 1.0 if np.array_equal(reference, candidate) else 0.0
    x, y = reference, candidate
    mx, my = _box_mean(x, window), _box_mean(y, window)
    vx = _box_mean(x * x, window) - mx * mx
    vy = _box_mean(y * y, window) - my * my
    cov = _box_mean(x * y, window) - mx * my
    num = (2 * mx * my + _C1) * (2 * cov + _C2)
    den = (mx * mx + my * my + _C1) * (vx + vy + _C2)
    return float(np.mean(num / den))


def gradient(a: np.ndarray) -> np.ndarray:
    g = np.zeros_like(a)
    g[:, :-1] += np.abs(np.diff(a, axis=1))
    g[:-1, :] += np.abs(np.diff(a, axis=0))
    return g


def _pool2(a: np.ndarray) -> np.ndarray:
    h, w = a.shape[0] - a.shape[0] % 2, a.shape[1] - a.shape[1] % 2
    if h < 2 or w < 2:
        return a
    return a[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))


def detail_retention(reference: np.ndarray, candidate: np.ndarray, pooled: bool = True) -> float:
    """Share of the reference's edge strength still present at the same pixels (0..1).

    The text-legibility proxy: glyph strokes lose their gradient first when an image is
    shrunk and blown back up; noise the candidate adds (JPEG ringing) earns nothing.
    Measured after 2x2 pooling of both (`pooled`), i.e. on strokes of two pixels or
    more: the softening every resize causes to single-pixel edges is not counted, the
    loss of whole strokes (illegible text) is.
    """
    if pooled:
        reference, candidate = _pool2(reference), _pool2(candidate)
    gr, gc = gradient(reference), gradient(candidate)
    total = float(gr.sum())
    if total <= 0:
        return 1.0
    return float(np.minimum(gr, gc).sum()) / total


def uniform_border(image: Image.Image, tolerance: int = 6) -> tuple[int, int, int, int] | None:
    """The box inside a uniform-colour border (the colour of the top-left pixel, within
    `tolerance` per channel), or None when there is no border worth cropping (< 4% of the
    area). Pillow operations only: cheap on large images."""
    from PIL import ImageChops

    rgb = flatten_alpha(image).convert("RGB")
    w, h = rgb.size
    if h < 16 or w < 16:
        return None
    corner = rgb.getpixel((0, 0))
    diff = ImageChops.difference(rgb, Image.new("RGB", rgb.size, corner))
    r, g, b = (band.point(lambda v: 255 if v > tolerance else 0) for band in diff.split())
    bbox = ImageChops.lighter(ImageChops.lighter(r, g), b).getbbox()
    if bbox is None:
        return None
    pad = 2  # keep a hair of background so edges at the border stay edges
    box = (max(0, bbox[0] - pad), max(0, bbox[1] - pad), min(w, bbox[2] + pad), min(h, bbox[3] + pad))
    kept = (box[2] - box[0]) * (box[3] - box[1])
    if kept > 0.96 * w * h or box[2] - box[0] < 8 or box[3] - box[1] < 8:
        return None
    return box


def colour_stats(image: Image.Image) -> tuple[int, float]:
    """(distinct colours at 5 bits per channel, share of the most common one) on a thumbnail."""
    thumb = flatten_alpha(image).convert("RGB")
    thumb = thumb.resize(_fit(thumb.size, 128), Image.Resampling.NEAREST)
    q = np.asarray(thumb, dtype=np.uint32) >> 3
    codes = (q[..., 0] << 10) | (q[..., 1] << 5) | q[..., 2]
    _, counts = np.unique(codes, return_counts=True)
    return int(counts.size), float(counts.max() / codes.size)


def _fit(size: tuple[int, int], limit: int) -> tuple[int, int]:
    w, h = size
    factor = min(1.0, limit / max(w, h))
    return max(1, round(w * factor)), max(1, round(h * factor))


def features(image: Image.Image, provider: str, seen_tokens: int) -> np.ndarray:
    """The router's inputs (see FEATURE_NAMES): cheap, on a 512-px greyscale thumbnail."""
    w, h = image.size
    small = flatten_alpha(image).convert("L")
    small = small.resize(_fit(small.size, FEATURE_THUMB), Image.Resampling.BOX)
    a = np.asarray(small, dtype=np.float64)
    g = gradient(a)
    edges = g > EDGE_THRESHOLD
    edge_density = float(edges.mean())
    sharp_share = float((g > 4 * EDGE_THRESHOLD).sum() / max(1, edges.sum()))
    # Text rows alternate ink and paper many times; count strong horizontal transitions.
    dx = np.diff(a, axis=1)
    transitions = float((np.abs(dx) > 2 * EDGE_THRESHOLD).sum()) / max(1, a.size) * 100
    colours, background = colour_stats(image)
    hist = np.bincount(a.astype(np.uint8).ravel(), minlength=256).astype(np.float64)
    p = hist[hist > 0] / a.size
    entropy = float(-(p * np.log2(p)).sum())
    # How much edge strength survives halving the thumbnail: a cheap preview of the labels.
    if min(small.size) >= 16:
        half = small.resize((max(1, small.width // 2), max(1, small.height // 2)), Image.Resampling.BOX)
        back = np.asarray(half.resize(small.size, Image.Resampling.BICUBIC), dtype=np.float64)
        half_retention = detail_retention(a, back, pooled=False)
    else:
        half_retention = 1.0
    return np.array(
        [
            math.log2(w),
            math.log2(h),
            math.log(w / h),
            math.log2(max(1, seen_tokens)),
            edge_density,
            sharp_share,
            transitions,
            math.log2(colours),
            entropy,
            background,
            half_retention,
            float(provider == "openai"),
            float(provider == "anthropic"),
            float(provider == "gemini"),
        ],
        dtype=np.float64,
    )
