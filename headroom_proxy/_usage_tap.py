"""Reading the provider's `usage` out of responses as they pass through, without changing them.

The client gets the upstream's bytes untouched; these helpers look at a copy. A streamed answer
is scanned line by line, and only `data:` lines that can carry usage are parsed as JSON (the
text deltas, which are most of a stream, are skipped by a byte search).
"""

from __future__ import annotations

import json
import time
import zlib
from typing import Any

from headroom_core._accounting import StreamUsage, Usage, usage_from_response

_MAX_LINE = 1 << 20  # a usage event is small; a longer line is not one of them
_NEEDLES = (b'"usage"', b'"usageMetadata"')


def _decoder(encoding: str | None) -> Any:
    encoding = (encoding or "").strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    return False  # br, zstd...: not read (usage unknown, the answer still passes)


def usage_of_body(raw: bytes, encoding: str | None = None) -> Usage | None:
    """The usage in a whole JSON response body (possibly gzip/deflate encoded)."""
    decoder = _decoder(encoding)
    if decoder is False:
        return None
    try:
        data = raw if decoder is None else decoder.decompress(raw)
        if not any(n in data for n in _NEEDLES):
            return None
        return usage_from_response(json.loads(data))
    except (ValueError, zlib.error, RecursionError):
        return None


class StreamTap:
    """Fed the chunks of an SSE answer as they go to the client; knows the usage at the end and
    when the first chunk came."""

    def __init__(self, encoding: str | None = None, started: float | None = None) -> None:
        self._decoder = _decoder(encoding)
        self._usage = StreamUsage()
        self._rest = b""
        self.started = started if started is not None else time.perf_counter()
        self.first_byte_seconds: float | None = None

    def feed(self, chunk: bytes) -> None:
        if self.first_byte_seconds is None and chunk:
            self.first_byte_seconds = time.perf_counter() - self.started
        if self._decoder is False:
            return
        try:
            if self._decoder is not None:
                chunk = self._decoder.decompress(chunk)
        except zlib.error:
            self._decoder = False
            return
        data = self._rest + chunk
        if not any(n in data for n in _NEEDLES) and b"message_start" not in data:
            # Nothing of interest; keep only the unfinished last line.
            cut = data.rfind(b"\n")
            self._rest = data[cut + 1 :] if cut >= 0 else data
            if len(self._rest) > _MAX_LINE:
                self._rest = b""
            return
        lines = data.split(b"\n")
        self._rest = lines.pop()
        if len(self._rest) > _MAX_LINE:
            self._rest = b""
        for line in lines:
            if line.startswith(b"data:") and (any(n in line for n in _NEEDLES)):
                try:
                    self._usage.feed(json.loads(line[5:]))
                except (ValueError, RecursionError):
                    continue

    def usage(self) -> Usage | None:
        return self._usage.result()
