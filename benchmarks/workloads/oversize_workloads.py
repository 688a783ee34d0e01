"""Oversize inputs (issue 12 item 12): the whole `compress()` path stays within seconds.

Parts above 8 MiB are counted by estimate (three samples) rather than encoded whole, and
parts above `max_input_bytes` (16 MiB) keep head and tail with the whole stored in CCR.
Before, a 48.9 MB JSON took 25 s and a 50 MB single word 50 s, 95% of it counting tokens
of text that was then cut. Reported as extra lines (one cold call each, no tiktoken
baseline: encoding these inputs whole is exactly the cost being avoided).
"""

from __future__ import annotations

import time

import orjson

from benchmarks._harness import Workload
from headroom_core import HeadroomConfig, MemoryCCRStore, compress

TARGET_SECONDS = 5.0


def _cases() -> list[tuple[str, str]]:
    rows = [{"id": i, "name": f"item {i}", "tags": ["x", "y"], "v": i * 1.5} for i in range(760_000)]
    return [
        ("single word, 50 MB", "a" * 50_000_000),
        ("JSON array, 49 MB", orjson.dumps(rows).decode()),
        ("single word, just under the 16 MiB limit", "a" * (16 * 1024 * 1024 - 100)),
    ]


def workloads() -> list[Workload]:
    return []


def extra_reports() -> list[str]:
    lines = [
        "### Oversize inputs: one cold `compress()` call",
        "",
        f"| input | MB | seconds | tokens before (estimated) | tokens after | within {TARGET_SECONDS:.0f} s |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, text in _cases():
        messages = [
            {"role": "user", "content": "What does the output say?"},
            {"role": "tool", "tool_call_id": "call_1", "content": text},
        ]
        start = time.perf_counter()
        result = compress(messages, config=HeadroomConfig(ccr_store=MemoryCCRStore()))
        seconds = time.perf_counter() - start
        ok = "yes" if seconds <= TARGET_SECONDS else "NO"
        lines.append(
            f"| {name} | {len(text) / 1e6:.1f} | {seconds:.2f} | {result.tokens_before:,} | "
            f"{result.tokens_after:,} | {ok} |"
        )
    return lines


if __name__ == "__main__":
    print("\n".join(extra_reports()))
