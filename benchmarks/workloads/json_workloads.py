"""JSON tool outputs (SmartCrusher): generated agent turns and three real JSON files
(more real files, one per shape of issue 11, in json_real_workloads).

Every generated input is seeded, so the figures are reproducible. Needles are the things
the agent needs in the *compressed* text (not merely retrievable).
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import orjson

from benchmarks._harness import Workload, tool_conversation

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures"


def _pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def _sha(seed: str) -> str:
    return hashlib.sha1(seed.encode()).hexdigest()


def _multi_tool_turn(question: str, calls: list[tuple[str, dict[str, Any], str]]) -> list[dict[str, Any]]:
    """An OpenAI-format turn with several tool calls answered by separate tool messages."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a careful engineering assistant."},
        {"role": "user", "content": question},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": f"call_{i}",
                    "type": "function",
                    "function": {"name": name, "arguments": orjson.dumps(args).decode()},
                }
                for i, (name, args, _) in enumerate(calls, 1)
            ],
        },
    ]
    for i, (_, _, output) in enumerate(calls, 1):
        messages.append({"role": "tool", "tool_call_id": f"call_{i}", "content": output})
    return messages


# --------------------------------------------------------------------------- code search


def code_search() -> Workload:
    rng = random.Random(101)
    modules = ["net", "storage", "auth", "billing", "jobs", "api", "cli", "config", "metrics", "cache"]
    words = ["retry", "policy", "parse", "config", "timeout", "backoff", "client", "request", "load", "value"]
    matching = {7, 33, 58, 81}
    items = []
    for i in range(100):
        module = modules[i % len(modules)]
        fname = f"{rng.choice(words)}_{rng.choice(words)}.py"
        path = f"src/acme/{module}/{fname}" if i not in matching else f"src/acme/{module}/retry_policy_{i}.py"
        if i in matching:
            line = (
                "def parse_retry_policy(raw: dict) -> RetryPolicy:"
                if i == 7
                else "policy = parse_retry_policy(settings.get('retry', {}))"
            )
        else:
            line = f"{rng.choice(words)} = {rng.choice(words)}_{rng.choice(words)}({rng.choice(words)}, retries={rng.randrange(1, 9)})"
        context = "\n".join(
            f"    {rng.choice(words)}_{rng.choice(words)} = {rng.choice(words)}({rng.choice(words)}, {rng.randrange(100)})"
            for _ in range(6)
        )
        sha = _sha(f"blob{i}")
        items.append(
            {
                "name": path.rsplit("/", 1)[1],
                "path": path,
                "sha": sha,
                "url": f"https://api.github.com/repositories/48213/contents/{path}?ref=9f2c1e7",
                "git_url": f"https://api.github.com/repositories/48213/git/blobs/{sha}",
                "html_url": f"https://github.com/acme/platform/blob/9f2c1e7/{path}",
                "repository": {
                    "id": 48213,
                    "full_name": "acme/platform",
                    "private": True,
                    "html_url": "https://github.com/acme/platform",
                },
                "score": round(rng.uniform(0.5, 1.0), 4),
                "text_matches": [
                    {
                        "object_type": "FileContent",
                        "property": "content",
                        "fragment": f"{context}\n    {line}\n{context}",
                        "matches": [{"text": "retry", "indices": [4, 9]}],
                    }
                ],
            }
        )
    output = _pretty({"total_count": 100, "incomplete_results": False, "items": items})
    query = "Where is parse_retry_policy defined and who calls it?"
    needles = [items[i]["path"] for i in sorted(matching)]
    return Workload(
        name="json: code search, 100 hits",
        messages=tool_conversation(query, "search_code", output, {"q": "retry policy repo:acme/platform"}),
        target_saved=0.90,
        needles=needles,
        query=query,
    )


# --------------------------------------------------------------------------- SRE incident


def sre_incident() -> Workload:
    rng = random.Random(202)
    services = ["api-gateway", "checkout", "payments", "inventory", "auth"]
    logs = []
    error_ids: list[str] = []
    error_at = {311, 802, 1207, 1555, 1919, 2304, 2650}
    fatal_at = {2702}
    for i in range(3000):
        service = services[i % 5]
        level = "INFO" if rng.random() > 0.08 else "DEBUG"
        msg = f"handled request path=/v1/{service}/{rng.randrange(1000)} status=200"
        trace = f"tr-{_sha(f'trace{i}')[:12]}"
        if i in error_at:
            level, msg = (
                "ERROR",
                f"upstream connect error to payments-db: timeout after 5000ms (attempt {i % 3 + 1})",
            )
            error_ids.append(trace)
        if i in fatal_at:
            level, msg = "FATAL", "payments worker crashed: connection pool exhausted"
            error_ids.append(trace)
        logs.append(
            {
                "ts": f"2025-06-02T14:{(i // 60) % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z",
                "level": level,
                "service": service,
                "msg": msg,
                "trace_id": trace,
                "latency_ms": round(rng.lognormvariate(3.0, 0.25), 1),
                "pod": f"{service}-7d9f-{i % 4}",
            }
        )
    points = []
    for minute in range(1440):
        value = rng.gauss(180, 12)
        if minute >= 1210:
            value += 260  # the regression after the deploy
        points.append(
            {"ts": f"2025-06-02T{minute // 60:02d}:{minute % 60:02d}:00Z", "value": round(value, 1)}
        )
    points[987]["value"] = 9421.7  # the anomaly
    metrics = {"metric": "checkout.p99_latency_ms", "step": "60s", "unit": "ms", "points": points}
    plain = []
    for i in range(150):
        plain.append(
            f"Jun 02 14:{i // 60:02d}:{i % 60:02d} node-3 kubelet[812]: INFO pod checkout-7d9f-{i % 4} probe ok"
        )
    plain[97] = (
        "Jun 02 14:01:37 node-3 kubelet[812]: ERROR liveness probe failed for payments-5c6b-2: HTTP 503"
    )
    plain_text = "\n".join(plain) + "\n"
    question = "Why did checkout latency spike this afternoon? Find the errors and the anomaly."
    messages = _multi_tool_turn(
        question,
        [
            ("query_logs", {"service": "*", "since": "2025-06-02T14:00Z"}, _pretty(logs)),
            ("query_metrics", {"metric": "checkout.p99_latency_ms"}, _pretty(metrics)),
            ("node_journal", {"node": "node-3"}, plain_text),
        ],
    )
    needles = [*error_ids, "9421.7", "liveness probe failed for payments-5c6b-2"]
    return Workload(
        name="json: SRE incident (logs, metrics, journal)",
        messages=messages,
        target_saved=0.90,
        needles=needles,
        query=question,
    )


# --------------------------------------------------------------------------- GitHub issues


_ISSUE_TEXT = (
    "Steps to reproduce: open the app, load a large project, then click save. Expected the "
    "file to be written; instead the window freezes and the log shows a stack trace. "
    "Environment: macOS 14, version 3.2.1, also seen on Windows 11."
)


def github_issues() -> Workload:
    rng = random.Random(303)
    topics = [
        "crash on save",
        "slow startup",
        "docs typo",
        "login loop",
        "memory leak",
        "dark mode",
        "export to csv",
        "timezone bug",
        "flaky test",
        "upgrade guide",
    ]
    filler = _ISSUE_TEXT.split()
    labels = [
        ("bug", "d73a4a"),
        ("enhancement", "a2eeef"),
        ("documentation", "0075ca"),
        ("question", "d876e3"),
    ]
    issues = []
    for i in range(100):
        number = 4100 + i
        title = f"{topics[i % len(topics)].capitalize()} when {rng.choice(['syncing', 'exporting', 'opening', 'closing'])} workspace #{i}"
        label, color = labels[rng.randrange(len(labels))]
        body = "### Description\n" + " ".join(rng.choice(filler) for _ in range(rng.randrange(220, 420)))
        issues.append(
            {
                "number": number,
                "title": title,
                "state": "OPEN",
                "author": {"login": f"user{rng.randrange(60)}", "is_bot": False},
                "labels": [{"name": label, "color": color}],
                "createdAt": f"2025-0{1 + i % 9}-{1 + i % 28:02d}T10:{i % 60:02d}:00Z",
                "url": f"https://github.com/acme/desktop/issues/{number}",
                "comments": rng.randrange(0, 30),
                "body": body,
            }
        )
    question = "Classify each of these open issues as bug, feature request, docs or support."
    needles = [str(x["number"]) for x in issues] + [x["title"] for x in issues]
    return Workload(
        name="json: GitHub issue list for classification",
        messages=tool_conversation(
            question, "gh_issue_list", _pretty(issues), {"state": "open", "limit": 100}
        ),
        target_saved=0.70,
        needles=needles,
        query=question,
    )


# --------------------------------------------------------------------------- database rows


def database_rows() -> Workload:
    rng = random.Random(404)
    brands = ["visa", "mastercard", "amex"]
    countries = ["US", "DE", "FR", "GB", "CA", "NL"]
    rows = []
    for i in range(3000):
        rows.append(
            {
                "id": 880000 + i,
                "created_at": f"2025-05-{1 + i % 30:02d} {i % 24:02d}:{(i * 7) % 60:02d}:{(i * 13) % 60:02d}",
                "customer_email": f"customer{rng.randrange(5000)}@example{rng.randrange(9)}.com",
                "amount_cents": int(rng.lognormvariate(8.0, 0.35)),
                "currency": "EUR",
                "status": "succeeded",
                "card_brand": rng.choice(brands),
                "country": rng.choice(countries),
                "risk_score": rng.randrange(1, 40),
                "description": f"Order {rng.randrange(10**6):06d} - {rng.choice(['Basic', 'Pro', 'Team'])} plan",
            }
        )
    failed = [431, 1290, 1710, 2222, 2890]
    for i in failed:
        rows[i]["status"] = "failed"
    outliers = {777: 99_999_900, 1503: 48_500_000, 2600: 3}
    for i, cents in outliers.items():
        rows[i]["amount_cents"] = cents
    question = "Which payments failed, and are there any suspicious amounts?"
    needles = [str(rows[i]["id"]) for i in failed] + [str(rows[i]["id"]) for i in outliers]
    needles += [str(c) for c in outliers.values() if c > 1000]
    return Workload(
        name="json: database rows with outliers",
        messages=tool_conversation(
            question,
            "sql_query",
            _pretty(rows),
            {"sql": "SELECT * FROM payments WHERE created_at >= '2025-05-01'"},
        ),
        target_saved=0.90,
        needles=needles,
        query=question,
    )


def speed_100k(target_tokens: int = 100_000) -> Workload:
    """The issue's speed goal: a ~100k-token JSON tool output (the DB rows, cut to size).
    Its *ratio* column is the cold compress time over one tiktoken encode (goal: <= 2x)."""
    from headroom_core import get_tokenizer

    base = database_rows()
    rows = orjson.loads(base.messages[-1]["content"])
    per_row = get_tokenizer("gpt-4o").count(base.messages[-1]["content"]) / len(rows)
    rows = rows[: int(target_tokens / per_row)]
    failed = [str(r["id"]) for r in rows if r["status"] == "failed"]
    return Workload(
        name="json: 100k-token tool output (speed goal: ratio <= 2x)",
        messages=tool_conversation(base.query or "", "sql_query", _pretty(rows)),
        target_saved=0.90,
        needles=failed,
        query=base.query,
    )


# --------------------------------------------------------------------------- real inputs


def _real(name: str, file: str, question: str, tool: str, target: float, needles: list[str]) -> Workload:
    text = (FIXTURES / file).read_text(encoding="utf-8")
    return Workload(
        name=name,
        messages=tool_conversation(question, tool, text),
        target_saved=target,
        needles=needles,
        query=question,
        source=f"real: {file}",
    )


def workloads() -> list[Workload]:
    return [
        code_search(),
        sre_incident(),
        github_issues(),
        database_rows(),
        speed_100k(),
        _real(
            "json: moto EC2 instance type offerings",
            "moto_ec2_instance_type_offerings_az_us-east-1.json",
            "Which instance types are offered in us-east-1f?",
            "describe_instance_type_offerings",
            0.95,
            ["us-east-1f"],
        ),
        # Mostly the `time` map (version -> date, 280+ keys), crushed like an array since
        # issue 11 (20% saved before, when maps were left whole), plus the `versions` array.
        _real(
            "json: npm view express",
            "npm_view_express.json",
            "Which Node versions does express support and what are its dependencies?",
            "npm_view",
            0.80,
            ["express", "5.3.0", "body-parser", '"node"'],
        ),
        _real(
            "json: OpenML data features",
            "openml_api_data_features_40966.json",
            "Which feature is the target and which is the row id?",
            "openml_get",
            0.80,
            ["MouseID", '"class"'],
        ),
    ]


if __name__ == "__main__":
    from benchmarks._harness import run_workload

    for workload in workloads():
        row = run_workload(workload)
        print(
            f"{row.name:45s} {row.tokens_before:>8,} -> {row.tokens_after:>7,}  saved {row.saved:6.1%} "
            f"(target {row.target:.0%})  needles kept {row.kept}/{row.needles}  "
            f"compress {row.compress_ms:6.1f} ms  encode {row.tiktoken_ms:6.1f} ms  "
            f"{'PASS' if row.passed else 'FAIL'}"
        )
