"""Texts worth compressing, shared by the MCP tests."""

from __future__ import annotations

import json


def ci_log(lines: int = 3000) -> str:
    """A CI log: thousands of routine lines, one failure worth finding."""
    out = [
        f"2026-03-01 12:{i // 60 % 60:02d}:{i % 60:02d} INFO worker-{i % 7} processed batch {i} ok"
        for i in range(lines)
    ]
    out.insert(lines // 2, "2026-03-01 12:30:00 ERROR worker-3 OOMKilled while processing batch 1500")
    return "\n".join(out) + "\n"


def records_json(rows: int = 400) -> str:
    return json.dumps(
        [
            {
                "id": 1000 + i,
                "user": f"user_{i % 50:02d}",
                "status": "failed" if i % 97 == 13 else "ok",
                "ms": i * 7 % 900,
            }
            for i in range(rows)
        ],
        indent=1,
    )
