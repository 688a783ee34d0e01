"""The router's pre-checks and early exits give exactly what the plain detection rules give
(the rules are restated here, written the simple way), on the real fixtures and on
generated text."""

from __future__ import annotations

import bisect
import re

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headroom_core import _router as router
from headroom_core._text import MIN_BASE64_RUN, binary_sample, looks_binary
from tests.support.real_texts import fixture_texts

REAL = fixture_texts(max_bytes=3_000_000)

_HINTS = (
    router._Hints(None, "", ""),
    router._Hints("app.log", "", "read_file"),
    router._Hints(None, "pytest -v", "run_shell"),
    router._Hints(None, "rg -n foo", "grep", frozenset({"grep"})),
    router._Hints(None, "npm install", "run_shell"),
)

# --------------------------------------------------------------------------- the plain rules


def plain_is_log(lines: list[str], hints: router._Hints) -> bool:
    top = [line for line in lines if line.strip() and not line[:1].isspace()]
    if len(top) < 3:
        return False
    log_hint = (hints.path or "").lower().endswith((".log", ".log.1", ".out", ".err")) or any(
        c in hints.command for c in router._LOG_COMMANDS
    )
    needed = (0.25 if log_hint else 0.5) * len(top)
    hits = sum(
        1 for line in top if router._TIMESTAMP.search(line[:80]) or router._LEVEL.search(line[:160].upper())
    )
    return hits >= needed


_PLAIN_TEST_LITERALS = ("\n=", "\nRan ", "\ntest result: ", "\nrunning ", "\nTest Suites: ", "\nok")


def plain_may_be_test_output(joined: str) -> bool:
    if any(literal in joined for literal in (*_PLAIN_TEST_LITERALS, *router._TEST_LITERALS)):
        return True
    return "::" in joined and any(outcome in joined for outcome in router._TEST_OUTCOMES)


def plain_is_test_output(lines: list[str], hints: router._Hints) -> bool:
    strong = sum(1 for line in lines if router._TEST_STRONG.match(line))
    per_test = sum(
        1 for line in lines if not router._TEST_STRONG.match(line) and router._TEST_LINE.match(line)
    )
    runner = any(
        w in hints.command for w in ("pytest", "unittest", "jest", "vitest", "go test", "cargo test")
    )
    if runner and (strong or per_test >= 2):
        return True
    return (strong >= 1 and per_test >= 2) or strong >= 3 or per_test >= 10


def plain_is_search_results(lines: list[str], hints: router._Hints) -> bool:
    """A context line is `<a path seen on a match line>-<digits>-...` (any such path)."""
    search_tool = bool(hints.tool_words & router._SEARCH_TOOL_WORDS) or any(
        hints.command.startswith(w) for w in ("grep ", "egrep ", "fgrep ", "rg ", "ag ", "git grep", "ack ")
    )
    nonblank = [line for line in lines if line.strip()]
    if len(nonblank) < 2:
        return False
    paths: set[str] = set()
    matches = 0
    for line in nonblank:
        m = router._SEARCH_MATCH.match(line)
        if m and not router._is_clock(line, m):
            matches += 1
            paths.add(m.group("path"))
    if matches == 0 and search_tool:
        for line in nonblank:
            m = router._SEARCH_MATCH_NO_LINE.match(line)
            if m:
                matches += 1
                paths.add(m.group("path"))
    if matches < 2:
        return False
    covered = matches
    for line in nonblank:
        if line == "--":
            covered += 1
        elif not router._SEARCH_MATCH.match(line):
            for path in paths:
                rest = line[len(path) + 1 :]
                digits = len(rest) - len(rest.lstrip("0123456789"))
                if line.startswith(path + "-") and digits and rest[digits : digits + 1] == "-":
                    covered += 1
                    break
    return covered / len(nonblank) >= (0.5 if search_tool else 0.7)


def plain_is_transcript(lines: list[str], hints: router._Hints) -> bool:
    nonblank = [line for line in lines if line.strip()]
    if len(nonblank) < 5:
        return False
    hits = sum(1 for line in nonblank if router._TRANSCRIPT_LINE.match(line))
    command = any(
        hints.command.startswith(c) or f" {c}" in hints.command for c in router._TRANSCRIPT_COMMANDS
    )
    return hits >= 3 and hits >= (0.1 if command else 0.25) * len(nonblank)


def plain_is_records(lines: list[str]) -> bool:
    nonblank = structured = comments = fields = 0
    keys: set[str] = set()
    in_field = False
    for line in lines:
        if not line.strip() or line.strip() == "---":
            in_field = False
            continue
        nonblank += 1
        if in_field and line[:1] in (" ", "\t"):
            structured += 1
        elif router._RECORD_FIELD.match(line):
            structured += 1
            fields += 1
            key = router._RECORD_KEY.match(line)
            if key is not None:
                keys.add(key.group(1))
            in_field = True
            continue
        elif router._RECORD_SECTION.match(line):
            structured += 1
        elif router._RECORD_COMMENT.match(line):
            comments += 1
        else:
            in_field = False
            continue
        in_field = in_field and line[:1] in (" ", "\t")
    content = nonblank - comments
    return content >= 6 and fields >= 5 and len(keys) >= 3 and structured >= 0.8 * content


def plain_is_blob(text: str) -> bool:
    if looks_binary(text):
        return True
    stripped = binary_sample(text).strip()
    return len(stripped) >= MIN_BASE64_RUN and router._base64_share(stripped) > 0.6


_PLAIN_OPENER = re.compile(r"^[\[{]\s*$", re.M)
_PLAIN_CLOSERS = {c: re.compile(r"^" + re.escape(c) + r",?[ \t]*$", re.M) for c in "}]"}


def plain_embedded_json_blocks(text: str) -> list[tuple[int, int]]:
    """Openers and closers found with `^` patterns (tried at every position)."""
    closers = {c: [m.start() + 1 for m in p.finditer(text)] for c, p in _PLAIN_CLOSERS.items()}
    blocks: list[tuple[int, int]] = []
    attempts = 0
    pos = 0
    for match in _PLAIN_OPENER.finditer(text):
        if attempts >= router._MAX_JSON_ATTEMPTS:
            break
        start = match.start()
        if start < pos:
            continue
        ends = closers["}" if text[start] == "{" else "]"]
        for end in ends[bisect.bisect_right(ends, match.end()) :]:
            if attempts >= router._MAX_JSON_ATTEMPTS:
                break
            attempts += 1
            try:
                orjson.loads(text[start:end])
            except (orjson.JSONDecodeError, UnicodeEncodeError):
                continue
            if end - start >= router._MIN_EMBEDDED_JSON_CHARS:
                blocks.append((start, end))
            pos = end
            break
    return blocks


def plain_share(lines: list[str], pattern: re.Pattern[str]) -> float:
    nonblank = [line for line in lines if line.strip()]
    if not nonblank:
        return 0.0
    return sum(1 for line in nonblank if pattern.search(line)) / len(nonblank)


def assert_detectors_equal_plain(text: str) -> None:
    lines = router._sample_lines(text)
    joined = router._joined(lines)
    for pattern, share in ((router._CODE_LINE, 0.2), (router._SENTENCE, 0.6), (router._SENTENCE, 0.0)):
        assert router._share_at_least(lines, pattern, share) == (plain_share(lines, pattern) >= share)
    assert router._may_be_test_output(lines, joined) == plain_may_be_test_output(joined)
    assert router._is_records(lines) == plain_is_records(lines)
    for hints in _HINTS:
        assert router._is_log(lines, hints) == plain_is_log(lines, hints)
        assert router._is_transcript(lines, hints) == plain_is_transcript(lines, hints)
        assert router._is_test_output(lines, hints, joined) == plain_is_test_output(lines, hints)
        assert router._is_search_results(lines, hints, joined) == plain_is_search_results(lines, hints)
    assert router._embedded_json_blocks(text) == plain_embedded_json_blocks(text)
    if len(text) >= router._MIN_CLASSIFY_CHARS:
        assert router._is_blob(text) == plain_is_blob(text)


# --------------------------------------------------------------------------- real inputs


@pytest.mark.parametrize("name,text", REAL, ids=[name for name, _ in REAL])
def test_real_inputs_detect_as_the_plain_rules_do(name: str, text: str) -> None:
    assert_detectors_equal_plain(text)


def test_real_inputs_are_real() -> None:
    assert len(REAL) >= 20  # the fixtures are there: the test above compared something


# --------------------------------------------------------------------------- generated inputs

_LINE_PIECES = st.sampled_from(
    [
        *"ab:/-[]{} ,=.0123456789\t\r",
        *("2024-01-02 10:11:12", "10:11", "1:2:3", "Jan  2 10:11:12", "081109 203615 ", "1700000000 "),
        *("[1700000000] ", "[12/Mar/2024:10:11:12", "INFO", "info", "Warning", "ERROR", "level=error"),
        *('"level": "x"', "ß", "ﬁ", "İ", "ı", "K", "٣", "debug", "SEVERE", "traceback"),
        *("src/a.py:12:", "src/a.py-13-", "src/a-1-b.py:3:", "src/a-1-b.py-4-x", "--", "x.log_10:11:12"),
        *(
            "tests/t.py::test_x PASSED",
            "=== RUN x",
            "ok  pkg 0.1s",
            "FAIL",
            "%]",
            " ... ok",
            "Ran 3 tests in 0.1s",
        ),
        *("npm warn x", "Get:1 http://x", "Setting up x", "make: *** x", "  --> a.rs:1:2", "error: x"),
        *("Package: x", "Version: 1", "  continued", "[section]", "# comment", "key = v", "---"),
        *("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" * 2, "data:image/png;base64,"),
    ]
)
_LINE = st.lists(_LINE_PIECES, max_size=12).map("".join)
_TEXT = st.lists(_LINE, min_size=1, max_size=40).map("\n".join)
_JSONISH = st.lists(
    st.sampled_from(["{", "[", "}", "},", "]", "  ", '  "a": 1,', '  "b": [1, 2]', "text", "{ ", "}\t", ""]),
    max_size=30,
).map("\n".join)


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_generated_text_detects_as_the_plain_rules_do(text: str) -> None:
    assert_detectors_equal_plain(text)


@settings(max_examples=300, deadline=None)
@given(_JSONISH, st.sampled_from(["", "\n", "x\n", '{"k": "' + "v" * 150 + '"}\n']))
def test_embedded_json_found_after_a_line_break_equals_the_anchored_search(body: str, head: str) -> None:
    text = head + body
    assert router._embedded_json_blocks(text) == plain_embedded_json_blocks(text)


def test_hints_find_each_holding_line_once() -> None:
    lines = ["10:11 a", "x ERROR y ERROR", "none", "[1 start", "5", "tail WARN"]
    joined = "\n".join(lines)
    starts = router._offsets(lines)
    found: set[int] = set()
    router._lines_holding(joined, starts, router._CLOCK_HINT, found)
    assert found == {0}
    router._lines_holding(joined, starts, router._DIGIT_AFTER_BREAK, found, skip=1)
    assert found == {0, 3, 4}
    for word in ("ERROR", "WARN"):
        router._lines_holding(joined, starts, word, found)
    assert found == {0, 1, 3, 4, 5}
