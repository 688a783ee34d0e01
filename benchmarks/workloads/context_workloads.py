"""Context-management workloads: long agent sessions under a budget, and prompt caching.

- `agent_session()`: a deterministic N-turn agent session (OpenAI format, tool calls)
  with *needles* -- unique facts planted in early tool outputs.
- `workloads()`: the 200-turn session at 8k and 32k budgets (needles must be kept or
  retrievable through CCR).
- `cache_session()` / `extra_reports()`: a 20-turn session where only timestamps and ids
  change between calls; reports the share of prefix tokens a provider cache would reuse,
  with and without CacheAligner.
"""

from __future__ import annotations

import random
from typing import Any

import orjson

from benchmarks._harness import Workload
from headroom_core import HeadroomConfig, MemoryCCRStore, compress, retrieve
from headroom_core._config import ContextConfig
from headroom_core._messages import message_text
from headroom_core.context import CacheAligner, common_prefix_tokens, request_tokens

SYSTEM_PROMPT = (
    "You are a careful engineering assistant working in the `shipyard` repository. "
    "Use the tools to inspect orders, read files and run tests. Cite ids exactly."
)
_TOOLS = ("search_orders", "read_file", "run_tests", "grep")
_WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
]


def _needle(i: int) -> str:
    return f"NEEDLE-{i:03d}-{(i * 7919) % 100000:05d}"


def _tool_output(rng: random.Random, tool: str, turn: int, needle: str | None) -> str:
    if tool == "search_orders":
        rows = [
            {
                "order_id": f"ord_{turn:03d}{k:02d}",
                "customer": rng.choice(_WORDS).title(),
                "status": rng.choice(["shipped", "pending", "delivered"]),
                "total": round(rng.uniform(5, 900), 2),
                "note": " ".join(rng.choice(_WORDS) for _ in range(6)),
            }
            for k in range(rng.randint(10, 30))
        ]
        if needle:
            rows[len(rows) // 2]["note"] = f"customer asked to quote reference {needle}"
        return orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode()
    if tool == "read_file":
        lines = [
            f"def handler_{turn}_{k}(request):" if k % 6 == 0 else f"    value_{k} = compute({k})"
            for k in range(rng.randint(40, 150))
        ]
        if needle:
            lines.insert(3, f"    # deployment reference: {needle}")
        return "\n".join(lines)
    if tool == "run_tests":
        lines = [f"tests/test_mod{turn}.py::test_case_{k} PASSED" for k in range(rng.randint(20, 60))]
        if rng.random() < 0.15:
            lines.append(f"tests/test_mod{turn}.py::test_edge FAILED")
            lines.append('Traceback (most recent call last):\n  File "app.py", line 3\nValueError: bad input')
        if needle:
            lines.insert(1, f"# build tag {needle}")
        return "\n".join(lines)
    matches = [
        f"src/mod{turn}/file{k}.py:{rng.randint(1, 400)}: TODO {rng.choice(_WORDS)}"
        for k in range(rng.randint(10, 40))
    ]
    if needle:
        matches.insert(2, f"src/config.py:12: SECRET_REF = '{needle}'")
    return "\n".join(matches)


def agent_session(
    turns: int = 200, seed: int = 7, needles: int = 10
) -> tuple[list[dict[str, Any]], list[str]]:
    """An OpenAI-format agent session: `turns` tool calls, needles in the first `needles` turns."""
    rng = random.Random(seed)
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "Audit the shipyard repository and the recent orders; report problems."},
    ]
    planted: list[str] = []
    for turn in range(turns):
        tool = _TOOLS[turn % len(_TOOLS)]
        needle = _needle(turn) if turn < needles else None
        if needle:
            planted.append(needle)
        call_id = f"call_{turn:04d}"
        args = {"query": rng.choice(_WORDS), "page": turn}
        messages.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": tool, "arguments": orjson.dumps(args).decode()},
                    }
                ],
            }
        )
        messages.append(
            {"role": "tool", "tool_call_id": call_id, "content": _tool_output(rng, tool, turn, needle)}
        )
        if turn % 10 == 9:
            messages.append(
                {"role": "assistant", "content": f"Checked {turn + 1} sources so far; continuing."}
            )
            messages.append({"role": "user", "content": f"Keep going, also look at module {turn}."})
    messages.append({"role": "user", "content": "Summarize the failing tests you found."})
    return messages, planted


def to_anthropic(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same session in Anthropic format (tool_use / tool_result blocks, alternating roles)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        role = m["role"]
        if role == "system":
            out.append({"role": "system", "content": m["content"]})
        elif role == "assistant" and m.get("tool_calls"):
            blocks = [
                {
                    "type": "tool_use",
                    "id": c["id"],
                    "name": c["function"]["name"],
                    "input": orjson.loads(c["function"]["arguments"]),
                }
                for c in m["tool_calls"]
            ]
            out.append({"role": "assistant", "content": blocks})
        elif role == "tool":
            block = {"type": "tool_result", "tool_use_id": m["tool_call_id"], "content": m["content"]}
            if out and out[-1]["role"] == "user" and isinstance(out[-1]["content"], list):
                out[-1]["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
        elif role == "user" and out and out[-1]["role"] == "user":
            prev = out[-1]["content"]
            prev = prev if isinstance(prev, list) else [{"type": "text", "text": prev}]
            out[-1]["content"] = [*prev, {"type": "text", "text": m["content"]}]
        else:
            out.append({"role": role, "content": m["content"]})
    return out


def needle_recall(result: Any, needles: list[str], store: Any) -> tuple[int, int]:
    """(kept inline, kept or retrievable through any CCR key of the result, two hops deep)."""
    text = "\n".join(message_text(m) for m in result.messages)
    seen_keys: set[str] = set()
    originals: list[str] = []
    frontier = list(result.ccr_keys)
    from headroom_core import parse_markers

    for _ in range(2):
        nxt: list[str] = []
        for key in frontier:
            if key in seen_keys:
                continue
            seen_keys.add(key)
            try:
                original = retrieve(key, store=store)
            except Exception:
                continue
            originals.append(original)
            nxt.extend(m.key for m in parse_markers(original))
        frontier = nxt
    kept = sum(n in text for n in needles)
    retrievable = sum(n in text or any(n in o for o in originals) for n in needles)
    return kept, retrievable


def _budget_check(budget: int):
    def check(result: Any) -> str | None:
        if result.tokens_after > budget:
            return f"{result.tokens_after} tokens over the {budget} budget"
        report = result.context
        if report is None or report.summary_key is None:
            return "no dropped-turns summary / CCR key"
        return None

    return check


def workloads() -> list[Workload]:
    messages, _needles = agent_session(200)
    out = []
    for budget in (8_000, 32_000):
        out.append(
            Workload(
                name=f"agent session 200 turns, budget {budget // 1000}k",
                messages=messages,
                target_saved=0.5 if budget == 32_000 else 0.85,
                needles=[],  # early needles are dropped by design; see extra_reports() for recall
                source="generated",
                issue=4,
                token_budget=budget,
                # learning off: the figures must not depend on earlier runs
                config=HeadroomConfig(context=ContextConfig(learning=False)),
                check=_budget_check(budget),
            )
        )
    return out


def _through_compress(request: list[dict[str, Any]], model: str) -> tuple[list[dict[str, Any]], Any]:
    config = HeadroomConfig(
        ccr_store=MemoryCCRStore(), context=ContextConfig(cache_align=True, learning=False)
    )
    result = compress(request, model, config=config)
    return result.messages, result.context.cache


def cache_session(
    turns: int = 20, *, align: bool, model: str = "gpt-4o", direct: bool = False
) -> dict[str, float]:
    """Simulate `turns` calls where only the date, time, request id and counter change.

    Returns the mean share of the previous request's stable prefix found byte-identical
    in the next request (`prefix_stability`) and the mean share of each request's tokens a
    prefix cache would serve (`cached_share`). Requests go through `compress()` with
    `cache_align=True` (or `CacheAligner.align` alone with `direct=True`).
    """
    history: list[dict[str, Any]] = [
        {"role": "user", "content": "Help me triage today's incidents for the payments service."}
    ]
    aligner = CacheAligner()
    rng = random.Random(3)
    requests: list[list[dict[str, Any]]] = []
    stable_prefix: list[int] = []
    for turn in range(turns):
        system = (
            f"You are the on-call assistant. Current date: 2026-11-{10 + turn % 15:02d}. "
            f"Time: {9 + turn // 6:02d}:{(turn * 7) % 60:02d}:{(turn * 13) % 60:02d} UTC. "
            f"Request ID: req_{rng.getrandbits(64):016x}. Session 7c1e0a2b-4f3d-4a9e-8b6c-{rng.getrandbits(48):012x}. "
            f"Turn: {turn + 1}. " + SYSTEM_PROMPT + " Follow the runbook strictly. " * 20
        )
        request = [{"role": "system", "content": system}, *history]
        if align:
            request, report = aligner.align(request) if direct else _through_compress(request, model)
            note_at = report.note_message_index
            if note_at is not None:
                without_note = [*request[:note_at], _strip_note(request[note_at], report.note or "")]
                stable_prefix.append(common_prefix_tokens(request, without_note, model))
            else:
                stable_prefix.append(request_tokens(request, model))
        else:
            stable_prefix.append(request_tokens(request, model))
        requests.append(request)
        history = [
            *history,
            {
                "role": "assistant",
                "content": f"Incident {turn}: checked dashboards, error rate {rng.random():.3f}.",
            },
            {"role": "user", "content": f"Next, look at alert #{100 + turn} for {rng.choice(_WORDS)}."},
        ]
    stability, cached = [], []
    for i in range(1, len(requests)):
        common = common_prefix_tokens(requests[i - 1], requests[i], model)
        stability.append(min(1.0, common / max(1, stable_prefix[i - 1])))
        cached.append(common / max(1, request_tokens(requests[i], model)))
    return {
        "prefix_stability": sum(stability) / len(stability),
        "min_prefix_stability": min(stability),
        "cached_share": sum(cached) / len(cached),
    }


def _strip_note(message: dict[str, Any], note: str) -> dict[str, Any]:
    content = message.get("content")
    if isinstance(content, str):
        return {**message, "content": content.replace(f"\n\n{note}", "").replace(note, "")}
    if isinstance(content, list):
        return {
            **message,
            "content": [b for b in content if not (isinstance(b, dict) and b.get("text") == note)],
        }
    return message


def extra_reports() -> list[str]:
    """Markdown lines: budget fitting with needle recall, and the prefix-cache simulation."""
    lines = [
        "### Context management",
        "",
        "| workload | strategy | tokens before | tokens after | budget | needles kept | needles kept or retrievable |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    messages, needles = agent_session(200)
    for budget in (8_000, 32_000):
        for strategy in ("stable", "importance", "rolling_window"):
            store = MemoryCCRStore()
            config = HeadroomConfig(ccr_store=store, context=ContextConfig(learning=False, strategy=strategy))
            result = compress(messages, "gpt-4o", config=config, token_budget=budget)
            kept, retrievable = needle_recall(result, needles, store)
            lines.append(
                f"| agent session, 200 turns | {strategy} | {result.tokens_before:,} | {result.tokens_after:,} "
                f"| {budget:,} | {kept}/{len(needles)} | {retrievable}/{len(needles)} |"
            )
    lines += [
        "",
        "| 20-turn session, only dates/ids change | prefix stability | share of request tokens cached |",
        "| --- | ---: | ---: |",
    ]
    for align in (False, True):
        stats = cache_session(20, align=align)
        label = "with CacheAligner" if align else "without CacheAligner"
        lines.append(f"| {label} | {stats['prefix_stability']:.1%} | {stats['cached_share']:.1%} |")
    return lines


if __name__ == "__main__":
    print("\n".join(extra_reports()))
