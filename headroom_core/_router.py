"""Content router: decide what a piece of text is, cheaply and deterministically.

`route(text, hints)` returns one or more `Segment`s; mixed content (a text header and
a JSON body) comes back as several segments that are compressed separately and joined
again in order, so `"".join(s.text for s in segments) == text` always holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

# The kinds the router can name; each maps to a compressor in `compressors.REGISTRY`.
KINDS = (
    "json",
    "code",
    "log",
    "test_output",
    "search_results",
    "diff",
    "html",
    "prose",
    "blob",
    "text",
)


@dataclass(frozen=True)
class Segment:
    kind: str
    text: str
    language: str | None = None
    """For code: 'python', 'go', ...; for anything else None."""


@dataclass(frozen=True)
class RouteHints:
    tool_name: str | None = None
    tool_args: Mapping[str, Any] | None = None


def looks_like_json(text: str) -> bool:
    stripped = text.strip()
    if len(stripped) < 2 or stripped[0] not in "[{" or stripped[-1] not in "]}":
        return False
    try:
        orjson.loads(stripped)
    except orjson.JSONDecodeError:
        return False
    return True


def route(text: str, hints: RouteHints | None = None) -> list[Segment]:
    """Split `text` into typed segments (usually one)."""
    if looks_like_json(text):
        return [Segment("json", text)]
    return [Segment("text", text)]
