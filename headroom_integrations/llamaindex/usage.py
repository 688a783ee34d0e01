"""`HeadroomUsageHandler`: token and cost figures for LlamaIndex LLM calls, from Headroom's
accounting core, so they match what the LangChain handler and the proxy report for the same call.

    from llama_index.core.instrumentation import get_dispatcher
    handler = HeadroomUsageHandler()
    get_dispatcher().add_event_handler(handler)
    ...  # run queries, agents
    print(handler.summary())

It listens to LlamaIndex's instrumentation events (`LLMChatStartEvent` / `LLMChatEndEvent`, and
the completion ones): the model comes from the start event, the provider's usage from the
response's `raw` (OpenAI, Anthropic and Gemini shapes) or `additional_kwargs`. It measures only;
compression is done by the postprocessor, memory and tools of this package.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Mapping
from typing import Any

from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.llm import (
    LLMChatEndEvent,
    LLMChatStartEvent,
    LLMCompletionEndEvent,
    LLMCompletionStartEvent,
)
from pydantic import PrivateAttr

from headroom_core import DEFAULT_MODEL, count_tokens
from headroom_core._accounting import PriceTable, Usage, account_call, default_prices, parse_usage

UNKNOWN_MODEL = "unknown"

# The LLM call running in this context, as (span id, "chat" or "completion"): LlamaIndex reports
# a chat made through `complete()` (or the reverse) as two nested calls of different kinds; only
# the outer one is the provider call. A call of the same kind is never nested, so it also clears
# the mark a failed call (which sends no end event) may have left.
_active_call: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "headroom_li_llm_call", default=None
)


def _plain(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return dump()
        except Exception:
            return None
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        try:
            return to_dict()
        except Exception:
            return None
    return value


def usage_of_response(response: Any) -> Usage | None:
    """The provider's usage carried by a LlamaIndex `ChatResponse` / `CompletionResponse`."""
    if response is None:
        return None
    raw = _plain(getattr(response, "raw", None))
    if isinstance(raw, Mapping):
        for block in (raw.get("usage"), raw.get("usage_metadata"), raw.get("usageMetadata")):
            usage = parse_usage(_plain(block))
            if usage is not None:
                return usage
    extra = getattr(response, "additional_kwargs", None)
    if isinstance(extra, Mapping):
        usage = parse_usage(extra)  # OpenAI-style prompt_tokens/completion_tokens
        if usage is not None:
            return usage
    return None


def _model_of(model_dict: Any) -> str:
    if isinstance(model_dict, Mapping):
        for key in ("model", "model_name"):
            value = model_dict.get(key)
            if isinstance(value, str) and value:
                return value
    return UNKNOWN_MODEL


class HeadroomUsageHandler(BaseEventHandler):
    """Collects per-model calls, tokens and cost across LlamaIndex LLM calls (thread-safe)."""

    _prices: PriceTable = PrivateAttr()
    _default_model: str = PrivateAttr()
    _lock: Any = PrivateAttr()
    _pending: dict = PrivateAttr()
    _models: dict = PrivateAttr()
    _calls: list = PrivateAttr()

    def __init__(
        self, prices: PriceTable | None = None, default_model: str = DEFAULT_MODEL, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._prices = prices if prices is not None else default_prices()
        self._default_model = default_model
        self._lock = threading.Lock()
        self._pending = {}
        self._models = {}
        self._calls = []

    @classmethod
    def class_name(cls) -> str:
        return "HeadroomUsageHandler"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        try:
            if isinstance(event, (LLMChatStartEvent, LLMCompletionStartEvent)):
                self._start(event)
            elif isinstance(event, (LLMChatEndEvent, LLMCompletionEndEvent)):
                self._end(event)
        except Exception:  # a meter never fails the user's call
            return

    def _start(self, event: Any) -> None:
        kind = "chat" if isinstance(event, LLMChatStartEvent) else "completion"
        active = _active_call.get()
        if active is not None and active[1] != kind:
            return  # nested in a call already being measured
        if active is not None:
            with self._lock:
                self._pending.pop(active[0], None)  # that call failed: no end event came
        _active_call.set((event.span_id, kind))
        model = _model_of(getattr(event, "model_dict", None))
        counting = model if model in self._prices else self._default_model
        if isinstance(event, LLMChatStartEvent):
            text = "\n".join(str(m.content or "") for m in event.messages)
        else:
            text = str(getattr(event, "prompt", "") or "")
        sent = count_tokens(text, counting) if text else 0
        with self._lock:
            self._pending[event.span_id] = (model, sent)

    def _end(self, event: Any) -> None:
        active = _active_call.get()
        if active is None or active[0] != event.span_id:
            return  # the inner half of a nested call
        _active_call.set(None)
        usage = usage_of_response(getattr(event, "response", None))
        with self._lock:
            model, sent = self._pending.pop(event.span_id, (UNKNOWN_MODEL, 0))
        billed = (
            usage
            if usage is not None and usage.prompt_tokens
            else Usage(sent, usage.output_tokens if usage else 0)
        )
        account = account_call(model, billed, prices=self._prices)
        with self._lock:
            stats = self._models.setdefault(
                model,
                {
                    "calls": 0,
                    "tokens_sent": 0,
                    "input_tokens": 0,
                    "output_tokens": 0,
                    "cost_usd": 0.0,
                    "priced": True,
                },
            )
            stats["calls"] += 1
            stats["tokens_sent"] += sent
            stats["input_tokens"] += usage.prompt_tokens if usage is not None else 0
            stats["output_tokens"] += usage.output_tokens if usage is not None else 0
            if account.cost_usd is None:
                stats["priced"] = False
            else:
                stats["cost_usd"] += account.cost_usd
            self._calls.append(
                {
                    "model": model,
                    "tokens_sent": sent,
                    "usage": usage.as_dict() if usage is not None else None,
                    "cost_usd": account.cost_usd,
                    "pricing": account.pricing,
                }
            )

    def reset(self) -> None:
        with self._lock:
            self._pending.clear()
            self._models.clear()
            self._calls.clear()

    def summary(self) -> dict[str, Any]:
        """All figures so far, as plain data."""
        with self._lock:
            models = {k: dict(v) for k, v in sorted(self._models.items())}
            return {
                "model_calls": sum(m["calls"] for m in models.values()),
                "tokens_sent": sum(m["tokens_sent"] for m in models.values()),
                "input_tokens": sum(m["input_tokens"] for m in models.values()),
                "output_tokens": sum(m["output_tokens"] for m in models.values()),
                "cost_usd": round(sum(m["cost_usd"] for m in models.values()), 6),
                "unpriced_models": sorted(k for k, m in models.items() if not m["priced"]),
                "models": models,
                "calls": [dict(c) for c in self._calls],
            }
