"""TestOutputCompressor: keep failures and the summary, count the passing tests.

Understands pytest (plain and `-v`), unittest, jest / vitest, `go test` and `cargo test`
output. Passing-test lines are dropped and counted; failing tests, errors, their
tracebacks and assertion messages, and the runner's final summary are kept. A failure
section longer than `LogConfig.test_failure_lines` keeps its key lines (the failing
source line and its lead-in, `E` lines, `file:line: Error` locations, head and tail).

The first output line reads like `[test results: 310 passed, 2 failed, 1 error; failed:
tests/a.py::test_x, ...]`; the whole original is stashed once in CCR (`unit="line"`)
and one marker stands where the first passing line was.
"""

from __future__ import annotations

import itertools
import re
from typing import ClassVar

from headroom_core._text import plural
from headroom_core.compressors._base import CompressContext, Compressed

_PASSING = re.compile(
    r"^\S+::\S.*\s(?:PASSED|SKIPPED|XFAIL|XPASS|XFAILED)(?:\s+\[\s*\d+%\])?\s*$"  # pytest -v
    r"|^\S+\.py [.sx]+\s*(?:\[\s*\d+%\])?\s*$"  # pytest progress dots, no F/E
    r"|^test\w* \([\w.]+\)(?: \S.*)? \.\.\. (?:ok|skipped\b.*|expected failure)\s*$"  # unittest -v
    r"|^\s+[✓✔√]\s"  # jest / vitest passing test
    r"|^\s*PASS\s+\S+"  # jest passing suite
    r"|^=== (?:RUN|PAUSE|CONT|NAME)\s"  # go test -v bookkeeping
    r"|^\s*--- (?:PASS|SKIP): "  # go test -v passing / skipped test
    r"|^test \S.* \.\.\. (?:ok|ignored)\s*$"  # cargo test
)
_FAILURE_NAMES = (
    re.compile(r"^(?:FAILED|ERROR) (\S+)"),  # pytest short summary
    re.compile(r"^(\S+::\S+?)\s+(?:FAILED|ERROR)\b"),  # pytest -v
    re.compile(r"^(?:FAIL|ERROR): (test\w*) \(([\w.]+)\)"),  # unittest
    re.compile(r"^test\w* \([\w.]+\)(?: \S.*)? \.\.\. (?:FAIL|ERROR)$"),  # unittest -v
    re.compile(r"^\s*●\s+(?!Console\b)(.+?)\s*$"),  # jest failure heading
    re.compile(r"^\s+[✕✗×]\s+(.+?)(?:\s+\(\d+\s*m?s\))?\s*$"),  # jest / vitest failing test
    re.compile(r"^\s*FAIL\s+(\S+ > .+?)\s*$"),  # vitest failure heading
    re.compile(r"^\s*--- FAIL: (\S+)"),  # go test
    re.compile(r"^test (\S+) \.\.\. FAILED"),  # cargo test
)
_PYTEST_SUMMARY = re.compile(r"^=+ (.*\b(?:passed|failed|error|errors|skipped|no tests ran)\b.*) =+\s*$")
_PYTEST_COUNT = re.compile(
    r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected|warnings?|rerun)"
)
_UNITTEST_RAN = re.compile(r"^Ran (\d+) tests? in ")
_UNITTEST_RESULT = re.compile(r"^(OK|FAILED)\b(?: \((.*)\))?\s*$")
_JEST_TESTS = re.compile(r"^\s*Tests:?\s+(.*\d+ (?:passed|failed|total).*)$")
_CARGO_RESULT = re.compile(r"^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored")
_GO_RESULT = re.compile(r"^\s*--- (PASS|FAIL|SKIP): ")

# pytest failure sections: `____ test_name ____` headings inside FAILURES / ERRORS.
_SECTION_RULE = re.compile(r"^=+ .* =+\s*$")
_FAILURE_HEADING = re.compile(r"^_{3,} .+ _{3,}\s*$")
_KEY_LINE = re.compile(
    r"^E\s"  # assertion / exception message
    r"|^>"  # the failing source line
    r"|^\S+:\d+: \w*"  # file:line: ErrorType
    r"|^-{3,} .* -{3,}$"  # "Captured stdout call" sections
    r"|^[\w.]+(?:Error|Exception|Warning|Exit|Interrupt)\b"  # last line of a traceback
    r"|^_ _ _"
)
_ORDER = ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "deselected")
_MAX_NAMED = 50
_MIN_GAP = 3


def _count(n: int, word: str) -> str:
    """`310 passed`, `2 failed`, `1 error` / `3 errors` (only "error" is a noun here)."""
    return plural(n, word) if word == "error" else f"{n:,} {word}"


class TestOutputCompressor:
    __test__ = False  # not a pytest test class despite the name
    name: ClassVar[str] = "test_output"

    def compress(self, text: str, ctx: CompressContext) -> Compressed | None:
        # TextConfig documents test output as one of its kinds and LogConfig holds its knobs:
        # either switch turns it off.
        enabled = ctx.config.logs.enabled and ctx.config.text.enabled
        if not isinstance(text, str) or not ctx.can_drop or not enabled:
            return None
        lines = text.split("\n")
        trailing_newline = len(lines) > 1 and lines[-1] == ""
        if trailing_newline:
            lines.pop()

        failures: list[str] = []
        seen_failures: set[str] = set()
        keep = bytearray(len(lines))
        passing_lines = 0
        go_counts = {"passed": 0, "failed": 0, "skipped": 0}
        for i, line in enumerate(lines):
            name = _failure_name(line)
            if name is not None and name not in seen_failures:
                seen_failures.add(name)
                failures.append(name)
            go = _GO_RESULT.match(line)
            if go is not None:
                go_counts[{"PASS": "passed", "FAIL": "failed", "SKIP": "skipped"}[go.group(1)]] += 1
            if _PASSING.match(line[:2000]):
                passing_lines += 1
            else:
                keep[i] = 1
        trimmed = _trim_failure_sections(lines, keep, ctx.config.logs.test_failure_lines)
        if passing_lines == 0 and trimmed == 0:
            return None

        counts = _counts(lines, go_counts, passing_lines, len(failures))
        summary = ", ".join(_count(counts[k], k) for k in _ORDER if counts.get(k))
        if not summary:
            summary = f"{passing_lines:,} passing test lines"
        if failures:
            named = ", ".join(failures[:_MAX_NAMED])
            if len(failures) > _MAX_NAMED:
                named += f", and {len(failures) - _MAX_NAMED:,} more"
            summary += f"; failed: {named}"

        key = ctx.stash(text, "log", unit="line")
        what = []
        if passing_lines:
            what.append(f"{passing_lines:,} passing test lines")
        if trimmed:
            what.append(f"{trimmed:,} traceback lines")
        marker = ctx.marker(" and ".join(what) + " omitted", key)
        out = [f"[test results: {summary}]"]
        marker_placed = False
        gap = 0
        for i, line in enumerate(lines):
            if keep[i]:
                if gap:
                    if not marker_placed:
                        out.append(marker)
                        marker_placed = True
                    elif keep[i - 1] == 0 and _trimmed_here(lines, keep, i, gap):
                        out.append(f"    [... {gap:,} traceback lines ...]")
                    gap = 0
                out.append(line)
            else:
                gap += 1
        if not marker_placed:
            out.append(marker)
        result = "\n".join(out)
        if trailing_newline:
            result += "\n"
        if len(result) >= len(text):
            return None
        return Compressed(result, (key,), summary)


def _trimmed_here(lines: list[str], keep: bytearray, index: int, gap: int) -> bool:
    """A gap left by trimming a traceback (not by passing lines) gets an inline note."""
    return not any(_PASSING.match(lines[j][:2000]) for j in range(index - gap, index))


# All failure-line shapes in one pattern: most lines match none, and one C-level match
# rules them out instead of nine Python-level calls.
_ANY_FAILURE = re.compile("|".join(f"(?:{p.pattern})" for p in _FAILURE_NAMES))


def _failure_name(line: str) -> str | None:
    if _ANY_FAILURE.match(line[:2000]) is None:
        return None
    for pattern in _FAILURE_NAMES:
        match = pattern.match(line[:2000])
        if match is None:
            continue
        if match.groups() and len(match.groups()) == 2:
            return f"{match.group(2)}.{match.group(1)}"
        if match.groups():
            return match.group(1)
        head = line.split(" ", 1)[0]
        return head
    return None


def _trim_failure_sections(lines: list[str], keep: bytearray, max_lines: int) -> int:
    """Trim long pytest failure sections in place (in `keep`); returns lines dropped."""
    dropped = 0
    starts = [i for i, line in enumerate(lines) if _FAILURE_HEADING.match(line[:400])]
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        for j in range(start + 1, end):
            if _SECTION_RULE.match(lines[j][:400]):
                end = j
                break
        if end - start <= max_lines:
            continue
        chosen = set(range(start, min(end, start + 3))) | set(range(max(start, end - 3), end))
        error_lines = 0
        for j in range(start, end):
            line = lines[j]
            if not _KEY_LINE.match(line[:400]):
                continue
            if line.startswith("E"):
                error_lines += 1
                if error_lines > max_lines:
                    continue
            chosen.add(j)
            if line.startswith(">"):
                chosen.update(range(max(start, j - 2), j))
        # Gaps of a line or two cost more as a note than they save: keep them.
        ordered = sorted(chosen)
        for a, b in itertools.pairwise(ordered):
            if 1 < b - a <= _MIN_GAP:
                chosen.update(range(a + 1, b))
        for j in range(start, end):
            if keep[j] and j not in chosen:
                keep[j] = 0
                dropped += 1
    return dropped


def _counts(lines: list[str], go_counts: dict[str, int], passing_lines: int, failures: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in reversed(lines):  # the final summary is near the end
        match = _PYTEST_SUMMARY.match(line[:400])
        if match:
            for number, word in _PYTEST_COUNT.findall(match.group(1)):
                word = "error" if word.startswith("error") else word
                if not word.startswith("warning") and word != "rerun":
                    counts[word] = counts.get(word, 0) + int(number)
            if counts:
                return counts
        match = _JEST_TESTS.match(line[:400])
        if match:
            for number, word in re.findall(r"(\d+) (passed|failed|skipped|todo)", match.group(1)):
                counts[word] = int(number)
            if counts:
                return counts
    ran = None
    for line in lines:
        match = _UNITTEST_RAN.match(line)
        if match:
            ran = int(match.group(1))
    if ran is not None:
        for line in reversed(lines):
            match = _UNITTEST_RESULT.match(line)
            if match:
                details: dict[str, str] = dict(re.findall(r"(\w+)=(\d+)", match.group(2) or ""))
                failed = int(details.get("failures", 0))
                errors = int(details.get("errors", 0))
                skipped = int(details.get("skipped", 0))
                xfailed = int(details.get("expected failures", details.get("expected_failures", 0)))
                counts = {"passed": max(0, ran - failed - errors - skipped - xfailed), "failed": failed}
                counts.update({"error": errors, "skipped": skipped, "xfailed": xfailed})
                return counts
    cargo = [(0, 0, 0)]
    for line in lines:
        match = _CARGO_RESULT.match(line)
        if match:
            cargo.append((int(match.group(1)), int(match.group(2)), int(match.group(3))))
    if len(cargo) > 1:
        return {
            "passed": sum(c[0] for c in cargo),
            "failed": sum(c[1] for c in cargo),
            "skipped": sum(c[2] for c in cargo),
        }
    if any(go_counts.values()):
        return dict(go_counts)
    return {"passed": passing_lines, "failed": failures}
