"""Compression reports sent through LangChain's callback system as custom events.

The Runnable, the middleware and the wrapped tools report what they saved with a custom
event named `EVENT_NAME`; `HeadroomCallbackHandler.on_custom_event` collects them. Outside
a run (no parent run to attach the event to) there is nobody to tell, so nothing is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks.manager import adispatch_custom_event, dispatch_custom_event
from langchain_core.runnables import RunnableConfig

EVENT_NAME = "headroom_compression"
logger = logging.getLogger("headroom.langchain")


def _payload(
    source: str,
    tokens_before: int,
    tokens_after: int,
    model: str,
    ccr_keys: Sequence[str],
    tool_name: str | None,
) -> dict[str, Any]:
    return {
        "source": source,
        "model": model,
        "tokens_before": tokens_before,
        "tokens_after": tokens_after,
        "tokens_saved": tokens_before - tokens_after,
        "ccr_keys": list(ccr_keys),
        "tool_name": tool_name,
    }


def report(
    source: str,
    tokens_before: int,
    tokens_after: int,
    *,
    model: str,
    ccr_keys: Sequence[str] = (),
    tool_name: str | None = None,
    config: RunnableConfig | None = None,
) -> dict[str, Any]:
    """Send one compression report (sync code paths)."""
    data = _payload(source, tokens_before, tokens_after, model, ccr_keys, tool_name)
    try:
        dispatch_custom_event(EVENT_NAME, data, config=config)
    except RuntimeError:  # not inside a run: no parent to attach to, nobody listening
        logger.debug("compression report not dispatched: called outside a LangChain run")
    return data


async def areport(
    source: str,
    tokens_before: int,
    tokens_after: int,
    *,
    model: str,
    ccr_keys: Sequence[str] = (),
    tool_name: str | None = None,
    config: RunnableConfig | None = None,
) -> dict[str, Any]:
    """Send one compression report (async code paths)."""
    data = _payload(source, tokens_before, tokens_after, model, ccr_keys, tool_name)
    try:
        await adispatch_custom_event(EVENT_NAME, data, config=config)
    except RuntimeError:  # not inside a run: no parent to attach to, nobody listening
        logger.debug("compression report not dispatched: called outside a LangChain run")
    return data
