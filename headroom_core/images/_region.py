"""Changed regions: a screenshot that differs from an earlier one in a small area.

An agent loop sends the same screen again and again with a small change (a status line,
a clock, one field). Exact repeats are deduplicated; a near repeat is found here: the
pixels of the new image are compared with the latest earlier image of the same size
sent in full in the same conversation, and when everything outside one box is the same
(within `TOLERANCE` per channel), the image can be replaced by a text note naming the
earlier image and the box, followed by a crop of that box at the size the provider would
have seen it. The original goes to CCR.

Prompt caching: the result depends only on the image and the images before it in the
same conversation (the earlier screen is in the prefix), so a message compresses the
same way on every turn, like dedupe. It replaces one content part by two, so it runs
only when the caller can splice parts (`compress_image_block(..., split_ok=True)`).
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageChops

from headroom_core.images import _codec
from headroom_core.images._analysis import flatten_alpha
from headroom_core.images._providers import image_tokens, seen_size

TOLERANCE = 8
"""Per-channel difference (0-255) below which a pixel counts as unchanged: encoder noise
in a re-captured screen, invisible to a reader."""
MAX_SHARE = 0.25
"""The changed box may cover at most this share of the image; a bigger change is a new screen."""
PAD = 4
"""Pixels of unchanged context kept around the changed box."""
MAX_BASES = 4
"""Earlier full screens remembered per conversation (the latest of each size wins)."""


@dataclass(frozen=True)
class Base:
    """An earlier image sent in full: its number, payload and what it cost once compressed."""

    number: int
    b64: str
    size: tuple[int, int]
    tokens_after: int


@dataclass(frozen=True)
class Region:
    """The changed box of a near repeat, cropped and sized as the provider would see it."""

    base: Base
    box: tuple[int, int, int, int]
    """(left, top, right, bottom) in the new image's pixels; empty when no pixel changed."""
    raw: bytes
    fmt: str
    size: tuple[int, int]
    tokens: int


_BASES: dict[int, list[Base]] = {}
_LOCK = threading.Lock()


def bases_for(ctx: Any) -> list[Base]:
    """Per-context list of earlier full screens (freed with the context)."""
    key = id(ctx)
    with _LOCK:
        found = _BASES.get(key)
        if found is None:
            found = _BASES[key] = []
            weakref.finalize(ctx, _BASES.pop, key, None)
    return found


def remember(ctx: Any, base: Base) -> None:
    bases = bases_for(ctx)
    with _LOCK:
        kept = [b for b in bases if b.size != base.size][-(MAX_BASES - 1) :]
        bases[:] = [*kept, base]


def changed_box(before: Image.Image, after: Image.Image) -> tuple[int, int, int, int] | None:
    """The bounding box of pixels that differ by more than TOLERANCE, or None if none do.
    Pillow operations over both images once: linear time."""
    diff = ImageChops.difference(flatten_alpha(before).convert("RGB"), flatten_alpha(after).convert("RGB"))
    bands = [band.point(lambda v: 255 if v > TOLERANCE else 0) for band in diff.split()]
    mask = ImageChops.lighter(ImageChops.lighter(bands[0], bands[1]), bands[2])
    return mask.getbbox()


def find_region(
    b64: str, provider: str, detail: str | None, bases: list[Base], max_pixels: int
) -> Region | None:
    """The changed region of the image in `b64` against the latest earlier screen of the
    same size, or None (no such screen, unreadable data, or too large a change)."""
    info = _codec.header_info(b64)
    if info is None or info[0] * info[1] > max_pixels:
        return None
    size = (info[0], info[1])
    base = next((b for b in reversed(bases) if b.size == size), None)
    if base is None:
        return None
    try:
        new, fmt = _codec.decode(_codec.b64decode(b64), max_pixels)
        old, _ = _codec.decode(_codec.b64decode(base.b64), max_pixels)
    except (_codec.BadImage, ValueError):
        return None
    with new, old:
        if new.size != old.size:
            return None
        box = changed_box(old, new)
        w, h = new.size
        if box is None:
            return Region(base, (0, 0, 0, 0), b"", fmt, (0, 0), 0)
        box = (max(0, box[0] - PAD), max(0, box[1] - PAD), min(w, box[2] + PAD), min(h, box[3] + PAD))
        if (box[2] - box[0]) * (box[3] - box[1]) > MAX_SHARE * w * h:
            return None
        # The crop at the scale the provider applies to the whole screen: what it would
        # have seen of those pixels, so no quality bar is needed.
        sw, sh = seen_size(provider, w, h, detail)
        crop = new.crop(box)
        if crop.mode not in ("RGB", "RGBA", "L"):
            crop = crop.convert("RGBA" if "A" in crop.getbands() else "RGB")
        rw = max(1, round(crop.width * sw / w))
        rh = max(1, round(crop.height * sh / h))
        if (rw, rh) != crop.size:
            crop = crop.resize((rw, rh), Image.Resampling.LANCZOS, reducing_gap=3.0)
        out_fmt = "JPEG" if fmt == "JPEG" and "A" not in crop.getbands() else "PNG"
        raw = _codec.encode(crop, out_fmt, 85)
        return Region(base, box, raw, out_fmt, (rw, rh), image_tokens(provider, rw, rh, detail))


def note_text(number: int, region: Region, size: tuple[int, int]) -> str:
    """What the text part says (the caller appends the CCR retrieval marker)."""
    base = region.base.number
    if region.tokens == 0:
        return f"image #{number}: the same pixels as image #{base} earlier in this conversation"
    x0, y0, x1, y1 = region.box
    return (
        f"image #{number}: the screen of image #{base} earlier in this conversation, changed only in"
        f" the region x {x0}-{x1}, y {y0}-{y1} of its {size[0]}x{size[1]} pixels, which the next"
        " image shows"
    )
