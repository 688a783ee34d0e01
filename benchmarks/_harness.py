"""The benchmark harness: workloads in, one table of figures out.

Each module in `benchmarks/workloads/` exposes `workloads() -> list[Workload]`. For every
workload the harness reports tokens before/after, share saved against its target, needle
retention (a needle is *kept* if it is in the compressed messages, *retrievable* if kept
or found in the original behind one of the result's CCR keys), the median time of a cold
`compress` call and, as the baseline measured in the same run, the median time of one
tiktoken encode of the same input.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from headroom_core import HeadroomConfig, MemoryCCRStore, compress, get_tokenizer, retrieve
from headroom_core._messages import message_text


@dataclass
class Workload:
    name: str
    messages: list[dict[str, Any]]
    target_saved: float
    """Share of tokens that must be saved, e.g. 0.9."""
    needles: list[str] = field(default_factory=list)
    """Strings that must survive (kept in the output, or at worst retrievable through CCR)."""
    query: str | None = None
    source: str = "generated"
    """'generated' or 'real: <corpus file>'."""
    issue: int = 2
    token_budget: int | None = None
    config: HeadroomConfig | None = None
    model: str = "gpt-4o"
    check: Callable[[Any], str | None] | None = None
    """Optional extra check on the CompressResult; returns an error text or None."""


@dataclass
class Row:
    name: str
    issue: int
    source: str
    tokens_before: int
    tokens_after: int
    saved: float
    target: float
    needles: int
    kept: int
    retrievable: int
    compress_ms: float
    tiktoken_ms: float
    input_mb: float
    check_error: str | None = None

    @property
    def passed(self) -> bool:
        return self.saved >= self.target and self.kept == self.needles and self.check_error is None


def _median_ms(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _clear_image_decisions() -> None:
    try:
        from headroom_core.images import DECISIONS
    except ModuleNotFoundError:  # the [image] extra (Pillow) is not installed: nothing cached
        return
    DECISIONS.clear()


def run_workload(w: Workload, repeats: int = 3) -> Row:
    base = w.config or HeadroomConfig()
    text = "\n".join(message_text(m) for m in w.messages)
    tokenizer = get_tokenizer("gpt-4o")
    tokenizer.count("warm-up")

    def once() -> Any:
        # Cold: a fresh store each call, so no stash is skipped as already present, and
        # no image decision remembered from the previous call (that is a repeat's time).
        _clear_image_decisions()
        cfg = base.with_(ccr_store=MemoryCCRStore())
        return compress(w.messages, w.model, query=w.query, config=cfg, token_budget=w.token_budget)

    result = once()
    compress_ms = _median_ms(once, repeats)
    tiktoken_ms = _median_ms(lambda: tokenizer.encoding.encode_ordinary(text), repeats)
    store = MemoryCCRStore()
    result = compress(
        w.messages, w.model, query=w.query, config=base.with_(ccr_store=store), token_budget=w.token_budget
    )
    out_text = "\n".join(message_text(m) for m in result.messages)
    originals = []
    for key in result.ccr_keys:
        with contextlib.suppress(Exception):
            originals.append(retrieve(key, store=store))
    kept = sum(1 for n in w.needles if n in out_text)
    retrievable = sum(1 for n in w.needles if n in out_text or any(n in o for o in originals))
    return Row(
        name=w.name,
        issue=w.issue,
        source=w.source,
        tokens_before=result.tokens_before,
        tokens_after=result.tokens_after,
        saved=result.compression_ratio,
        target=w.target_saved,
        needles=len(w.needles),
        kept=kept,
        retrievable=retrievable,
        compress_ms=compress_ms,
        tiktoken_ms=tiktoken_ms,
        input_mb=len(text.encode("utf-8", "surrogatepass")) / 1e6,
        check_error=w.check(result) if w.check else None,
    )


def tool_conversation(
    question: str, tool_name: str, output: str, args: dict[str, Any] | None = None, call_id: str = "call_1"
) -> list[dict[str, Any]]:
    """A minimal OpenAI-format agent turn: question, tool call, tool result."""
    return [
        {"role": "system", "content": "You are a careful engineering assistant."},
        {"role": "user", "content": question},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": tool_name, "arguments": orjson.dumps(args or {}).decode()},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": output},
    ]
