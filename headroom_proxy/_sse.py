"""Server-sent events, split on the raw bytes so every event can be forwarded exactly as it came."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

_SEPARATORS = (b"\r\n\r\n", b"\n\n", b"\r\r")


@dataclass
class Event:
    raw: bytes
    """The event's exact bytes, terminating blank line included."""
    name: str | None
    data: str

    def json(self) -> Any:
        """The data as JSON, or None when it is not JSON (`[DONE]`, a comment)."""
        if not self.data or self.data == "[DONE]":
            return None
        try:
            return json.loads(self.data)
        except ValueError:
            return None


def parse_event(raw: bytes) -> Event:
    name: str | None = None
    data: list[str] = []
    for line in raw.decode("utf-8", "replace").splitlines():
        if not line or line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
    return Event(raw, name, "\n".join(data))


async def iter_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[Event]:
    """Whole events as soon as their last byte arrives; each scan starts where the last ended."""
    buffer = b""
    scan_from = 0
    async for chunk in chunks:
        if not chunk:
            continue
        buffer += chunk
        while True:
            best: tuple[int, int] | None = None
            for sep in _SEPARATORS:
                i = buffer.find(sep, scan_from)
                if i >= 0 and (best is None or i < best[0]):
                    best = (i, len(sep))
            if best is None:
                scan_from = max(0, len(buffer) - 3)
                break
            end = best[0] + best[1]
            yield parse_event(buffer[:end])
            buffer = buffer[end:]
            scan_from = 0
    if buffer.strip():
        yield parse_event(buffer)


def format_event(data: Any, name: str | None = None) -> bytes:
    """An event we write ourselves (only in a CCR follow-up, where indexes are renumbered)."""
    body = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {body}\n\n".encode()
