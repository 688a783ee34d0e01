"""Text workloads: search results, diffs and prose as an agent sees them in tool results.

Real inputs: `grep -rn` over the CPython 3.11 standard library, `rg -n -C3 ServeHTTP`
over Go's net/http, the Flask 3.1.0..3.1.3 diff, the find(1) man page, the Python
tutorial chapter on classes, and module docstrings of the running Python's standard
library as retrieved chunks. Generated: a 20-file diff (seeded, so identical on every
run). Needles are what the question needs: the hits in the module it asks about, every
changed line of the files it names, the sentences that answer it.
"""

from __future__ import annotations

import difflib
import random
import re
import textwrap
from pathlib import Path
from typing import Any

from benchmarks._harness import Workload, tool_conversation

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures"
_MATCH = re.compile(r"(?P<path>.+?):(?P<line>\d+):(?P<body>.*)\Z")


def _read(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def _hits(text: str, path_filter) -> list[str]:
    """`line:text` of every match whose path passes the filter (how the output shows them)."""
    out = []
    for line in text.split("\n"):
        m = _MATCH.match(line)
        if m and path_filter(m["path"]):
            out.append(f"{m['line']}:{m['body']}")
    return out


def _changed_lines(diff: str, path: str) -> list[str]:
    """Every +/- line of one file's section in a git diff."""
    out, inside = [], False
    for line in diff.split("\n"):
        if line.startswith("diff --git "):
            inside = line.endswith(f" b/{path}")
        elif inside and line[:1] in ("+", "-") and not line.startswith(("+++ ", "--- ")):
            out.append(line)
    return out


def _all_file_headers_kept(diff: str):
    headers = [line for line in diff.split("\n") if line.startswith("diff --git ")]

    def check(result: Any) -> str | None:
        text = "\n".join(str(m.get("content") or "") for m in result.messages)
        missing = [h for h in headers if h not in text]
        return f"{len(missing)} file headers missing" if missing else None

    return check


# --------------------------------------------------------------------------- generated diff

_WORDS = [
    "invoice", "order", "customer", "account", "ledger", "balance", "refund", "payment", "tax",
    "rate", "currency", "total", "discount", "coupon", "shipment", "carrier", "address", "region",
    "period", "report", "export", "batch", "queue",
]  # fmt: skip


def _module(rng: random.Random, name: str) -> list[str]:
    lines = [f'"""{name}: generated service module."""', "", "from __future__ import annotations", ""]
    for f in range(12):
        noun, verb = rng.choice(_WORDS), rng.choice(["load", "save", "apply", "check", "render", "merge"])
        lines += [
            "",
            f"def {verb}_{noun}_{f}(record, options=None):",
            f'    """{verb.capitalize()} the {noun} of a record ({name} #{f})."""',
            "    options = options or {}",
            f"    value = record.get('{noun}', {rng.randint(0, 99)})",
            f"    if value > {rng.randint(100, 999)}:",
            f"        value = value * {rng.randint(2, 9)} // {rng.randint(2, 9)}",
            f"    options.setdefault('{rng.choice(_WORDS)}', {rng.randint(0, 9)})",
            "    return value, options",
        ]
    return lines


def _edit(rng: random.Random, lines: list[str], tag: str) -> list[str]:
    new = list(lines)
    for k in range(4):
        pos = rng.randrange(5, len(new) - 2)
        action = rng.choice(["replace", "insert", "delete"])
        if action == "replace":
            new[pos] = f"    value = round(value, {k + 2})  # {tag} change {k}"
        elif action == "insert":
            new.insert(pos, f"    log.debug('{tag} step {k}: %s', value)")
        else:
            del new[pos]
    return new


def twenty_file_diff(seed: int = 20, files: int = 20) -> tuple[str, list[str]]:
    """A git-style diff touching `files` files (at least 8), and their paths."""
    rng = random.Random(seed)
    paths = [
        f"{pkg}/{rng.choice(_WORDS)}_{i}.py"
        for i, pkg in enumerate(["billing", "shipping", "reports", "core"] * (files // 4))
    ]
    paths[3], paths[7] = "billing/invoice.py", "billing/tax_rules.py"
    chunks = []
    for path in paths:
        old = _module(rng, path)
        new = _edit(rng, old, path.rsplit("/", 1)[-1])
        body = difflib.unified_diff(old, new, f"a/{path}", f"b/{path}", n=3, lineterm="")
        sha = f"{rng.getrandbits(28):07x}..{rng.getrandbits(28):07x}"
        chunks.append(f"diff --git a/{path} b/{path}\nindex {sha} 100644\n" + "\n".join(body))
    return "\n".join(chunks) + "\n", paths


# --------------------------------------------------------------------------- workloads


def workloads() -> list[Workload]:
    out: list[Workload] = []

    grep = _read("grep_rn_TODO_FIXME_XXX_cpython3.11_stdlib.txt")
    question = "Which TODO/XXX notes are still open in the email package?"
    out.append(
        Workload(
            issue=3,
            name="grep -rn TODO|FIXME|XXX, CPython stdlib (358 hits)",
            messages=tool_conversation(
                question, "bash", grep, {"command": "grep -rn 'TODO\\|FIXME\\|XXX' ."}
            ),
            target_saved=0.6,
            needles=_hits(grep, lambda p: p.startswith("./email/")),
            query=question,
            source="real: grep_rn_TODO_FIXME_XXX_cpython3.11_stdlib.txt",
        )
    )

    rg = _read("rg_n_C3_ServeHTTP_go1.19_net_http.txt")
    question = "How does the reverse proxy call ServeHTTP in its tests?"
    out.append(
        Workload(
            issue=3,
            name="rg -n -C3 ServeHTTP, Go net/http",
            messages=tool_conversation(question, "bash", rg, {"command": "rg -n -C3 ServeHTTP src/net/http"}),
            target_saved=0.5,
            needles=_hits(rg, lambda p: p.endswith("reverseproxy_test.go")),
            query=question,
            source="real: rg_n_C3_ServeHTTP_go1.19_net_http.txt",
        )
    )

    diff, _ = twenty_file_diff()
    question = (
        "Review the changes to billing/invoice.py and billing/tax_rules.py: why did the rounding change?"
    )
    out.append(
        Workload(
            issue=3,
            name="20-file diff, query names 2 files",
            messages=tool_conversation(question, "bash", diff, {"command": "git diff main...feature"}),
            target_saved=0.5,
            needles=_changed_lines(diff, "billing/invoice.py") + _changed_lines(diff, "billing/tax_rules.py"),
            query=question,
            check=_all_file_headers_kept(diff),
        )
    )

    flask = _read("git_diff_flask_3.1.0..3.1.3.diff")
    question = "What changed in sessions.py? Is the session now marked as accessed for `in` and `len`?"
    out.append(
        Workload(
            issue=3,
            name="git diff flask 3.1.0..3.1.3 (17 files), query names sessions.py",
            messages=tool_conversation(question, "bash", flask, {"command": "git diff 3.1.0..3.1.3"}),
            target_saved=0.5,
            needles=_changed_lines(flask, "src/flask/sessions.py"),
            query=question,
            source="real: git_diff_flask_3.1.0..3.1.3.diff",
            check=_all_file_headers_kept(flask),
        )
    )
    question = "Summarize this release diff."
    out.append(
        Workload(
            issue=3,
            name="git diff flask 3.1.0..3.1.3, no file named (context trimming only)",
            messages=tool_conversation(question, "bash", flask, {"command": "git diff 3.1.0..3.1.3"}),
            target_saved=0.1,
            needles=[line for line in flask.split("\n") if line.startswith(("+", "-"))][:200],
            query=question,
            source="real: git_diff_flask_3.1.0..3.1.3.diff",
            check=_all_file_headers_kept(flask),
        )
    )

    man = _read("man_find.1.txt")
    question = "How do I find files by modification time with -mtime?"
    out.append(
        Workload(
            issue=3,
            name="man find(1) as prose",
            messages=tool_conversation(question, "bash", man, {"command": "man find | col -b"}),
            target_saved=0.5,
            needles=[
                "-mtime n",
                "File's  data was last modified less than, more than or exactly n*24 hours ago.",
                "the comments for -atime to understand how rounding affects  the  interpretation  of",
                "-newer reference",
                "Time  of the last data modification of the current file is more recent than that of",
                "$ find $HOME -mtime 0",
                "-mtime 0, a file will have to have a modification in the past which is less than 24",
            ],
            query=question,
            source="real: man_find.1.txt",
        )
    )

    tutorial = _read("pydocs3.11_tutorial_classes.rst.txt")
    question = "How do private variables and name mangling work in Python classes?"
    out.append(
        Workload(
            issue=3,
            name="Python tutorial 'Classes' (reST) as prose",
            messages=tool_conversation(question, "read_file", tutorial, {"path": "tutorial/classes.rst"}),
            target_saved=0.5,
            needles=[
                "called :dfn:`name mangling`.",
                "is textually replaced with ``_classname__spam``",
                "Name mangling is helpful for letting subclasses override methods without",
                "Note that the mangling rules are designed mostly to avoid accidents; it still is",
            ],
            query=question,
            source="real: pydocs3.11_tutorial_classes.rst.txt",
        )
    )

    import argparse
    import json
    import logging
    import subprocess
    import urllib.request

    chunks = [
        textwrap.dedent(m.__doc__ or "").strip()
        for m in (argparse, subprocess, logging, json, urllib.request)
    ]
    retrieved = "\n\n".join(f"[chunk {i}]\n{c}" for i, c in enumerate(chunks, 1))
    question = "How do I run a command and capture its output with subprocess?"
    out.append(
        Workload(
            issue=3,
            name="retrieved chunks: stdlib module docstrings",
            messages=tool_conversation(question, "search_docs", retrieved, {"query": question}),
            target_saved=0.4,
            needles=[
                "run(...): Runs a command, waits for it to complete, then returns a",
                "check_output(...): Same as check_call() but returns the contents of",
            ],
            query=question,
            source="real: CPython standard-library docstrings (the running interpreter's)",
        )
    )
    out.extend(large_workloads())
    return out


# --------------------------------------------------------------------------- large inputs (speed)

SPEED_GOAL = "speed goal: ratio <= 3x"
_DEFINITION = re.compile(r"^\s*(?:async\s+)?(?:def|class) (\w+)")


def stdlib_definitions_grep(max_lines: int = 12_000) -> str:
    """`grep -rn -E '^\\s*(def|class) ' --include=*.py .` over the running CPython's standard
    library (top-level modules and packages, sorted paths), cut at `max_lines` hits."""
    import sysconfig

    root = Path(sysconfig.get_paths()["stdlib"])
    out: list[str] = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(("site-packages/", "test/", "idlelib/idle_test/", "lib2to3/tests/")):
            continue
        try:
            lines = path.read_text(encoding="utf-8").split("\n")
        except (OSError, UnicodeDecodeError):
            continue
        for n, line in enumerate(lines, 1):
            if _DEFINITION.match(line):
                out.append(f"./{rel}:{n}:{line}")
                if len(out) >= max_lines:
                    return "\n".join(out) + "\n"
    return "\n".join(out) + "\n"


def pydoc_topics() -> str:
    """The Python language reference as plain text (`pydoc_data.topics`, shipped with CPython)."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[name] for name in sorted(topics))


def large_workloads() -> list[Workload]:
    grep = stdlib_definitions_grep()
    wanted = ("parse_known_args", "HTTPConnection")
    needles = [
        f"{m['line']}:{m['body']}"
        for m in map(_MATCH.match, grep.split("\n"))
        if m and (d := _DEFINITION.match(m["body"])) and d[1] in wanted
    ]
    question = "Where are parse_known_args and HTTPConnection defined?"
    docs = pydoc_topics()
    prose_question = "How does the with statement call __exit__ when an exception is raised?"
    big_diff, _ = twenty_file_diff(seed=11, files=200)
    diff_question = "Review the changes to billing/invoice.py: why did the rounding change?"
    return [
        Workload(
            issue=11,
            name=f"grep -rn def|class, CPython stdlib (12,000 hits; {SPEED_GOAL})",
            messages=tool_conversation(
                question, "bash", grep, {"command": "grep -rnE '^\\s*(def|class) ' ."}
            ),
            target_saved=0.8,
            needles=needles,
            query=question,
            source="real: the running CPython's standard library",
        ),
        Workload(
            issue=11,
            name=f"Python language reference (pydoc topics) as prose ({SPEED_GOAL})",
            messages=tool_conversation(prose_question, "read_file", docs, {"path": "reference.txt"}),
            target_saved=0.5,
            needles=[
                'from the "__exit__()" method was false, the exception is reraised.',
                "if not exit(manager, *sys.exc_info()):",
            ],
            query=prose_question,
            source="real: pydoc_data.topics (CPython)",
        ),
        Workload(
            issue=11,
            name=f"200-file diff, query names 1 file ({SPEED_GOAL})",
            messages=tool_conversation(
                diff_question, "bash", big_diff, {"command": "git diff main...feature"}
            ),
            target_saved=0.5,
            needles=_changed_lines(big_diff, "billing/invoice.py"),
            query=diff_question,
            check=_all_file_headers_kept(big_diff),
        ),
    ]
