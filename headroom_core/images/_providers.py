"""Provider image-token formulas (published accounting) and what each provider "sees".

OpenAI (gpt-4o / gpt-4.1 family, tiles): detail "low" costs 85. Otherwise the image is
fitted into 2048x2048, then scaled so its shortest side is at most 768; it costs 170 per
512-px tile covering it plus 85. "auto" is counted as "high" (the conservative reading).

Anthropic (Claude): tokens = ceil(width * height / 750), after the API's own downscale
to a long edge of at most 1568 px and at most ~1,600 tokens (1.2 megapixels).

Gemini: an image with both sides <= 384 px costs 258; a larger one is covered by
768x768 tiles of 258 tokens each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PROVIDERS = ("openai", "anthropic", "gemini")

OPENAI_LOW_TOKENS = 85
OPENAI_TILE_TOKENS = 170
OPENAI_BASE_TOKENS = 85
OPENAI_TILE = 512
ANTHROPIC_PIXELS_PER_TOKEN = 750
ANTHROPIC_MAX_EDGE = 1568
ANTHROPIC_MAX_TOKENS = 1600
GEMINI_TILE = 768
GEMINI_SMALL = 384
GEMINI_TILE_TOKENS = 258
ANTHROPIC_LOW_SCALE = 0.35
"""Anthropic has no low-detail mode; the 'low' level is 0.35 x the seen size (~12% of tokens)."""


def infer_provider(model: str, configured: str | None = None) -> str:
    """`configured` when set, else from the model name: claude -> anthropic, gemini -> gemini."""
    if configured:
        name = configured.lower()
        if name not in PROVIDERS:
            raise ValueError(f"ImageConfig.provider must be one of {PROVIDERS}, got {configured!r}")
        return name
    lowered = (model or "").lower()
    if "claude" in lowered or "anthropic" in lowered:
        return "anthropic"
    if "gemini" in lowered:
        return "gemini"
    return "openai"


def _scaled(width: int, height: int, factor: float) -> tuple[int, int]:
    return max(1, round(width * factor)), max(1, round(height * factor))


def seen_size(provider: str, width: int, height: int, detail: str | None = None) -> tuple[int, int]:
    """The size the provider resizes an image to before its model looks at it."""
    if width <= 0 or height <= 0:
        return 0, 0
    if provider == "openai":
        if detail == "low":
            factor = min(1.0, 512 / max(width, height))
            return _scaled(width, height, factor)
        factor = min(1.0, 2048 / max(width, height))
        w, h = _scaled(width, height, factor)
        if min(w, h) > 768:
            w, h = _scaled(w, h, 768 / min(w, h))
        return w, h
    if provider == "anthropic":
        factor = min(1.0, ANTHROPIC_MAX_EDGE / max(width, height))
        max_pixels = ANTHROPIC_MAX_TOKENS * ANTHROPIC_PIXELS_PER_TOKEN
        if width * height * factor * factor > max_pixels:
            factor = math.sqrt(max_pixels / (width * height))
        return _scaled(width, height, factor)
    # Gemini tiles the image at its own resolution; nothing is downscaled before tiling.
    return width, height


def image_tokens(provider: str, width: int, height: int, detail: str | None = None) -> int:
    """Tokens an image of `width` x `height` costs with `provider` (see the module docstring)."""
    if width <= 0 or height <= 0:
        return 0
    if provider == "openai":
        if detail == "low":
            return OPENAI_LOW_TOKENS
        w, h = seen_size(provider, width, height, detail)
        tiles = math.ceil(w / OPENAI_TILE) * math.ceil(h / OPENAI_TILE)
        return OPENAI_TILE_TOKENS * tiles + OPENAI_BASE_TOKENS
    if provider == "anthropic":
        w, h = seen_size(provider, width, height)
        return math.ceil(w * h / ANTHROPIC_PIXELS_PER_TOKEN)
    if width <= GEMINI_SMALL and height <= GEMINI_SMALL:
        return GEMINI_TILE_TOKENS
    return math.ceil(width / GEMINI_TILE) * math.ceil(height / GEMINI_TILE) * GEMINI_TILE_TOKENS


@dataclass(frozen=True)
class Plan:
    """A target for one image: output size and the OpenAI detail value to send."""

    level: str
    width: int
    height: int
    detail: str | None


def tile_snap(provider: str, width: int, height: int, max_shrink: float = 0.12) -> tuple[int, int]:
    """Shrink slightly (at most `max_shrink`) when that lets the image fit fewer tiles."""
    tile = {"openai": OPENAI_TILE, "gemini": GEMINI_TILE}.get(provider)
    if tile is None:
        return width, height
    best = (width, height)
    best_tokens = image_tokens(provider, width, height)
    for side in (width, height):
        n = math.ceil(side / tile)
        if n <= 1:
            continue
        factor = (n - 1) * tile / side
        if factor < 1 - max_shrink:
            continue
        w, h = (min(width, int(width * factor)), min(height, int(height * factor)))
        tokens = image_tokens(provider, max(1, w), max(1, h))
        if tokens < best_tokens:
            best, best_tokens = (max(1, w), max(1, h)), tokens
    return best


def fewer_tiles_size(provider: str, width: int, height: int, floor: float = 0.6) -> tuple[int, int]:
    """The largest size (same aspect) that costs fewer tokens by dropping one row or column
    of tiles; without tiles (Anthropic) a 0.75 linear scale. Never below `floor` x size."""
    tile = {"openai": OPENAI_TILE, "gemini": GEMINI_TILE}.get(provider)
    if tile is None:
        return _scaled(width, height, 0.75)
    factors = []
    for side in (width, height):
        n = math.ceil(side / tile)
        if n > 1:
            factors.append((n - 1) * tile / side)
    factors = [f for f in factors if f >= floor]
    if not factors:
        return _scaled(width, height, 0.75)
    factor = max(factors)
    return min(width, max(1, int(width * factor))), min(height, max(1, int(height * factor)))


LEVELS = ("keep", "fewer_tiles", "half", "low")
"""Router classes, mildest first: the provider-seen size; one tile row/column fewer (0.75
without tiles); half the seen size (tile-snapped); the low-detail size."""


def plan(provider: str, level: str, width: int, height: int, detail: str | None = None) -> Plan:
    """The output size and detail for `level`, for an image of `width` x `height`."""
    w, h = seen_size(provider, width, height, detail)
    if provider == "openai" and detail == "low":
        return Plan("keep" if level == "keep" else "low", w, h, "low")
    if level == "keep":
        return Plan(level, w, h, detail)
    if level == "fewer_tiles":
        fw, fh = fewer_tiles_size(provider, w, h)
        return Plan(level, fw, fh, detail)
    if level == "half":
        hw, hh = tile_snap(provider, *_scaled(w, h, 0.5))
        return Plan(level, hw, hh, detail)
    if level == "low":
        if provider == "openai":
            factor = min(1.0, 512 / max(w, h))
            lw, lh = _scaled(w, h, factor)
            return Plan(level, lw, lh, "low")
        if provider == "gemini":
            factor = min(1.0, GEMINI_SMALL / max(w, h))
        else:
            factor = min(1.0, 512 / max(w, h), ANTHROPIC_LOW_SCALE)
        lw, lh = _scaled(w, h, factor)
        return Plan(level, lw, lh, detail)
    raise ValueError(f"unknown level {level!r}")


MAX_SQUASH = 0.75
"""A refined size may scale one axis down to this share of the other axis's scale (at
most a 25% change of aspect): a tile boundary is often reached by condensing one axis
alone, which keeps more of the text than shrinking both (see `refine_sizes`)."""
MIN_AXIS_SCALE = 0.4
"""Refined sizes of text that must stay readable keep each axis at >= 0.4 x the seen
size: below that is the low level, which the question forbids for them."""
_ANTHROPIC_AREA_STEPS = (0.85, 0.72, 0.6, 0.5, 0.4, 0.3, 0.2, 0.15)


def _axis_scales(a: float, b: float) -> tuple[float, float]:
    """The largest (sx, sy) with sx <= a, sy <= b and neither below MAX_SQUASH x the other."""
    return min(a, b / MAX_SQUASH), min(b, a / MAX_SQUASH)


def refine_sizes(
    provider: str,
    width: int,
    height: int,
    upper_tokens: int,
    lower_tokens: int = 0,
    min_axis_scale: float = MIN_AXIS_SCALE,
) -> list[tuple[int, int]]:
    """Sizes between two levels, for a seen size of `width` x `height`: each costs fewer
    tokens than `upper_tokens` and at least `lower_tokens`, one size per token cost (the
    largest area that lands just under that billing boundary), most expensive first.

    OpenAI and Gemini: the largest size fitting each smaller grid of tiles, reached by
    condensing one axis (down to MAX_SQUASH of the other) before shrinking both.
    Anthropic (priced by area): fixed area steps, the horizontal axis condensed first
    (narrower glyphs keep their height, which is what legibility needs most).
    """
    if width <= 0 or height <= 0:
        return []
    raw: list[tuple[float, float]] = []
    tile = {"openai": OPENAI_TILE, "gemini": GEMINI_TILE}.get(provider)
    if tile is not None:
        cols, rows = math.ceil(width / tile), math.ceil(height / tile)
        for c in range(1, cols + 1):
            for r in range(1, rows + 1):
                raw.append(_axis_scales(min(1.0, c * tile / width), min(1.0, r * tile / height)))
        if provider == "gemini":
            raw.append(_axis_scales(min(1.0, GEMINI_SMALL / width), min(1.0, GEMINI_SMALL / height)))
    else:
        for f in _ANTHROPIC_AREA_STEPS:
            if f >= MAX_SQUASH:
                raw.append((f, 1.0))
            else:
                u = math.sqrt(f / MAX_SQUASH)
                raw.append((MAX_SQUASH * u, u))
    best: dict[int, tuple[int, int]] = {}
    for sx, sy in raw:
        if sx < min_axis_scale or sy < min_axis_scale:
            continue
        w, h = max(1, math.floor(width * sx)), max(1, math.floor(height * sy))
        tokens = image_tokens(provider, w, h)
        if not lower_tokens <= tokens < upper_tokens:
            continue
        known = best.get(tokens)
        if known is None or (w * h, w) > (known[0] * known[1], known[0]):
            best[tokens] = (w, h)
    return [best[t] for t in sorted(best, reverse=True)]
