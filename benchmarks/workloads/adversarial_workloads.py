"""Adversarial text (issue 12): shapes that made the router or a compressor super-linear.

Each generator makes text of about `size` characters, deterministically: unclosed
brackets on their own lines (12.9), long unbroken lines, huge single words and lines of
hundreds of letters (12.10, 12.11), deep nesting, runs of repeated separators and quotes, and `Key: value` text whose
values never end. `tests/compressors/test_adversarial_time.py` runs every route on them at
10 KB, 100 KB and 1 MB and checks that time grows about linearly; the 1 MB cases are
`make bench` workloads here (their target is time, not savings: nothing needs to be saved).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from benchmarks._harness import Workload, tool_conversation


def _unclosed_brackets(size: int) -> str:
    block = "{\nsome words of a log line here\n[\n"
    return block * (size // len(block) + 1)


def _long_line(size: int) -> str:
    rng = random.Random(12)
    chunk = "".join(rng.choice("abcdefghij<>[]()=-_.0123456789") for _ in range(997))
    return (chunk * (size // len(chunk) + 1))[:size]


def _huge_word(size: int) -> str:
    return "a" * size


def _long_word_lines(size: int) -> str:
    """Lines of 399 letters: the router's grep-line patterns backtracked quadratically on
    each (1,000 such lines: 4.6 s per route call)."""
    line = "a" * 399 + "\n"
    return line * (size // len(line) + 1)


def _bracket_lines(size: int) -> str:
    """Lines of 999 opening brackets: the log templater's variable-token pattern retried
    each line from every bracket to its end (1 MB: 11 s)."""
    line = "(" * 999 + "\n"
    return line * (size // len(line) + 1)


def _deep_nesting(size: int) -> str:
    half = size // 2
    return "[" * half + "]" * half


def _repeated_separators(size: int) -> str:
    block = ":" * 50 + "=" * 50 + "\n" + "-" * 99 + "\n" + "'" * 40 + " a" * 10 + "\n\n\n"
    return (block * (size // len(block) + 1))[:size]


def _endless_fields(size: int) -> str:
    """`Key: value` lines whose last value never ends, and `key=` runs without a newline."""
    head = "".join(f"Key{i}: value {i}\n" for i in range(20))
    return head + "Tail: " + "x=" * ((size - len(head)) // 2)


def _continued_field(size: int) -> str:
    """One `Key: value` stanza whose value runs on over indented continuation lines
    (Debian control style): a parser that rebuilt the value on every line went quadratic."""
    head = (
        "Package: adversarial\nVersion: 1.0\nArchitecture: all\nMaintainer: nobody\n"
        "Section: misc\nPriority: optional\nDescription: a value that never ends\n"
    )
    line = " continued line of the same field value\n"
    return head + line * ((size - len(head)) // len(line))


GENERATORS: dict[str, Callable[[int], str]] = {
    "unclosed_brackets": _unclosed_brackets,
    "long_line": _long_line,
    "huge_word": _huge_word,
    "long_word_lines": _long_word_lines,
    "bracket_lines": _bracket_lines,
    "deep_nesting": _deep_nesting,
    "repeated_separators": _repeated_separators,
    "endless_fields": _endless_fields,
    "continued_field": _continued_field,
}


def adversarial_texts(size: int) -> dict[str, str]:
    """name -> text of about `size` characters."""
    return {name: make(size) for name, make in GENERATORS.items()}


def workloads() -> list[Workload]:
    out = []
    for name, text in adversarial_texts(1_000_000).items():
        out.append(
            Workload(
                name=f"adversarial_{name}_1mb",
                messages=tool_conversation("What does this output say?", "fetch_page", text),
                target_saved=0.0,
                source="generated",
                issue=12,
            )
        )
    return out
