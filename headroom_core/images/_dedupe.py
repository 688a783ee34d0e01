"""`dedupe_images`: later copies of an image become a short reference to the first one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from headroom_core._messages import copy_messages, iter_slots
from headroom_core.images import _codec
from headroom_core.images._compress import payload_digest, reference_text


def dedupe_images(
    messages: Sequence[Mapping[str, Any]], ctx: Any | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """(a copy of `messages` with repeated images replaced by text references, CCR keys).

    Images are the same when their payloads (base64 data, or URL) are identical. The
    first copy stays; every later one becomes a text part naming it by number. With a
    context whose CCR is on, the original block is stashed and the reference carries
    its retrieval key. `compress()` does the same per call through `compress_image_block`.
    """
    out = copy_messages(messages)
    first: dict[str, tuple[int, str | None]] = {}
    keys: list[str] = []
    for slot in iter_slots(out):
        if slot.kind != "image":
            continue
        block = slot.get()
        ref = _codec.locate(block) if isinstance(block, Mapping) else None
        digest = payload_digest(ref) if ref is not None else None
        if digest is None:
            continue
        if digest not in first:
            first[digest] = (len(first) + 1, None)
            continue
        number, key = first[digest]
        if key is None and ctx is not None and ctx.can_drop:
            key = ctx.stash(orjson.dumps(block).decode(), "image")
            first[digest] = (number, key)
            keys.append(key)
        slot.set({"type": "text", "text": reference_text(number, key)})
    return out, keys
