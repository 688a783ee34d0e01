"""BlobCompressor: replace base64 runs, data: URLs and binary garbage with a short stub.

A blob costs thousands of tokens and tells a model nothing; what it needs is *what* the
blob is. The stub names the type, sniffed from the magic bytes after decoding the
start of the base64 (PNG, JPEG, GIF, PDF, ZIP, gzip, ...), and the size, e.g.
`[headroom: base64 PNG image 640x480, 48,213 bytes; retrieve with ...]`. The whole
original text is stashed once in CCR; every stub in it points at that key.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from typing import ClassVar

from headroom_core._text import MIN_BASE64_RUN, is_plausible_base64, looks_binary, plural
from headroom_core.compressors._base import CompressContext, Compressed

_MIN_RUN = MIN_BASE64_RUN
# Like `_text.DATA_URL`, but the body may be wrapped over lines (MIME, pasted PEM-like
# bodies) and short bodies are measured below instead of skipped by the pattern.
_DATA_URL = re.compile(
    r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[\w.+-]+=[\w.+-]+)*;base64,(?P<body>[A-Za-z0-9+/=\r\n]{16,})"
)
# A long base64 run, optionally wrapped at a fixed width (PEM, MIME, `base64` CLI output).
_BASE64_RUN = re.compile(
    # wrapped: whole lines of base64, the last one possibly short
    r"(?:^[A-Za-z0-9+/]{40,200}={0,2}\r?\n){2,}(?:[A-Za-z0-9+/]{1,200}={0,2}\r?$)?"
    rf"|(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{{{_MIN_RUN},}}={{0,2}}",
    re.M,
)

# (magic bytes at offset, offset, description)
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "PNG image"),
    (b"\xff\xd8\xff", 0, "JPEG image"),
    (b"GIF87a", 0, "GIF image"),
    (b"GIF89a", 0, "GIF image"),
    (b"%PDF-", 0, "PDF document"),
    (b"PK\x03\x04", 0, "ZIP archive"),
    (b"PK\x05\x06", 0, "ZIP archive (empty)"),
    (b"\x1f\x8b", 0, "gzip data"),
    (b"BZh", 0, "bzip2 data"),
    (b"\xfd7zXZ\x00", 0, "xz data"),
    (b"7z\xbc\xaf\x27\x1c", 0, "7-Zip archive"),
    (b"\x28\xb5\x2f\xfd", 0, "zstd data"),
    (b"WEBP", 8, "WebP image"),
    (b"WAVE", 8, "WAV audio"),
    (b"ftyp", 4, "MP4/QuickTime media"),
    (b"OggS", 0, "Ogg media"),
    (b"ID3", 0, "MP3 audio"),
    (b"fLaC", 0, "FLAC audio"),
    (b"\x7fELF", 0, "ELF executable"),
    (b"MZ", 0, "Windows executable"),
    (b"\x00asm", 0, "WebAssembly module"),
    (b"\xca\xfe\xba\xbe", 0, "Java class / Mach-O universal binary"),
    (b"\xcf\xfa\xed\xfe", 0, "Mach-O binary"),
    (b"SQLite format 3\x00", 0, "SQLite database"),
    (b"II*\x00", 0, "TIFF image"),
    (b"MM\x00*", 0, "TIFF image"),
    (b"BM", 0, "BMP image"),
    (b"\x00\x00\x01\x00", 0, "ICO image"),
    (b"wOFF", 0, "WOFF font"),
    (b"wOF2", 0, "WOFF2 font"),
    (b"<svg", 0, "SVG image"),
    (b"<?xml", 0, "XML document"),
    (b"-----BEGIN", 0, "PEM data"),
)


def sniff(data: bytes) -> str:
    """A short description of binary `data` from its magic bytes (never raises)."""
    for magic, offset, description in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            if description == "PNG image" and len(data) >= 24:
                width, height = struct.unpack(">II", data[16:24])
                return f"PNG image {width}x{height}"
            if description == "GIF image" and len(data) >= 10:
                width, height = struct.unpack("<HH", data[6:10])
                return f"GIF image {width}x{height}"
            return description
    if data[:1] in (b"{", b"["):
        return "JSON-like text"
    try:
        data[:256].decode("utf-8")
    except UnicodeDecodeError:
        return "binary data"
    return "text" if data else "empty data"


def _decode_prefix(body: str) -> bytes:
    """The first bytes of a base64 body (enough for magic numbers and image headers)."""
    compact = re.sub(r"\s+", "", body[:200])[:64]
    compact = compact[: len(compact) - len(compact) % 4]
    try:
        return base64.b64decode(compact, validate=False)
    except (binascii.Error, ValueError):
        return b""


def _decoded_size(body: str) -> int:
    compact_len = len(body) - sum(body.count(c) for c in "\r\n \t")
    padding = len(body.rstrip()) - len(body.rstrip().rstrip("="))
    return max(0, compact_len * 3 // 4 - padding)


def _raw_bytes(text: str) -> bytes:
    """Best guess at the bytes behind binary text (latin-1 or surrogate-escaped UTF-8)."""
    head = text[:64]
    try:
        return head.encode("latin-1")
    except UnicodeEncodeError:
        return (
            head.encode("utf-8", "surrogateescape")
            if _only_escapes(head)
            else head.encode("utf-8", "replace")
        )


def _only_escapes(text: str) -> bool:
    try:
        text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return False
    return True


class BlobCompressor:
    name: ClassVar[str] = "blob"

    def compress(self, text: str, ctx: CompressContext) -> Compressed | None:
        if not isinstance(text, str) or not ctx.can_drop or not text:
            return None
        if looks_binary(text):
            return self._binary(text, ctx)
        spans = self._spans(text)
        if not spans:
            return None
        key = ctx.stash(text, "blob", unit="line")
        out: list[str] = []
        pos = 0
        descriptions = []
        for start, end, description in spans:
            out.append(text[pos:start])
            out.append(ctx.marker(description, key))
            descriptions.append(description)
            pos = end
        out.append(text[pos:])
        result = "".join(out)
        if len(result) >= len(text):
            return None
        summary = f"{plural(len(spans), 'blob')} replaced: " + "; ".join(descriptions[:5])
        return Compressed(result, (key,), summary)

    def _binary(self, text: str, ctx: CompressContext) -> Compressed | None:
        key = ctx.stash(text, "blob", unit="line")
        kind = sniff(_raw_bytes(text))
        if kind in ("text", "empty data", "JSON-like text"):
            kind = "binary data"
        description = f"{kind}, {len(text):,} characters of binary content"
        marker = ctx.marker(description, key)
        if len(marker) >= len(text):
            return None
        return Compressed(marker, (key,), description)

    def _spans(self, text: str) -> list[tuple[int, int, str]]:
        spans: list[tuple[int, int, str]] = []
        for match in _DATA_URL.finditer(text):
            body = match.group("body").rstrip()
            if len(body) < 64:
                continue
            data = _decode_prefix(body)
            kind = sniff(data)
            mime = match.group("mime") or "unknown type"
            end = match.start("body") + len(body)
            spans.append((match.start(), end, f"data: URL ({mime}, {kind}), {_decoded_size(body):,} bytes"))
        taken = [(s, e) for s, e, _ in spans]
        for match in _BASE64_RUN.finditer(text):
            start, end = match.start(), match.end()
            body = match.group(0)
            if len(body.strip()) < _MIN_RUN or not is_plausible_base64(body):
                continue
            if any(s <= start < e or s < end <= e for s, e in taken):
                continue
            # Keep the line break that ends a wrapped block outside the stub.
            while end > start and text[end - 1] in "\r\n":
                end -= 1
            body = text[start:end]
            spans.append((start, end, f"base64 {sniff(_decode_prefix(body))}, {_decoded_size(body):,} bytes"))
        spans.sort()
        return spans
