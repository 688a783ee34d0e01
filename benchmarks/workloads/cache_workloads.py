"""Prompt-cache economics of a 30-turn agent session (issue 11 §1).

An agent loop re-sends the whole conversation on every turn; providers bill the part
that repeats the previous request (a byte-identical prefix) at a fraction of the input
price. Compression that changes an old message from one turn to the next would turn
those cheap cache reads into expensive cache writes. This workload replays the session
turn by turn (one request after each tool result), in Anthropic format, and reports for
each configuration:

- tokens sent: the sum over requests of the request's tokens;
- cacheable tokens: per request, the tokens of the leading messages that are byte for
  byte the previous request's messages (the prefix a provider cache can serve);
- the bill under Anthropic's prompt-caching prices, assuming a cache breakpoint at the
  end of every request: cacheable tokens are cache reads, the rest cache writes.

Prices: Claude Sonnet 4 (`claude-sonnet-4`), input $3.00 per million tokens; prompt
caching (5-minute TTL) writes at 1.25x the input price ($3.75/MTok) and reads at 0.1x
($0.30/MTok), as published on https://www.anthropic.com/pricing (prices of 2025, used
here on 2026-11-29). Token counts are Headroom's own for that model (o200k_base with the
Claude correction factor), so the dollar figures are estimates; the comparison between
configurations is what the check enforces: every Headroom configuration must cost less
than sending the session as it is. Output tokens are the same in every configuration
and left out. Anthropic's 1,024-token cache minimum and 20-block lookback are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson

from benchmarks._harness import Workload
from benchmarks.workloads.context_workloads import agent_session, to_anthropic
from headroom_core import HeadroomConfig, MemoryCCRStore, compress, count_tokens
from headroom_core._config import ContextConfig

MODEL = "claude-sonnet-4"
PRICE_DATE = "2026-11-29"
INPUT_USD_PER_MTOK = 3.00
CACHE_WRITE_MULTIPLIER = 1.25
CACHE_READ_MULTIPLIER = 0.10
TURNS = 30
BUDGET = 6_000
"""Token budget of the budgeted configuration (the compressed session outgrows it)."""


@dataclass(frozen=True)
class Replay:
    label: str
    requests: int
    tokens_sent: int
    cacheable: int
    usd: float
    checked: bool = True
    """False for the contrast row: must not be required to beat the baseline."""

    @property
    def cached_share(self) -> float:
        return self.cacheable / self.tokens_sent if self.tokens_sent else 0.0


def session() -> list[dict[str, Any]]:
    messages, _ = agent_session(TURNS, seed=11, needles=0)
    return to_anthropic(messages)


def _request_ends(messages: list[dict[str, Any]]) -> list[int]:
    """After every message that carries a tool result (the agent sends a request then)."""
    ends = []
    for i, m in enumerate(messages):
        content = m.get("content")
        if isinstance(content, list) and any(
            isinstance(b, dict) and b.get("type") == "tool_result" for b in content
        ):
            ends.append(i + 1)
    return ends


def _bill(requests: list[list[dict[str, Any]]], label: str, checked: bool = True) -> Replay:
    sent = cacheable = 0
    usd = 0.0
    previous: list[bytes] = []
    memo: dict[str, int] = {}
    for messages in requests:
        encoded = [orjson.dumps(m) for m in messages]
        same = 0
        while same < min(len(encoded), len(previous)) and encoded[same] == previous[same]:
            same += 1
        total = count_tokens(messages, MODEL, memo=memo)
        hit = count_tokens(messages[:same], MODEL, memo=memo) if same else 0
        sent += total
        cacheable += hit
        usd += (
            (hit * CACHE_READ_MULTIPLIER + (total - hit) * CACHE_WRITE_MULTIPLIER) * INPUT_USD_PER_MTOK / 1e6
        )
        previous = encoded
    return Replay(label, len(requests), sent, cacheable, usd, checked)


@cache
def replays() -> tuple[Replay, ...]:
    """The session replayed as it is, through Headroom, and through Headroom with a budget."""
    messages = session()
    ends = _request_ends(messages)
    out = [_bill([messages[:end] for end in ends], "no Headroom")]
    configs = [
        ("Headroom", None, True),
        ("Headroom, token budget (default 'stable' strategy)", ContextConfig(), True),
        # Contrast, not a supported way to run an agent loop: per-call fitting re-decides
        # every turn (documented on ContextConfig.strategy), which is what 'stable' fixes.
        (
            "contrast: token budget with per-call 'importance' fitting",
            ContextConfig(strategy="importance"),
            False,
        ),
    ]
    for label, context, checked in configs:
        store = MemoryCCRStore()
        config = HeadroomConfig(ccr_store=store, context=context or ContextConfig())
        budget = BUDGET if context is not None else None
        requests = [
            compress(messages[:end], MODEL, config=config, token_budget=budget).messages for end in ends
        ]
        out.append(_bill(requests, label, checked))
    return tuple(out)


def _check(_result: Any) -> str | None:
    rows = replays()
    baseline = rows[0]
    for row in rows[1:]:
        if row.checked and row.usd >= baseline.usd:
            return f"{row.label} costs ${row.usd:.4f}, not less than no Headroom (${baseline.usd:.4f})"
    return None


def workloads() -> list[Workload]:
    messages = session()
    return [
        Workload(
            name=f"cache: {TURNS}-turn agent session, final request",
            messages=messages,
            target_saved=0.4,
            issue=11,
            model=MODEL,
            check=_check,
        )
    ]


def extra_reports() -> list[str]:
    lines = [
        "### Prompt caching: a 30-turn agent session replayed turn by turn",
        "",
        f"Anthropic format, {MODEL}: input ${INPUT_USD_PER_MTOK:.2f}/MTok, cache write "
        f"{CACHE_WRITE_MULTIPLIER}x, cache read {CACHE_READ_MULTIPLIER}x (published prices, used on "
        f"{PRICE_DATE}); budget {BUDGET:,} tokens where named.",
        "",
        "| configuration | requests | tokens sent | cacheable (prefix of previous request) | share | bill (USD) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in replays():
        lines.append(
            f"| {r.label} | {r.requests} | {r.tokens_sent:,} | {r.cacheable:,} | {r.cached_share:.1%} | {r.usd:.4f} |"
        )
    return lines


if __name__ == "__main__":
    print("\n".join(extra_reports()))
