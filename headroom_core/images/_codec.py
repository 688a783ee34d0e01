"""Where the image bytes live in a content block, cheap header sizing, safe decoding,
deterministic encoding.

Block shapes understood (the output keeps the shape and every other key of the input):

- OpenAI chat: `{"type": "image_url", "image_url": {"url": "data:...", "detail": ...}}`
  (also `"image_url": "data:..."`)
- OpenAI Responses: `{"type": "input_image", "image_url": "data:...", "detail": ...}`
- Anthropic: `{"type": "image", "source": {"type": "base64", "media_type": ..., "data": ...}}`
  (`"source": {"type": "url", "url": ...}` is a remote image)
- LangChain v1 standard block: `{"type": "image", "base64": ..., "mime_type": ...}`
  (also the older `{"type": "image", "source_type": "base64", "data": ..., "mime_type": ...}`)
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image

SUPPORTED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
_MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[^,;]*)*?);base64,", re.IGNORECASE)
_HEADER_CHARS = 1 << 16


@dataclass(frozen=True)
class ImageRef:
    """Where one block keeps its image."""

    shape: str
    """'openai_chat', 'openai_chat_str', 'openai_responses', 'anthropic', 'langchain', 'langchain_v0'."""
    b64: str | None
    """Base64 payload (inline images), else None."""
    media_type: str | None
    url: str | None
    """Remote URL (http/https), when the image is not inline."""
    detail: str | None


def locate(block: Mapping[str, Any]) -> ImageRef | None:
    """The image reference of a content block, or None if the block is not an image we know."""
    btype = block.get("type")
    if btype == "image_url":
        inner = block.get("image_url")
        if isinstance(inner, Mapping):
            return _from_url("openai_chat", inner.get("url"), inner.get("detail"))
        return _from_url("openai_chat_str", inner, None)
    if btype == "input_image":
        return _from_url("openai_responses", block.get("image_url"), block.get("detail"))
    if btype == "image":
        source = block.get("source")
        if isinstance(source, Mapping):
            if source.get("type") == "base64" and isinstance(source.get("data"), str):
                return ImageRef("anthropic", source["data"], _str(source.get("media_type")), None, None)
            if source.get("type") == "url" and isinstance(source.get("url"), str):
                return ImageRef("anthropic", None, None, source["url"], None)
            return None
        if isinstance(block.get("base64"), str):
            return ImageRef("langchain", block["base64"], _str(block.get("mime_type")), None, None)
        if block.get("source_type") == "base64" and isinstance(block.get("data"), str):
            return ImageRef("langchain_v0", block["data"], _str(block.get("mime_type")), None, None)
        if isinstance(block.get("url"), str):
            return _from_url("langchain", block["url"], None)
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _from_url(shape: str, url: Any, detail: Any) -> ImageRef | None:
    if not isinstance(url, str):
        return None
    detail = detail if isinstance(detail, str) else None
    match = _DATA_URL.match(url)
    if match:
        return ImageRef(shape, url[match.end() :], match.group("mime"), None, detail)
    if url.startswith("data:"):  # a data URL that is not base64 (e.g. SVG text): unsupported
        return ImageRef(shape, None, None, None, detail)
    return ImageRef(shape, None, None, url, detail)


def rebuild(block: Mapping[str, Any], ref: ImageRef, b64: str, media_type: str, detail: str | None) -> dict:
    """A copy of `block` holding the new image (inline), every other key kept."""
    out = dict(block)
    data_url = f"data:{media_type};base64,{b64}"
    if ref.shape == "openai_chat":
        inner = dict(block["image_url"])
        inner["url"] = data_url
        if detail is not None:
            inner["detail"] = detail
        out["image_url"] = inner
    elif ref.shape == "openai_chat_str":
        out["image_url"] = {"url": data_url, "detail": detail} if detail is not None else data_url
    elif ref.shape == "openai_responses":
        out["image_url"] = data_url
        if detail is not None:
            out["detail"] = detail
    elif ref.shape == "anthropic":
        source = {k: v for k, v in block["source"].items() if k not in ("url",)}
        source.update({"type": "base64", "media_type": media_type, "data": b64})
        out["source"] = source
    elif ref.shape == "langchain":
        out.pop("url", None)
        out["base64"] = b64
        out["mime_type"] = media_type
    else:  # langchain_v0
        out["data"] = b64
        out["mime_type"] = media_type
    return out


def b64decode(data: str) -> bytes:
    """Base64 (standard or URL-safe, whitespace tolerated); ValueError when corrupt."""
    cleaned = "".join(data.split()) if any(c.isspace() for c in data[:4096]) else data
    if "-" in cleaned or "_" in cleaned:
        cleaned = cleaned.replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"corrupt base64 image data ({exc})") from exc


def b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _open(raw: bytes) -> Image.Image:
    with warnings.catch_warnings():
        # We enforce our own pixel limit from the header; Pillow's warning is noise here.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(io.BytesIO(raw), formats=SUPPORTED_FORMATS)


def header_info(b64: str) -> tuple[int, int, str] | None:
    """(width, height, format) from the image header, or None if unreadable.

    Only the first 64 KiB of base64 are decoded (a PNG/GIF/WebP header is in the first
    bytes; a JPEG's size marker follows EXIF/ICC data), falling back to the whole payload.
    Cached, so counting before and after `compress()` sizes an image once. The cache key
    is small (length, the str hash Python keeps on the object, both ends): payloads of
    many megabytes are not kept alive by it.
    """
    return _header_info_cached((len(b64), hash(b64), b64[:64], b64[-64:]), b64)


_HEADER_CACHE: dict[tuple[int, int, str, str], tuple[int, int, str] | None] = {}
_HEADER_CACHE_SIZE = 512
_HEADER_LOCK = threading.Lock()


def _header_info_cached(key: tuple[int, int, str, str], b64: str) -> tuple[int, int, str] | None:
    with _HEADER_LOCK:
        if key in _HEADER_CACHE:
            return _HEADER_CACHE[key]
    info = _read_header(b64)
    with _HEADER_LOCK:
        if len(_HEADER_CACHE) >= _HEADER_CACHE_SIZE:
            _HEADER_CACHE.pop(next(iter(_HEADER_CACHE)))  # oldest first
        _HEADER_CACHE[key] = info
    return info


def _read_header(b64: str) -> tuple[int, int, str] | None:
    for chunk in (b64[:_HEADER_CHARS], b64) if len(b64) > _HEADER_CHARS else (b64,):
        usable = len(chunk) - len(chunk) % 4 if chunk is not b64 else len(chunk)
        try:
            raw = b64decode(chunk[:usable])
            return _probe(raw)
        except Exception:
            continue
    return None


def _probe(raw: bytes) -> tuple[int, int, str]:
    """Size from the header through the format plugin itself: unlike `Image.open`, this
    does not refuse huge sizes, so a decompression bomb can be sized (and then refused)."""
    from PIL import GifImagePlugin, JpegImagePlugin, PngImagePlugin, WebPImagePlugin

    if raw.startswith(b"\x89PNG"):
        plugin: Any = PngImagePlugin.PngImageFile
    elif raw.startswith(b"\xff\xd8"):
        plugin = JpegImagePlugin.JpegImageFile
    elif raw.startswith((b"GIF87a", b"GIF89a")):
        plugin = GifImagePlugin.GifImageFile
    elif raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        plugin = WebPImagePlugin.WebPImageFile
    else:
        raise ValueError("unsupported image format")
    image = plugin(io.BytesIO(raw))
    try:
        return image.width, image.height, str(image.format)
    finally:
        image.close()


class BadImage(Exception):
    """An image we will not touch; the message says why (it becomes the pass-through note)."""


def decode(raw: bytes, max_pixels: int) -> tuple[Image.Image, str]:
    """A fully loaded single-frame image and its format, or BadImage with a reason."""
    try:
        image = _open(raw)
    except Image.DecompressionBombError as exc:
        raise BadImage(f"image too large to decode safely ({exc})") from exc
    except Exception as exc:
        raise BadImage(f"unreadable or unsupported image ({type(exc).__name__})") from exc
    fmt = str(image.format)
    if image.width * image.height > max_pixels:
        raise BadImage(
            f"{image.width}x{image.height} image exceeds the {max_pixels:,}-pixel limit; not decoded"
        )
    if getattr(image, "is_animated", False) or getattr(image, "n_frames", 1) > 1:
        raise BadImage("animated image; frames are not re-encoded")
    try:
        image.load()
    except Exception as exc:
        raise BadImage(f"truncated or corrupt {fmt} data ({type(exc).__name__})") from exc
    return image, fmt


def media_type_of(fmt: str) -> str:
    return _MEDIA_TYPES.get(fmt, "application/octet-stream")


def encode(image: Image.Image, fmt: str, jpeg_quality: int, png_level: int = 6) -> bytes:
    """Deterministic bytes: no timestamps or metadata, fixed encoder settings."""
    buf = io.BytesIO()
    if fmt == "JPEG":
        image = image.convert("RGB") if image.mode not in ("RGB", "L") else image
        image.save(buf, "JPEG", quality=jpeg_quality, optimize=True, subsampling="4:2:0")
    else:
        if image.mode not in ("RGB", "RGBA", "L", "LA", "P", "1"):
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        image.save(buf, "PNG", compress_level=png_level)
    return buf.getvalue()
