"""`HeadroomCallbackHandler`: the meter. It measures; it does not compress.

LangChain hands callback handlers a *copy* of the messages, so a handler cannot change
what the model receives. Compression is done by `HeadroomRunnable` (LCEL),
`HeadroomMiddleware` (agents) or wrapped tools; they report what they saved through a
custom event that this handler collects, next to what it measures itself:

- tokens sent on each chat-model call (counted with Headroom's tokenizer),
- `usage_metadata` reported by the provider in each response,
- cost per model from a pricing table (USD per million input / output tokens),
- per-tool calls, output sizes and errors,
- tokens saved by Headroom in the run.

    handler = HeadroomCallbackHandler()
    agent.invoke(inputs, config={"callbacks": [handler]})
    print(handler.summary())
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from headroom_core import count_tokens
from headroom_integrations.langchain._events import EVENT_NAME
from headroom_integrations.langchain._messages import content_text, count_message_tokens

DEFAULT_PRICING: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "o3": (2.00, 8.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-opus-4": (15.00, 75.00),
    "claude-haiku-4": (1.00, 5.00),
}
"""USD per million (input, output) tokens, matched by longest model-name prefix. A snapshot
for estimates; pass your own table for billing-grade figures."""


@dataclass
class ModelStats:
    calls: int = 0
    tokens_sent: int = 0
    """Prompt tokens as Headroom counts them, summed over calls."""
    input_tokens: int = 0
    """From the provider's `usage_metadata` (0 when the provider reports none)."""
    output_tokens: int = 0
    cost_usd: float = 0.0


@dataclass
class ToolStats:
    calls: int = 0
    errors: int = 0
    output_tokens: int = 0
    """Tokens of what the tool returned (as it reached the callback)."""
    tokens_saved: int = 0
    """Tokens Headroom removed from this tool's results."""


@dataclass
class _State:
    models: dict[str, ModelStats] = field(default_factory=dict)
    tools: dict[str, ToolStats] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)
    tokens_before: int = 0
    tokens_after: int = 0
    compressions: int = 0
    by_source: dict[str, int] = field(default_factory=dict)


def _price(pricing: Mapping[str, tuple[float, float]], model: str) -> tuple[float, float] | None:
    best = None
    for prefix, price in pricing.items():
        if model.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, price)
    return best[1] if best else None


def _model_from(serialized: Mapping[str, Any] | None, kwargs: Mapping[str, Any], default: str) -> str:
    params = kwargs.get("invocation_params") or {}
    metadata = kwargs.get("metadata") or {}
    for value in (params.get("model"), params.get("model_name"), metadata.get("ls_model_name")):
        if isinstance(value, str) and value:
            return value
    kw = (serialized or {}).get("kwargs") or {}
    for value in (kw.get("model"), kw.get("model_name")):
        if isinstance(value, str) and value:
            return value
    return default


class HeadroomCallbackHandler(BaseCallbackHandler):
    """Collects token, cost and savings figures across a run (thread-safe).

    Args:
        pricing: model-name prefix -> (USD per 1M input tokens, USD per 1M output tokens).
        default_model: the model name used when a chat model does not say which it is
            (fake and custom models), for counting and pricing.
    """

    def __init__(
        self, pricing: Mapping[str, tuple[float, float]] | None = None, default_model: str = "gpt-4o"
    ) -> None:
        super().__init__()
        self.pricing = dict(DEFAULT_PRICING if pricing is None else pricing)
        self.default_model = default_model
        self._lock = threading.Lock()
        self._state = _State()
        self._pending: dict[UUID, tuple[str, int]] = {}
        self._tools: dict[UUID, str] = {}

    def reset(self) -> None:
        with self._lock:
            self._state = _State()
            self._pending.clear()
            self._tools.clear()

    # ------------------------------------------------------------------ model calls

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], *, run_id: UUID, **kwargs: Any
    ) -> None:
        model = _model_from(serialized, kwargs, self.default_model)
        # Unknown names (fake or custom models) are counted as the default model.
        counting_model = model if _price(self.pricing, model) else self.default_model
        sent = sum(count_message_tokens(batch, counting_model) for batch in messages)
        with self._lock:
            self._pending[run_id] = (model, sent)

    def on_llm_start(
        self, serialized: dict[str, Any], prompts: list[str], *, run_id: UUID, **kwargs: Any
    ) -> None:
        model = _model_from(serialized, kwargs, self.default_model)
        sent = sum(count_tokens(p, self.default_model) for p in prompts)
        with self._lock:
            self._pending[run_id] = (model, sent)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        input_tokens = output_tokens = 0
        for generations in response.generations:
            for generation in generations:
                usage = (
                    getattr(generation.message, "usage_metadata", None)
                    if isinstance(generation, ChatGeneration)
                    else None
                )
                if usage:
                    input_tokens += int(usage.get("input_tokens", 0))
                    output_tokens += int(usage.get("output_tokens", 0))
        with self._lock:
            model, sent = self._pending.pop(run_id, (self.default_model, 0))
            stats = self._state.models.setdefault(model, ModelStats())
            stats.calls += 1
            stats.tokens_sent += sent
            stats.input_tokens += input_tokens
            stats.output_tokens += output_tokens
            price = _price(self.pricing, model)
            cost = 0.0
            if price is not None:
                # Provider usage when reported, else our own count of what was sent.
                cost = ((input_tokens or sent) * price[0] + output_tokens * price[1]) / 1e6
            stats.cost_usd += cost
            self._state.calls.append(
                {
                    "model": model,
                    "tokens_sent": sent,
                    "input_tokens": input_tokens,
                    "output_tokens": output_tokens,
                    "cost_usd": cost,
                }
            )

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            self._pending.pop(run_id, None)

    # ------------------------------------------------------------------ tools

    def on_tool_start(
        self, serialized: dict[str, Any], input_str: str, *, run_id: UUID, **kwargs: Any
    ) -> None:
        name = (serialized or {}).get("name") or "tool"
        with self._lock:
            self._tools[run_id] = name
            self._state.tools.setdefault(name, ToolStats()).calls += 1

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        content = output.content if isinstance(output, ToolMessage) else output
        text = content_text(content) if isinstance(content, (str, list)) else str(content)
        tokens = count_tokens(text, self.default_model)
        with self._lock:
            name = self._tools.pop(run_id, kwargs.get("name") or "tool")
            self._state.tools.setdefault(name, ToolStats()).output_tokens += tokens

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            name = self._tools.pop(run_id, kwargs.get("name") or "tool")
            self._state.tools.setdefault(name, ToolStats()).errors += 1

    # ------------------------------------------------------------------ Headroom reports

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kwargs: Any) -> None:
        if name != EVENT_NAME or not isinstance(data, Mapping):
            return
        before, after = int(data.get("tokens_before", 0)), int(data.get("tokens_after", 0))
        with self._lock:
            self._state.compressions += 1
            self._state.tokens_before += before
            self._state.tokens_after += after
            source = str(data.get("source", "unknown"))
            self._state.by_source[source] = self._state.by_source.get(source, 0) + before - after
            tool = data.get("tool_name")
            if tool:
                self._state.tools.setdefault(str(tool), ToolStats()).tokens_saved += before - after

    # ------------------------------------------------------------------ results

    @property
    def tokens_saved(self) -> int:
        with self._lock:
            return self._state.tokens_before - self._state.tokens_after

    def summary(self) -> dict[str, Any]:
        """All figures so far, as plain data (safe to print, log or serialize)."""
        with self._lock:
            s = self._state
            saved = s.tokens_before - s.tokens_after
            cost_saved = 0.0
            for call in s.calls:
                price = _price(self.pricing, call["model"])
                if price and s.tokens_before:
                    # Savings are spread over calls in proportion to what each one sent.
                    total_sent = sum(c["tokens_sent"] for c in s.calls) or 1
                    cost_saved += saved * call["tokens_sent"] / total_sent * price[0] / 1e6
            return {
                "model_calls": sum(m.calls for m in s.models.values()),
                "tokens_sent": sum(m.tokens_sent for m in s.models.values()),
                "input_tokens": sum(m.input_tokens for m in s.models.values()),
                "output_tokens": sum(m.output_tokens for m in s.models.values()),
                "cost_usd": round(sum(m.cost_usd for m in s.models.values()), 6),
                "compressions": s.compressions,
                "tokens_before_compression": s.tokens_before,
                "tokens_after_compression": s.tokens_after,
                "tokens_saved": saved,
                "savings_ratio": saved / s.tokens_before if s.tokens_before else 0.0,
                "tokens_saved_by_source": dict(sorted(s.by_source.items())),
                "estimated_cost_saved_usd": round(cost_saved, 6),
                "calls": [dict(c) for c in s.calls],
                "models": {k: vars(v).copy() for k, v in sorted(s.models.items())},
                "tools": {k: vars(v).copy() for k, v in sorted(s.tools.items())},
            }
