"""Compress one tool result (the content of a `ToolMessage`) with the engine.

The policy (minimum size, default query from the tool's arguments, counting each text
once) is `headroom_core.compress_text`'s; this module only walks LangChain's content
shapes (a str, or a list of str / `{"type": "text"}` blocks beside images and others).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from headroom_core import HeadroomConfig, compress_text

logger = logging.getLogger("headroom.langchain")


@dataclass(frozen=True)
class ToolOutputResult:
    content: Any
    """The content to send to the model: a str, or the original block list with text
    blocks compressed."""
    tokens_before: int
    tokens_after: int
    ccr_keys: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return self.tokens_after < self.tokens_before


def output_text(output: Any) -> str:
    """The text LangChain would put in a `ToolMessage` for a non-message tool output."""
    if isinstance(output, str):
        return output
    try:
        return json.dumps(output, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        logger.debug("tool output is not JSON-serialisable (%s): compressing its str()", exc)
        return str(output)


def compress_tool_content(
    content: Any,
    *,
    model: str,
    config: HeadroomConfig | None,
    query: str | None = None,
    tool_name: str | None = None,
    tool_args: Mapping[str, Any] | None = None,
) -> ToolOutputResult:
    """Compress a tool result's text parts; images and other blocks pass through."""

    def one(text: str) -> tuple[str, int, int, tuple[str, ...]]:
        result = compress_text(
            text, model=model, query=query, config=config, tool_name=tool_name, tool_args=tool_args
        )
        return result.text, result.tokens_before, result.tokens_after, result.ccr_keys

    if isinstance(content, list):
        blocks: list[Any] = []
        keys: list[str] = []
        before = after = 0
        for block in content:
            if isinstance(block, str):
                text, b, a, k = one(block)
                blocks.append(text)
            elif (
                isinstance(block, Mapping)
                and block.get("type") == "text"
                and isinstance(block.get("text"), str)
            ):
                text, b, a, k = one(block["text"])
                blocks.append({**block, "text": text} if text != block["text"] else block)
            else:
                blocks.append(block)
                continue
            before, after = before + b, after + a
            keys.extend(k)
        if after >= before:
            return ToolOutputResult(content, before, before, ())
        return ToolOutputResult(blocks, before, after, tuple(dict.fromkeys(keys)))
    text, before, after, text_keys = one(output_text(content))
    return ToolOutputResult(text, before, after, text_keys)
