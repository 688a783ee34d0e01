"""`compress_image_block`: one image content block in, a cheaper one (or None) out.

Order of work: locate the bytes -> dedupe (same payload seen earlier in this call) ->
size from the header (refuse bombs before decoding) -> decode -> crop a uniform border ->
the router picks a level -> each level from there toward milder is encoded, decoded
back and measured against what the provider would have seen of the original; the first
one above the quality bar wins -> below it, the sizes just under each billing boundary
are binary-searched for a cheaper one that still passes (`_refine`). The original block
goes to CCR. The decision is remembered per image (`DECISIONS`), so a conversation
re-sent on the next turn is not searched (nor OCR-read) again.

Text-bearing images (tesseract reads words in them, or the router's text detector says
so) also have to keep OCR word recall above `ImageConfig.min_ocr_recall` when OCR is on
(`ImageConfig.ocr` and tesseract installed); without OCR the router's prediction, trained
on that bar, is the strongest level tried. Unless the question is about layout, colour
or objects, a text-bearing image is never sent at the low level.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np
import orjson
from PIL import Image

from headroom_core.images import _codec, _fetch, _ocr, _region
from headroom_core.images._analysis import (
    colour_stats,
    detail_retention,
    features,
    flatten_alpha,
    ssim,
    ssim_pooling,
    uniform_border,
)
from headroom_core.images._intent import VISUAL, question_intent
from headroom_core.images._providers import (
    LEVELS,
    MIN_AXIS_SCALE,
    image_tokens,
    infer_provider,
    plan,
    refine_sizes,
    seen_size,
)
from headroom_core.images._router import load_router

log = logging.getLogger("headroom.images")
TEXT_PROBABILITY = 0.15
"""The router's text detector calls an image text-bearing from this probability: low, so
that without OCR a doubtful image keeps its text legible (a photo then merely saves less)."""

LOW_AXIS_SCALE = 0.25
"""How far refinement may shrink an image whose text need not stay readable (photos, or
a question about layout or colour): about the low level's size."""

FALLBACK_TOKENS = 85
_PNG_MAX_COLOURS = 600
"""At most this many distinct (5-bit) colours: line art, re-encoded as PNG."""


@dataclass(frozen=True)
class ImageOutcome:
    """What happened to one image block."""

    block: dict[str, Any]
    strategy: str
    tokens_before: int
    tokens_after: int
    ccr_keys: tuple[str, ...] = ()
    summary: str = ""
    blocks: tuple[dict[str, Any], ...] = ()
    """Set only with `split_ok`: the parts that replace the image part, in order (a text
    note, then the changed region); `block` is then the note alone."""


# --------------------------------------------------------------------------- accounting


def _detail(ref: _codec.ImageRef) -> str | None:
    return ref.detail.lower() if ref.detail else None


def estimate_block_tokens(block: Mapping[str, Any], model: str, provider: str | None = None) -> int:
    """Tokens one image block costs with the model's provider (header read only).

    Images that cannot be sized (remote URLs, unreadable data) count as 85, OpenAI's
    low-detail cost; OpenAI `detail: "low"` is always 85. Text blocks left by `dedupe`
    are not images and are counted as text by the caller.
    """
    try:
        provider = infer_provider(model, provider)
    except ValueError:
        provider = "openai"
    ref = _codec.locate(block)
    if ref is None:
        return FALLBACK_TOKENS
    detail = _detail(ref)
    if provider == "openai" and detail == "low":
        return FALLBACK_TOKENS
    if ref.b64 is None:
        return FALLBACK_TOKENS
    info = _codec.header_info(ref.b64)
    if info is None:
        return FALLBACK_TOKENS
    return image_tokens(provider, info[0], info[1], detail)


# --------------------------------------------------------------------------- dedupe state

_SEEN: dict[int, dict[str, list[Any]]] = {}
_SEEN_LOCK = threading.Lock()


def _seen_for(ctx: Any) -> dict[str, list[Any]]:
    """Per-context memory of image payloads (digest -> [number, CCR key, first block]).

    The pipeline shares one context per `compress()` call, so this is per call. Freed
    when the context is collected."""
    key = id(ctx)
    with _SEEN_LOCK:
        seen = _SEEN.get(key)
        if seen is None:
            seen = _SEEN[key] = {}
            weakref.finalize(ctx, _SEEN.pop, key, None)
    return seen


def payload_digest(ref: _codec.ImageRef) -> str | None:
    source = ref.b64 if ref.b64 is not None else ref.url
    if source is None:
        return None
    return hashlib.sha256("".join(source.split()).encode("ascii", "replace")).hexdigest()


def reference_text(number: int, key: str | None) -> str:
    what = f"image omitted: identical to image #{number} earlier in this conversation"
    if key is None:
        return f"[headroom: {what}]"
    from headroom_core._ccr import make_marker

    return make_marker(what, key)


# --------------------------------------------------------------------------- helpers


def _passthrough(block: Mapping[str, Any], tokens: int, note: str) -> ImageOutcome:
    return ImageOutcome(dict(block), "passthrough", tokens, tokens, (), note)


def _stash(block: Mapping[str, Any], ctx: Any, **meta: Any) -> str:
    return ctx.stash(orjson.dumps(block).decode(), "image", **meta)


def _output_format(image: Image.Image, source_format: str, text_bearing: bool = False) -> str:
    if "A" in image.getbands() or (image.mode == "P" and "transparency" in image.info):
        return "PNG"
    if source_format == "JPEG":
        return "JPEG"
    if text_bearing:
        return "PNG"  # JPEG ringing around glyphs costs OCR recall; tokens do not depend on bytes
    colours, _ = colour_stats(image)
    return "PNG" if colours <= _PNG_MAX_COLOURS else "JPEG"


def _normalise_mode(image: Image.Image) -> Image.Image:
    if image.mode in ("RGB", "RGBA", "L"):
        return image
    if image.mode in ("LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        return image.convert("RGBA")
    return image.convert("RGB")


def _resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    if image.size == size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


@dataclass(frozen=True)
class Candidate:
    level: str
    raw: bytes
    fmt: str
    size: tuple[int, int]
    detail: str | None
    tokens: int
    ssim: float
    detail_kept: float
    ocr_recall: float | None = None


def reference_view(image: Image.Image, provider: str, detail: str | None) -> Image.Image:
    """What the provider's model sees of `image`, in greyscale (the quality reference)."""
    return flatten_alpha(_resize(image, seen_size(provider, image.width, image.height, detail))).convert("L")


def measure(reference: Image.Image, raw: bytes) -> tuple[float, float]:
    """(SSIM, detail retention) of encoded `raw` against the greyscale `reference`."""
    with _codec._open(raw) as decoded:
        decoded.load()
        back = flatten_alpha(decoded).convert("L")
    if back.size != reference.size:
        back = back.resize(reference.size, Image.Resampling.BICUBIC)
    kept = detail_retention(np.asarray(reference, np.float64), np.asarray(back, np.float64))
    factor = ssim_pooling(reference.size)
    if factor > 1:
        reference, back = reference.reduce(factor), back.reduce(factor)
    return ssim(np.asarray(reference, np.float64), np.asarray(back, np.float64)), kept


def evaluate_level(
    image: Image.Image,
    source_format: str,
    provider: str,
    level: str,
    detail: str | None,
    jpeg_quality: int,
    reference: Image.Image | None = None,
    png_level: int = 6,
    text_bearing: bool = False,
) -> Candidate:
    """Encode `image` at `level` and measure it against what the provider sees of `image`.

    `png_level` only changes PNG byte size, never pixels (training uses a fast level)."""
    p = plan(provider, level, image.width, image.height, detail)
    return evaluate_size(
        image,
        source_format,
        provider,
        level,
        (p.width, p.height),
        p.detail,
        jpeg_quality,
        reference,
        text_bearing,
        png_level,
    )


def evaluate_size(
    image: Image.Image,
    source_format: str,
    provider: str,
    level: str,
    size: tuple[int, int],
    detail: str | None,
    jpeg_quality: int,
    reference: Image.Image | None = None,
    text_bearing: bool = False,
    png_level: int = 6,
) -> Candidate:
    """Encode `image` resized to `size` and measure it (see `evaluate_level`); `level`
    names the level the size refines."""
    resized = _resize(image, size)
    fmt = _output_format(resized, source_format, text_bearing)
    raw = _codec.encode(resized, fmt, jpeg_quality, png_level)
    if reference is None:
        reference = reference_view(image, provider, detail)
    similarity, kept = measure(reference, raw)
    tokens = image_tokens(provider, size[0], size[1], detail)
    return Candidate(level, raw, fmt, size, detail, tokens, similarity, kept)


def ocr_reference(reference: Image.Image) -> tuple[_ocr.OcrWords, float]:
    """What tesseract reads in the provider's view of the original, and the OCR scale used."""
    scale = _ocr.ocr_scale(reference.size)
    return _ocr.read_words(reference, scale), scale


def ocr_recall(reference: Image.Image, raw: bytes, words: _ocr.OcrWords, scale: float) -> float:
    """OCR word recall of encoded `raw` (scaled back to the reference size) against `words`."""
    with _codec._open(raw) as decoded:
        decoded.load()
        back = flatten_alpha(decoded).convert("L")
    if back.size != reference.size:
        back = back.resize(reference.size, Image.Resampling.BICUBIC)
    elif back.tobytes() == reference.tobytes():
        return 1.0  # the same pixels (a lossless re-encode): nothing to read again
    return _ocr.word_recall(words, _ocr.read_words(back, scale))


T = TypeVar("T")


def choose_level(
    levels: Sequence[str],
    start: str,
    attempt: Callable[[str], T | None],
    explore: bool = True,
    size_of: Callable[[str], tuple[int, int]] | None = None,
) -> T | None:
    """The run-time search around the router's guess `start`.

    `attempt(level)` returns something when that level is above the quality bar. If the
    guess passes, stronger levels are tried in turn until one fails (the router may be
    cautious; the measurement is the judge), unless `explore` is off (then the guess is
    a cap: the bar it was trained on cannot be measured here). If the guess fails,
    milder levels are tried in turn. At most `len(levels)` attempts.

    With `size_of` (a level's output size), a failed stronger level ends the search only
    for levels that are not larger than it: OpenAI's low detail costs 85 tokens at up to
    512 px, which is larger than half of an image under 1024 px, so it may pass where
    half failed.
    """
    i = levels.index(start) if start in levels else len(levels) - 1
    best = attempt(levels[i])
    if best is not None:
        failed: tuple[int, int] | None = None  # the size of the first stronger level that failed
        for level in levels[i + 1 :] if explore else ():
            if failed is not None:
                assert size_of is not None  # without sizes the first failure ended the search
                w, h = size_of(level)
                if w < failed[0] or h < failed[1]:
                    continue
            stronger = attempt(level)
            if stronger is not None:
                best = stronger
            elif size_of is None:
                break
            elif failed is None:
                failed = size_of(level)
        return best
    for level in reversed(levels[:i]):
        found = attempt(level)
        if found is not None:
            return found
    return None


# --------------------------------------------------------------------------- entry point


def compress_image_block(
    block: dict[str, Any], *, model: str, ctx: Any, question: str | None = None, split_ok: bool = False
) -> ImageOutcome | None:
    """A cheaper version of one image block, or None to leave it as it is.

    Never raises on image content: unreadable, oversized, animated or unsupported images
    come back untouched with a note (strategy 'passthrough'). Lossy steps run only when
    CCR is on (`ctx.can_drop`); the original block is stashed and its key returned.
    `question` (default: `ctx.query`; the pipeline sets that to the text of the image's
    own message, else the question before it, so an image compresses the same way on
    every turn) decides whether a text-bearing image may go to low detail.

    `split_ok`: the caller can replace the image part by the parts in `outcome.blocks`.
    Then a screenshot that differs from an earlier one of this conversation only in a
    small box becomes a note naming the earlier image plus a crop of the box (see
    `_region`); without it (the default) each image part stays one part.
    """
    cfg = ctx.config.images
    if not cfg.enabled or not isinstance(block, Mapping):
        return None
    ref = _codec.locate(block)
    if ref is None:
        return None
    provider = infer_provider(model, cfg.provider)
    tokens_before = estimate_block_tokens(block, model, cfg.provider)

    digest = payload_digest(ref) if cfg.dedupe else None
    if digest is not None:
        seen = _seen_for(ctx)
        entry = seen.get(digest)
        if entry is not None:
            return _reference(block, entry, tokens_before, ctx)
        seen[digest] = [len(seen) + 1, None, block]
    number = len(_seen_for(ctx)) if digest is not None else 0
    region_ok = split_ok and number > 0 and ctx.can_drop and ref.b64 is not None
    near: NearRepeat | None = None
    outcome: ImageOutcome | None
    try:
        if region_ok and ref.b64 is not None:
            near = _near_repeat(block, ref, ref.b64, provider, cfg, ctx, number)
        # Cheaper than the earlier screen was: the box wins without searching this image.
        if near is not None and near.tokens < min(tokens_before, near.region.base.tokens_after):
            outcome = _near_outcome(block, ref, near, provider, tokens_before, ctx)
        else:
            if question is None:
                question = getattr(ctx, "query", None)
            outcome = _compress_one(block, ref, provider, tokens_before, cfg, ctx, question)
            cost = (
                tokens_before
                if outcome is None or outcome.strategy == "passthrough"
                else outcome.tokens_after
            )
            if near is not None and near.tokens < cost:
                outcome = _near_outcome(block, ref, near, provider, tokens_before, ctx)
    except Exception as exc:  # a Pillow/numpy surprise on odd content must not break compress()
        outcome = _passthrough(block, tokens_before, f"image left unchanged ({type(exc).__name__}: {exc})")
    if outcome is not None and outcome.strategy == "changed_region":
        if digest is not None:
            _seen_for(ctx)[digest][1] = outcome.ccr_keys[0]
        return outcome
    if region_ok and ref.b64 is not None and (outcome is None or outcome.strategy != "passthrough"):
        info = _codec.header_info(ref.b64)
        if info is not None:
            after = outcome.tokens_after if outcome is not None else tokens_before
            _region.remember(ctx, _region.Base(number, ref.b64, (info[0], info[1]), after))
    if outcome is not None and outcome.strategy != "passthrough":
        # Report exactly what the accounting will count for the new block.
        after = estimate_block_tokens(outcome.block, model, cfg.provider)
        if after != outcome.tokens_after:
            outcome = replace(outcome, tokens_after=after)
    if digest is not None and outcome is not None and outcome.ccr_keys:
        _seen_for(ctx)[digest][1] = outcome.ccr_keys[0]
    return outcome


@dataclass(frozen=True)
class NearRepeat:
    """A changed region found for an image, with what sending it would cost."""

    region: _region.Region
    size: tuple[int, int]
    description: str
    tokens: int


def _near_repeat(
    block: Mapping[str, Any], ref: _codec.ImageRef, b64: str, provider: str, cfg: Any, ctx: Any, number: int
) -> NearRepeat | None:
    """A screenshot that differs from an earlier full one only in a small box (see
    `_region`), and the tokens of the note plus the box."""
    region = _region.find_region(b64, provider, _detail(ref), _region.bases_for(ctx), cfg.max_pixels)
    if region is None:
        return None
    info = _codec.header_info(b64)
    if info is None:
        return None
    from headroom_core._ccr import content_key

    description = _region.note_text(number, region, (info[0], info[1]))
    key = content_key(orjson.dumps(block).decode())  # the key `_stash` will return: same length
    tokens = ctx.tokenizer.count(ctx.marker(description, key)) + region.tokens
    return NearRepeat(region, (info[0], info[1]), description, tokens)


def _near_outcome(
    block: Mapping[str, Any],
    ref: _codec.ImageRef,
    near: NearRepeat,
    provider: str,
    tokens_before: int,
    ctx: Any,
) -> ImageOutcome:
    """The note and the changed box that replace the image part; the original goes to CCR."""
    region = near.region
    key = _stash(block, ctx, width=near.size[0], height=near.size[1])
    note = {"type": "text", "text": ctx.marker(near.description, key)}
    parts: tuple[dict[str, Any], ...] = (note,)
    if region.tokens:
        image_part = _codec.rebuild(
            block, ref, _codec.b64encode(region.raw), _codec.media_type_of(region.fmt), _detail(ref)
        )
        parts = (note, image_part)
    x0, y0, x1, y1 = region.box
    summary = (
        f"image {near.size[0]}x{near.size[1]}: near repeat of image #{region.base.number}, changed box"
        f" ({x0},{y0})-({x1},{y1}) sent as {region.size[0]}x{region.size[1]} {region.fmt}"
        f" ({provider}: {tokens_before} -> {near.tokens} tokens)"
    )
    return ImageOutcome(note, "changed_region", tokens_before, near.tokens, (key,), summary, parts)


def _reference(
    block: Mapping[str, Any], entry: list[Any], tokens_before: int, ctx: Any
) -> ImageOutcome | None:
    """A later copy of an image: a text reference to the first copy (stashed once)."""
    number, key, first_block = entry
    if key is None and ctx.can_drop:
        key = entry[1] = _stash(first_block, ctx)
    text = reference_text(number, key)
    after = ctx.tokenizer.count(text)
    if after >= tokens_before:
        return None
    keys = (key,) if key else ()
    return ImageOutcome(
        {"type": "text", "text": text}, "dedupe", tokens_before, after, keys, f"duplicate of image #{number}"
    )


def _compress_one(
    block: Mapping[str, Any],
    ref: _codec.ImageRef,
    provider: str,
    tokens_before: int,
    cfg: Any,
    ctx: Any,
    question: str | None = None,
) -> ImageOutcome | None:
    raw: bytes | None = None
    if ref.url is not None:
        if not cfg.allow_remote_fetch:
            return _passthrough(
                block, tokens_before, "remote image URL not fetched (allow_remote_fetch is off)"
            )
        if not ctx.can_drop:
            return None
        try:
            raw = _fetch.fetch(ref.url, cfg.fetch_timeout_seconds, cfg.max_payload_bytes)
        except Exception as exc:
            return _passthrough(block, tokens_before, f"remote image not fetched ({type(exc).__name__})")
    elif ref.b64 is None:
        return _passthrough(block, tokens_before, "unsupported image data URL (not base64)")
    elif len(ref.b64) * 3 // 4 > cfg.max_payload_bytes:
        return _passthrough(block, tokens_before, f"image payload over {cfg.max_payload_bytes:,} bytes")
    if not ctx.can_drop:
        return None  # every strategy below is lossy; without CCR the original would be lost
    if raw is None and ref.b64 is not None:  # a data URL (a remote one was fetched above)
        info = _codec.header_info(ref.b64)
        if info is not None and info[0] * info[1] > cfg.max_pixels:
            return _passthrough(
                block, tokens_before, f"{info[0]}x{info[1]} image over the {cfg.max_pixels:,}-pixel limit"
            )
        try:
            raw = _codec.b64decode(ref.b64)
        except ValueError as exc:
            return _passthrough(block, tokens_before, str(exc))
    if raw is None:  # not reached: each branch above fetched, returned or had a base64 body
        return _passthrough(block, tokens_before, "no image data")
    try:
        image, fmt = _codec.decode(raw, cfg.max_pixels)
    except _codec.BadImage as exc:
        return _passthrough(block, tokens_before, str(exc))
    with image:
        return _shrink(block, ref, image, fmt, raw, provider, tokens_before, cfg, ctx, question)


def _shrink(
    block: Mapping[str, Any],
    ref: _codec.ImageRef,
    image: Image.Image,
    fmt: str,
    raw: bytes,
    provider: str,
    tokens_before: int,
    cfg: Any,
    ctx: Any,
    question: str | None = None,
) -> ImageOutcome | None:
    detail = _detail(ref)
    if ref.url is not None:
        tokens_before = image_tokens(provider, image.width, image.height, detail)
    if tokens_before < cfg.min_tokens:
        return None
    intent = question_intent(question) if cfg.query_aware else None
    ocr_on = bool(cfg.ocr and _ocr.available())
    key = _decision_key(raw, provider, ref.shape, detail, tokens_before, cfg, intent, ocr_on)
    decision = DECISIONS.get(key)
    if decision is None:
        decision = _decide(image, fmt, len(raw), ref, provider, tokens_before, cfg, intent, ocr_on)
        if decision.cacheable:
            DECISIONS.put(key, decision)
    if decision.candidate is None:
        return None
    chosen = decision.candidate
    media_type = _codec.media_type_of(chosen.fmt)
    new_block = _codec.rebuild(block, ref, _codec.b64encode(chosen.raw), media_type, chosen.detail)
    stash_key = _stash(block, ctx, width=image.width, height=image.height)
    summary = (
        f"image {image.width}x{image.height} -> {chosen.size[0]}x{chosen.size[1]} {chosen.fmt}"
        f" ({provider}: {tokens_before} -> {chosen.tokens} tokens, SSIM {chosen.ssim:.3f},"
        f" detail {chosen.detail_kept:.2f}{decision.text_note});"
        f" original: {ctx.marker('original image', stash_key)}"
    )
    return ImageOutcome(new_block, decision.strategy, tokens_before, chosen.tokens, (stash_key,), summary)


@dataclass(frozen=True)
class Decision:
    """What `_decide` chose for one image: the candidate to send (None: leave it), the
    strategy name and the text note of the summary. `cacheable` is False when OCR failed
    part-way (a transient fallback must not outlive the failure)."""

    candidate: Candidate | None
    strategy: str = ""
    text_note: str = ""
    cacheable: bool = True


class DecisionCache:
    """A bounded, thread-safe memory of image decisions (least recently used goes first).

    Keyed by the image bytes' SHA-256 and everything else the decision depends on
    (provider, block shape, detail, tokens, the whole ImageConfig, the question's intent,
    whether OCR runs), so a hit returns exactly what recomputing would: the search is
    deterministic.
    An agent loop re-sends the whole conversation on every turn; without this each
    screenshot would be OCR-searched again on every turn.
    """

    def __init__(self, max_entries: int = 256, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[Any, ...], Decision] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @staticmethod
    def _size(decision: Decision) -> int:
        return len(decision.candidate.raw) if decision.candidate is not None else 0

    def get(self, key: tuple[Any, ...]) -> Decision | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[Any, ...], decision: Decision) -> None:
        size = self._size(decision)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= self._size(old)
            self._items[key] = decision
            self._bytes += size
            while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= self._size(dropped)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)


DECISIONS = DecisionCache()
"""The process-wide decision cache (`DECISIONS.clear()` empties it)."""


def _decision_key(
    raw: bytes,
    provider: str,
    shape: str,
    detail: str | None,
    tokens_before: int,
    cfg: Any,
    intent: str | None,
    ocr_on: bool,
) -> tuple[Any, ...]:
    """Everything `_decide` reads besides the pixels: the block shape decides whether
    OpenAI's low detail can be carried; repr of the frozen ImageConfig names every field,
    so any setting change is a new key."""
    digest = hashlib.sha256(raw).hexdigest()
    return (digest, provider, shape, detail, tokens_before, repr(cfg), intent, ocr_on)


def _decide(
    image: Image.Image,
    fmt: str,
    payload_bytes: int,
    ref: _codec.ImageRef,
    provider: str,
    tokens_before: int,
    cfg: Any,
    intent: str | None,
    ocr_on: bool,
) -> Decision:
    detail = _detail(ref)
    work = _normalise_mode(image)
    steps: list[str] = []
    box = uniform_border(work) if cfg.crop_borders else None
    if box is not None:
        work = work.crop(box)
        steps.append("crop")
    reference = reference_view(work, provider, detail)
    seen_tokens = image_tokens(provider, work.width, work.height, detail)
    model = load_router()
    x = features(work, provider, seen_tokens) if model is not None else None
    start = model.predict(x) if model is not None and x is not None and cfg.use_router else LEVELS[-1]
    words: _ocr.OcrWords | None = None
    scale = 1.0
    ocr_failed = False
    if ocr_on:
        try:
            words, scale = ocr_reference(reference)
        except _ocr.OcrUnavailable as exc:
            ocr_failed = True
            log.warning("OCR unavailable for an image, using the router's prediction: %s", exc)
    if words is not None:
        text_bearing = words.text_bearing
    else:
        text_bearing = model is not None and x is not None and model.text_probability(x) >= TEXT_PROBABILITY
    # The question decides whether text has to stay readable; without one it does.
    keep_text = text_bearing and intent != VISUAL
    # Text tesseract reads little of (rotated labels) may still be text to read: when the
    # router's text detector calls the image text-bearing and tesseract reads some words
    # in it (a photo it reads none in is taken at its word), the image is kept away from
    # the low level and from shrinking far below the levels, unless the question is visual.
    guessed_text = model is not None and x is not None and model.text_probability(x) >= TEXT_PROBABILITY
    some_words = words is None or bool(words.confident)
    protect_text = keep_text or (guessed_text and some_words and intent != VISUAL)
    check_ocr = keep_text and words is not None
    min_detail = cfg.min_detail if text_bearing else cfg.min_detail_without_text

    def measured(candidate: Candidate) -> Candidate | None:
        nonlocal ocr_failed
        if candidate.ssim < cfg.min_ssim or candidate.detail_kept < min_detail:
            return None
        if check_ocr and words is not None:
            try:
                recall = ocr_recall(reference, candidate.raw, words, scale)
            except _ocr.OcrUnavailable as exc:
                ocr_failed = True
                log.warning("OCR failed on a candidate image; %s not used: %s", candidate.level, exc)
                return None
            if recall < cfg.min_ocr_recall:
                return None
            return replace(candidate, ocr_recall=recall)
        return candidate

    tried: dict[str, Candidate | None] = {}

    def attempt(level: str) -> Candidate | None:
        found = measured(
            evaluate_level(
                work, fmt, provider, level, detail, cfg.jpeg_quality, reference, text_bearing=text_bearing
            )
        )
        tried[level] = found
        return found

    # OpenAI's low detail is a field of OpenAI blocks; other block shapes cannot carry it.
    low_ok = cfg.allow_low_detail and (provider != "openai" or ref.shape.startswith("openai"))
    # Text that must stay readable never goes to the low level, whatever the measures
    # say, unless the low level is not smaller than what the provider sees anyway.
    if protect_text and low_ok:
        low = plan(provider, "low", work.width, work.height, detail)
        low_ok = low.width >= reference.width and low.height >= reference.height
    levels = [lv for lv in LEVELS if low_ok or lv != "low"]
    # Without OCR the router's guess (trained on the OCR bar) caps a text-bearing image.
    explore = not (keep_text and words is None)

    def size_of(level: str) -> tuple[int, int]:
        p = plan(provider, level, work.width, work.height, detail)
        return p.width, p.height

    chosen = choose_level(levels, start, attempt, explore=explore, size_of=size_of)
    if chosen is not None and explore:
        # Shrinking far below the levels is for images without text to read.
        floor = MIN_AXIS_SCALE if protect_text else LOW_AXIS_SCALE
        chosen = _refine(
            chosen, levels, tried, work, fmt, provider, detail, cfg, reference, text_bearing, measured, floor
        )
    if chosen is None or (chosen.tokens >= tokens_before and len(chosen.raw) >= payload_bytes):
        # Not even the re-encode at the seen size holds the quality bar, or nothing is saved.
        return Decision(None, cacheable=not ocr_failed)
    steps.append({"keep": "sweet_spot"}.get(chosen.level, chosen.level))
    steps.append(chosen.fmt.lower())
    return Decision(
        chosen, "+".join(steps), _text_note(text_bearing, keep_text, chosen, words), not ocr_failed
    )


def _refine(
    chosen: Candidate,
    levels: Sequence[str],
    tried: Mapping[str, Candidate | None],
    work: Image.Image,
    fmt: str,
    provider: str,
    detail: str | None,
    cfg: Any,
    reference: Image.Image,
    text_bearing: bool,
    measured: Callable[[Candidate], Candidate | None],
    floor: float = MIN_AXIS_SCALE,
) -> Candidate:
    """Below the chosen level, the cheapest size that still meets the bar: the largest
    size under each billing boundary (`refine_sizes`, which may condense one axis more
    than the other, unlike the levels), binary-searched in order of cost (measured
    quality falls as the size does): about log2 of their number extra measurements.
    Only after a search that ended on a measured failure of the next stronger level (or
    at the strongest level allowed): a level capped by the router is not searched past."""
    if chosen.detail == "low":
        return chosen
    i = levels.index(chosen.level)
    if i + 1 < len(levels) and tried.get(levels[i + 1], chosen) is not None:
        return chosen  # the next stronger level was not measured failing: nothing to search
    failed = set()
    for level, found in tried.items():
        if found is None:
            p = plan(provider, level, work.width, work.height, detail)
            failed.add((p.width, p.height))
    sizes = [
        s
        for s in refine_sizes(provider, reference.width, reference.height, chosen.tokens, 0, floor)
        if s not in failed and s[0] <= work.width and s[1] <= work.height
    ]
    lo, hi = -1, len(sizes)
    best = chosen
    while hi - lo > 1:
        mid = (lo + hi) // 2
        found = measured(
            evaluate_size(
                work,
                fmt,
                provider,
                chosen.level,
                sizes[mid],
                detail,
                cfg.jpeg_quality,
                reference,
                text_bearing,
            )
        )
        if found is not None:
            lo, best = mid, replace(found, level="fit")
        else:
            hi = mid
    return best


def _text_note(text_bearing: bool, keep_text: bool, chosen: Candidate, words: _ocr.OcrWords | None) -> str:
    if not text_bearing:
        return ""
    if chosen.ocr_recall is not None:
        return f", OCR recall {chosen.ocr_recall:.2f} of {len(words.confident) if words else 0} words"
    return ", text kept legible" if keep_text else ", text-bearing, question is visual"
