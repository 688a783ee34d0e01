"""Regenerates agent_conversation.json, the demo's embedded data (seeded: same bytes every run).

An on-call agent investigates a checkout incident with three tools: a code/doc search
returning hundreds of JSON hits, a log dump, and a database query.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

rng = random.Random(20261124)
SERVICES = ["checkout", "payments", "inventory", "cart", "auth", "shipping"]
DIRS = ["src/checkout", "src/payments", "src/common", "src/inventory", "tests/integration", "docs/runbooks"]
WORDS = [
    "retry",
    "timeout",
    "latency",
    "queue",
    "worker",
    "handler",
    "client",
    "pool",
    "cache",
    "token",
    "order",
    "charge",
    "refund",
]


def search_hits() -> list[dict]:
    hits = []
    for i in range(320):
        d = rng.choice(DIRS)
        name = f"{rng.choice(WORDS)}_{rng.choice(WORDS)}.py"
        line = rng.randint(5, 900)
        text = f"    {rng.choice(WORDS)} = {rng.choice(WORDS)}_{rng.choice(WORDS)}({rng.choice(WORDS)}, timeout={rng.choice([5, 10, 30])})"
        if i in (41, 187, 266):
            name, text = (
                "gateway_client.py",
                "    resp = self._session.post(url, json=payload, timeout=self.charge_timeout_s)  # charge timeout",
            )
        hits.append(
            {
                "id": f"hit-{i:04d}",
                "repo": "acme/shop",
                "path": f"{d}/{name}",
                "line": line,
                "url": f"https://git.acme.internal/acme/shop/blob/main/{d}/{name}#L{line}",
                "score": round(rng.uniform(0.2, 0.95), 3),
                "snippet": text,
                "language": "python",
            }
        )
    return hits


def log_dump() -> str:
    lines = []
    t = 14 * 3600
    for i in range(900):
        t += rng.randint(0, 3)
        stamp = f"2026-11-23T{t // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}.{rng.randint(0, 999):03d}Z"
        svc = rng.choice(SERVICES)
        if i in (402, 403, 410, 655):
            lines.append(
                f"{stamp} ERROR payments gateway_client: charge failed order_id=48213 err=UpstreamTimeout after 30.0s attempt={i % 3 + 1}"
            )
            continue
        if i == 660:
            lines.append(
                f"{stamp} FATAL checkout worker-7: circuit breaker open for payments-gateway (50 failures in 60s)"
            )
            continue
        if rng.random() < 0.04:
            lines.append(f"{stamp} WARN {svc} pool: connection pool at {rng.randint(80, 99)}% capacity")
            continue
        lines.append(
            f"{stamp} INFO {svc} http: GET /api/v1/{svc}/{rng.randint(1000, 99999)} 200 {rng.randint(3, 180)}ms req={rng.getrandbits(48):012x}"
        )
    return "\n".join(lines)


def order_rows() -> list[dict]:
    rows = []
    for i in range(600):
        order_id = 48000 + i
        status = "settled"
        amount = round(rng.lognormvariate(3.5, 0.4), 2)
        latency = rng.randint(80, 400)
        if order_id in (48213, 48377, 48402):
            status, latency = "failed", 30000
        if order_id == 48555:
            amount = 98450.00  # an outlier worth a look
        rows.append(
            {
                "order_id": order_id,
                "customer_id": f"cus_{rng.getrandbits(40):010x}",
                "status": status,
                "currency": "usd",
                "amount": amount,
                "gateway_latency_ms": latency,
                "created_at": f"2026-11-23T14:{i // 60 % 60:02d}:{i % 60:02d}Z",
                "receipt_url": f"https://shop.acme.example/receipts/{order_id}",
            }
        )
    return rows


def conversation() -> list[dict]:
    def call(cid: str, name: str, args: dict) -> dict:
        return {"id": cid, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}

    return [
        {
            "role": "system",
            "content": "You are Acme's on-call assistant. Use the tools, cite evidence, be brief.",
        },
        {
            "role": "user",
            "content": "Checkout latency spiked around 14:05 UTC yesterday. Which orders failed, and is the payments gateway charge timeout to blame?",
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                call("call_search", "code_search", {"query": "charge timeout gateway", "limit": 500})
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "call_search",
            "content": json.dumps({"total": 320, "hits": search_hits()}, indent=2),
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                call("call_logs", "fetch_logs", {"service": "*", "since": "2026-11-23T14:00:00Z"})
            ],
        },
        {"role": "tool", "tool_call_id": "call_logs", "content": log_dump()},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                call(
                    "call_sql",
                    "run_sql",
                    {"sql": "SELECT * FROM orders WHERE created_at >= '2026-11-23T14:00:00Z'"},
                )
            ],
        },
        {"role": "tool", "tool_call_id": "call_sql", "content": json.dumps(order_rows(), indent=2)},
    ]


if __name__ == "__main__":
    out = Path(__file__).with_name("agent_conversation.json")
    out.write_text(json.dumps(conversation(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out}")
