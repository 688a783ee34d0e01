"""`HeadroomCallbackHandler`: the meter. It measures; it does not compress.

LangChain hands callback handlers a *copy* of the messages, so a handler cannot change
what the model receives. Compression is done by `HeadroomRunnable` (LCEL),
`HeadroomMiddleware` (agents) or wrapped tools; they report what they saved through a
custom event that this handler collects, next to what it measures itself:

- tokens sent on each chat-model call (counted with Headroom's tokenizer),
- `usage_metadata` reported by the provider in each response,
- cost per model from Headroom's accounting core (`headroom_core._accounting`: the price
  table shipped with the package, cache reads and writes included), the same figures the
  proxy reports for the same call,
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

from headroom_core import DEFAULT_MODEL, count_tokens
from headroom_core._accounting import Price, PriceTable, Usage, account_call, default_prices, parse_usage
from headroom_integrations.langchain._events import EVENT_NAME
from headroom_integrations.langchain._messages import content_text, count_message_tokens

DEFAULT_PRICING: dict[str, tuple[float, float]] = {
    name: (price.input, price.output)
    for name in default_prices().models()
    if (price := default_prices().lookup(name)) is not None
}
"""USD per million (input, output) tokens: a view of the accounting core's shipped table
(`headroom_core/data/prices.json`, which also has cache read/write prices). Model ids match
exactly, after dropping deployment parts (provider prefix, Bedrock/Vertex decorations, a dated
snapshot suffix); a name the table does not know is unpriced."""


UNKNOWN_MODEL = "unknown"
"""The name a chat model is reported under when it does not say which model it is."""


@dataclass
class ModelStats:
    calls: int = 0
    tokens_sent: int = 0
    """Prompt tokens as Headroom counts them, summed over calls."""
    input_tokens: int = 0
    """From the provider's `usage_metadata` (0 when the provider reports none)."""
    output_tokens: int = 0
    cost_usd: float = 0.0
    """0.0 when the model is unpriced (see `priced`)."""
    priced: bool = True
    """False when the pricing table has no entry for this model: its cost is unknown, not 0."""


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


def _table(pricing: Mapping[str, tuple[float, float]] | PriceTable | None) -> PriceTable:
    """The accounting core's table, or one built from a `{model: (input, output)}` mapping
    (cached input then bills as input: the mapping has no cache prices)."""
    if pricing is None:
        return default_prices()
    if isinstance(pricing, PriceTable):
        return pricing
    return PriceTable({name: Price(p[0], p[1], p[0], p[0]) for name, p in pricing.items()})


def _price(pricing: PriceTable, model: str) -> tuple[float, float] | None:
    price = pricing.lookup(model)
    return (price.input, price.output) if price is not None else None


def _model_from(serialized: Mapping[str, Any] | None, kwargs: Mapping[str, Any]) -> str | None:
    params = kwargs.get("invocation_params") or {}
    metadata = kwargs.get("metadata") or {}
    for value in (params.get("model"), params.get("model_name"), metadata.get("ls_model_name")):
        if isinstance(value, str) and value:
            return value
    kw = (serialized or {}).get("kwargs") or {}
    for value in (kw.get("model"), kw.get("model_name")):
        if isinstance(value, str) and value:
            return value
    return None


class HeadroomCallbackHandler(BaseCallbackHandler):
    """Collects token, cost and savings figures across a run (thread-safe).

    Args:
        pricing: None for Headroom's shipped price table (see `headroom_core._accounting`;
            `$HEADROOM_PRICES` extends it), a `PriceTable`, or a mapping of model id ->
            (USD per 1M input tokens, USD per 1M output tokens).
        default_model: the tokenizer used to count prompts of chat models that do not say
            which model they are, or whose name Headroom cannot price. Such a model is
            reported under its own name (or `UNKNOWN_MODEL`) as unpriced: never priced as
            some other model.

    A tool wrapped by `wrap_tools` / `compress_tool_output` runs the original tool inside
    itself; the handler counts that as one call whose output is what the model received.
    """

    def __init__(
        self,
        pricing: Mapping[str, tuple[float, float]] | PriceTable | None = None,
        default_model: str = DEFAULT_MODEL,
    ) -> None:
        super().__init__()
        self.pricing = _table(pricing)
        self.default_model = default_model
        self._lock = threading.Lock()
        self._state = _State()
        self._pending: dict[UUID, tuple[str, int]] = {}
        self._tools: dict[UUID, str] = {}
        self._inner_tools: set[UUID] = set()
        """Runs of a tool inside its Headroom wrapper (same name, parent is the wrapper)."""

    def reset(self) -> None:
        with self._lock:
            self._state = _State()
            self._pending.clear()
            self._tools.clear()
            self._inner_tools.clear()

    # ------------------------------------------------------------------ model calls

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], *, run_id: UUID, **kwargs: Any
    ) -> None:
        model = _model_from(serialized, kwargs) or UNKNOWN_MODEL
        # Names the pricing table does not know (fake or custom models) are counted with the
        # default tokenizer; that choice affects the token count only, never the price.
        counting_model = model if _price(self.pricing, model) else self.default_model
        sent = sum(count_message_tokens(batch, counting_model) for batch in messages)
        with self._lock:
            self._pending[run_id] = (model, sent)

    def on_llm_start(
        self, serialized: dict[str, Any], prompts: list[str], *, run_id: UUID, **kwargs: Any
    ) -> None:
        model = _model_from(serialized, kwargs) or UNKNOWN_MODEL
        sent = sum(count_tokens(p, self.default_model) for p in prompts)
        with self._lock:
            self._pending[run_id] = (model, sent)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        input_tokens = output_tokens = 0
        billed: Usage | None = None
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
                    parsed = parse_usage(usage)
                    if parsed is not None:
                        billed = parsed if billed is None else billed + parsed
        with self._lock:
            model, sent = self._pending.pop(run_id, (UNKNOWN_MODEL, 0))
            stats = self._state.models.setdefault(model, ModelStats())
            stats.calls += 1
            stats.tokens_sent += sent
            stats.input_tokens += input_tokens
            stats.output_tokens += output_tokens
            # Provider usage when reported (cache reads/writes at their own prices), else our
            # own count of what was sent. The same core prices the proxy's requests.
            if billed is None or not billed.prompt_tokens:
                billed = Usage(sent, output_tokens)
            cost = account_call(model, billed, prices=self.pricing).cost_usd
            if cost is not None:
                stats.cost_usd += cost
            else:
                stats.priced = False
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
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        name = (serialized or {}).get("name") or kwargs.get("name") or "tool"
        with self._lock:
            self._tools[run_id] = name
            if parent_run_id is not None and self._tools.get(parent_run_id) == name:
                # The original tool running inside its Headroom wrapper: the wrapper's run is
                # the call the model made, and its output is what the model received.
                self._inner_tools.add(run_id)
                return
            self._state.tools.setdefault(name, ToolStats()).calls += 1

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            name = self._tools.pop(run_id, kwargs.get("name") or "tool")
            if run_id in self._inner_tools:
                self._inner_tools.discard(run_id)
                return
        content = output.content if isinstance(output, ToolMessage) else output
        text = content_text(content) if isinstance(content, (str, list)) else str(content)
        tokens = count_tokens(text, self.default_model)
        with self._lock:
            self._state.tools.setdefault(name, ToolStats()).output_tokens += tokens

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            name = self._tools.pop(run_id, kwargs.get("name") or "tool")
            if run_id in self._inner_tools:  # the wrapper reports the same error itself
                self._inner_tools.discard(run_id)
                return
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
            total_sent = sum(c["tokens_sent"] for c in s.calls) or 1
            for call in s.calls:
                price = _price(self.pricing, call["model"])
                if price and s.tokens_before:
                    # Savings are spread over calls in proportion to what each one sent.
                    cost_saved += saved * call["tokens_sent"] / total_sent * price[0] / 1e6
            return {
                "model_calls": sum(m.calls for m in s.models.values()),
                "tokens_sent": sum(m.tokens_sent for m in s.models.values()),
                "input_tokens": sum(m.input_tokens for m in s.models.values()),
                "output_tokens": sum(m.output_tokens for m in s.models.values()),
                "cost_usd": round(sum(m.cost_usd for m in s.models.values()), 6),
                "unpriced_models": sorted(k for k, m in s.models.items() if not m.priced),
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
