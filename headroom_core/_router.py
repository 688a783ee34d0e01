"""Content router: decide what a piece of text is, cheaply and deterministically.

`route(text, hints)` returns one or more `Segment`s; mixed content (a text header and
a JSON body, a log with a pretty-printed JSON payload) comes back as several segments
that are compressed separately and joined again in order, so
`"".join(s.text for s in segments) == text` always holds.

Detection looks at a bounded sample of lines (head, tail and evenly spaced middle lines,
each cut to a few hundred characters), so the work on a 100k-line log or a single 5 MB
line stays small. Order of the checks (first match wins):

1. whole text is JSON -> "json"
2. base64 / data: URL / binary garbage -> "blob"
3. HTML document -> "html"
4. unified diff -> "diff"
5. grep / ripgrep results -> "search_results"
6. test runner output -> "test_output"
7. source code (path hint, shebang, tree-sitter confirmed) -> "code"
8. transcripts without timestamps (package managers, builds, CI steps) and log lines
   (timestamps, levels) -> "log"
9. `Key: value` stanzas, INI/TOML sections, `key=value` dumps -> "records"
10. anything else long -> "prose"; short -> "text" (left alone)

Before that, a JSON body after a text header, or multi-line JSON blocks embedded in
line-oriented text, are split out into their own "json" segments.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from headroom_core._language import detect_language
from headroom_core._text import (
    BASE64_RUN,
    DATA_URL,
    MIN_BASE64_RUN,
    WRAPPED_BASE64,
    binary_sample,
    is_plausible_base64,
    looks_binary,
)

# The kinds the router can name; each maps to a compressor in `compressors.REGISTRY`.
KINDS = (
    "json",
    "code",
    "log",
    "test_output",
    "search_results",
    "diff",
    "html",
    "prose",
    "blob",
    "records",
    "text",
)

# Texts shorter than this are never worth a compressor ("text" passes through).
_MIN_CLASSIFY_CHARS = 200
# Sampling bounds: how many lines detection looks at, and how much of each.
_SAMPLE_HEAD = 400
_SAMPLE_TAIL = 200
_SAMPLE_MIDDLE = 400
_SAMPLE_LINE_CHARS = 400
# Embedded JSON: the smallest block worth its own segment, and how many parses we try.
_MIN_EMBEDDED_JSON_CHARS = 120
_MAX_JSON_ATTEMPTS = 40
_HEADER_SCAN_LINES = 15
# Blobs: the run length that earns its own segment.
_MIN_SPLIT_BLOB = 2048

_PATH_ARG_KEYS = ("path", "file_path", "filepath", "file", "filename", "target_file", "uri", "url")
_COMMAND_ARG_KEYS = ("command", "cmd", "args", "argv")


@dataclass(frozen=True)
class Segment:
    kind: str
    text: str
    language: str | None = None
    """For code: 'python', 'go', ...; for anything else None."""


@dataclass(frozen=True)
class RouteHints:
    tool_name: str | None = None
    tool_args: Mapping[str, Any] | None = None


# The first non-whitespace character (whitespace as `str.strip` counts it).
_NON_SPACE = re.compile(r"\S")


def looks_like_json(text: str) -> bool:
    first = _NON_SPACE.search(text)
    if first is None or text[first.start()] not in "[{":
        return False  # decided without copying a large text to strip it
    stripped = text.strip()
    if len(stripped) < 2 or stripped[0] not in "[{" or stripped[-1] not in "]}":
        return False
    try:
        orjson.loads(stripped)
    except (orjson.JSONDecodeError, UnicodeEncodeError):
        return False
    return True


# --------------------------------------------------------------------------- hints


@dataclass(frozen=True)
class _Hints:
    path: str | None
    command: str
    tool: str
    tool_words: frozenset[str] = frozenset()
    """The tool name's words: `web_search` -> {web, search}, `GrepTool` -> {grep, tool}."""


# A tool name's words: split at `_`, `-`, `.`, `/`, spaces and lower-to-upper case changes.
_NAME_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def tool_words(name: str) -> frozenset[str]:
    """The words of a tool name, lower-cased: matching by word, never by substring, so
    `rg` does not match `merge` nor `ag` `fetch_page` or `image`."""
    return frozenset(w.lower() for w in _NAME_WORD.findall(name[:200]))


def _read_hints(hints: RouteHints | None) -> _Hints:
    path: str | None = None
    command = ""
    tool = ""
    if hints is not None:
        tool = (hints.tool_name or "").lower() if isinstance(hints.tool_name, str) else ""
        args = hints.tool_args if isinstance(hints.tool_args, Mapping) else {}
        for key in _PATH_ARG_KEYS:
            value = args.get(key)
            if isinstance(value, str) and value:
                path = value
                break
        for key in _COMMAND_ARG_KEYS:
            value = args.get(key)
            if isinstance(value, str):
                command = value
                break
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                command = " ".join(value)
                break
    raw_tool = hints.tool_name if hints is not None and isinstance(hints.tool_name, str) else ""
    return _Hints(path, command.lower(), tool, tool_words(raw_tool))


# --------------------------------------------------------------------------- sampling


def _sample_lines(text: str) -> list[str]:
    """A bounded, deterministic sample of the text's lines, each cut short."""
    limit = _SAMPLE_HEAD + _SAMPLE_TAIL + _SAMPLE_MIDDLE
    window = _SAMPLE_LINE_CHARS * 200
    if len(text) <= 4 * window:
        lines = text.split("\n")
    else:
        # Never split a huge text whole: read a head, a tail and three middle windows,
        # dropping the cut-off partial lines at the window edges.
        starts = [0, len(text) // 4, len(text) // 2, 3 * len(text) // 4, len(text) - window]
        lines = []
        for i, start in enumerate(starts):
            chunk = text[start : start + window].split("\n")
            if i > 0 and len(chunk) > 1:
                chunk = chunk[1:]
            if i < len(starts) - 1 and len(chunk) > 1:
                chunk = chunk[:-1]
            lines.extend(chunk)
    if len(lines) > limit:
        middle = lines[_SAMPLE_HEAD:-_SAMPLE_TAIL]
        stride = max(1, len(middle) // _SAMPLE_MIDDLE)
        lines = lines[:_SAMPLE_HEAD] + middle[::stride][:_SAMPLE_MIDDLE] + lines[-_SAMPLE_TAIL:]
    return [line[:_SAMPLE_LINE_CHARS].rstrip("\r") for line in lines]


# --------------------------------------------------------------------------- detectors


def _base64_share(text: str) -> float:
    """Share of the text covered by base64 runs / data URLs."""
    best = 0
    for pattern in (DATA_URL, BASE64_RUN, WRAPPED_BASE64):
        covered = sum(len(m.group(0)) for m in pattern.finditer(text) if is_plausible_base64(m.group(0)))
        best = max(best, covered)
    return best / max(1, len(text))


# Every base64 span `_base64_share` counts holds a run of at least this many characters of
# the base64 alphabet (a data: URL body 64, a wrapped line 60, an unbroken run 256).
_MIN_BASE64_STRETCH = 60
# The base64 alphabet (with `=`) as b"b", line breaks as themselves, the rest as b" ".
_ALPHABET_TABLE = bytes(
    ord("b")
    if c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
    else c
    if c == ord("\n")
    else ord(" ")
    for c in range(256)
)


def _is_blob(text: str) -> bool:
    if looks_binary(text):  # the one binary rule, shared with every compressor
        return True
    stripped = binary_sample(text).strip()
    if len(stripped) < MIN_BASE64_RUN:
        return False
    alphabet = stripped.encode("utf-8", "surrogatepass").translate(_ALPHABET_TABLE)
    if b"b" * _MIN_BASE64_STRETCH not in alphabet:
        return False  # no base64 span can be there: skip the three regex scans
    if (
        b"b" * MIN_BASE64_RUN not in alphabet  # no unbroken run
        and b"\n" + b"b" * _MIN_BASE64_STRETCH not in alphabet  # no wrapped block (4+ lines)
        and "data:" not in stripped  # no data: URL
    ):
        return False  # the long runs found are hex digests or identifiers, not base64
    return _base64_share(stripped) > 0.6


_HTML_START = re.compile(r"\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b", re.I | re.S)
_HTML_TAG = re.compile(
    r"</?(?:html|head|body|div|span|p|a|table|tr|td|th|ul|ol|li|h[1-6]|script|style|meta|link|br|img|nav|"
    r"section|article|header|footer|form|input|button|pre|code|em|strong|b|i)\b[^<>]{0,300}>",
    re.I,
)


def _is_html(text: str) -> bool:
    head = text[:4000]
    if _HTML_START.match(head):
        return True
    stripped = head.lstrip()
    if not stripped.startswith("<"):
        return False
    tags = _HTML_TAG.findall(head)
    return len(tags) >= 8 and sum(len(t) for t in tags) > 0.15 * len(head)


_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@")


_DIFF_LINE_STARTS = (
    " ", "+", "-", "@@", "\\", "diff ", "index ", "Index: ", "====", "new file mode", "deleted file mode",
    "old mode", "new mode", "similarity index", "dissimilarity index", "rename from", "rename to",
    "copy from", "copy to", "Binary files", "commit ", "Author:", "AuthorDate:", "Commit:", "CommitDate:",
    "Date:", "Merge:",
)  # fmt: skip


def _joined(lines: list[str]) -> str:
    """The sample lines joined, each after a line break: what the detectors' substring
    pre-checks search (`"\n@@ -"` is "a line starting with `@@ -`")."""
    return "\n" + "\n".join(lines)


def _is_diff(lines: list[str], joined: str | None = None) -> bool:
    if "\n@@ -" not in (joined if joined is not None else _joined(lines)):
        return False  # no hunk header, which a diff needs
    has_git = has_minus = has_plus = has_hunk = False
    for i, line in enumerate(lines):
        if line.startswith("diff --git ") or line.startswith("Index: "):
            has_git = True
        elif line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            has_minus = has_plus = True
        elif _HUNK.match(line):
            has_hunk = True
    if not (has_hunk and (has_git or (has_minus and has_plus))):
        return False
    # Most lines must be diff lines: a document that quotes a small diff is not a diff.
    structured = sum(1 for line in lines if not line.strip() or line.startswith(_DIFF_LINE_STARTS))
    return structured >= 0.6 * len(lines)


# grep -n / rg -n: `path:line:text`; rg context lines `path-line-text`; `--` between groups.
# The look-aheads say "holds a letter (or `_./\\`)" and "holds a `/` or `.` before its
# extension" deterministically (their first class excludes what follows it), so a long
# run of word characters without a colon costs a linear scan, not a quadratic one.
_SEARCH_MATCH = re.compile(r"^(?=[^\s:A-Za-z_./\\]*[A-Za-z_./\\])(?P<path>[^\s:]+):(?P<line>\d+):")
_SEARCH_MATCH_NO_LINE = re.compile(
    r"^(?=[^\s:/.]*[/.][^\s:]*\.[A-Za-z0-9_]{1,8}:)(?P<path>[^\s:]*\.[A-Za-z0-9_]{1,8}):"
)


def _is_clock(line: str, match: re.Match[str]) -> bool:
    """`name_13:53:08 ...` (a log file name with a time) is not `path:line:`."""
    return match.group("path")[-1:].isdigit() and line[match.end() : match.end() + 2].isdigit()


# Tool-name words that say "search results"; `web_search` is a search tool by its words.
_SEARCH_TOOL_WORDS = frozenset({"grep", "search", "rg", "ripgrep", "ag", "ack"})


# Every `path:line:` match holds this.
_LINE_NUMBER = re.compile(r":\d+:")
# Where a context line `path-<line>-text` may end its path: at a `-` before digits and a `-`.
_CONTEXT_CUT = re.compile(r"-(?=[0-9]+-)")


def _is_search_results(lines: list[str], hints: _Hints, joined: str | None = None) -> bool:
    search_tool = bool(hints.tool_words & _SEARCH_TOOL_WORDS) or any(
        hints.command.startswith(w) for w in ("grep ", "egrep ", "fgrep ", "rg ", "ag ", "git grep", "ack ")
    )
    if not search_tool and not _LINE_NUMBER.search(joined if joined is not None else _joined(lines)):
        return False  # no `path:line:` anywhere, and no search tool to allow `path:text`
    nonblank = [line for line in lines if line.strip()]
    if len(nonblank) < 2:
        return False
    paths: set[str] = set()
    matches = 0
    line_matches = [_SEARCH_MATCH.match(line) for line in nonblank]
    for line, m in zip(nonblank, line_matches, strict=True):
        if m and not _is_clock(line, m):
            matches += 1
            paths.add(m.group("path"))
    if matches == 0 and search_tool:
        # `grep -r` without -n: `path:text`.
        for line in nonblank:
            m = _SEARCH_MATCH_NO_LINE.match(line)
            if m:
                matches += 1
                paths.add(m.group("path"))
    if matches < 2:
        return False
    covered = matches
    path_lengths = {len(path) for path in paths}
    for line, m in zip(nonblank, line_matches, strict=True):
        if line == "--":
            covered += 1
        elif m is None and any(
            cut.start() in path_lengths and line[: cut.start()] in paths
            for cut in _CONTEXT_CUT.finditer(line)
        ):
            covered += 1  # a context line: a path we saw, then `-<line>-`
    threshold = 0.5 if search_tool else 0.7
    return covered / len(nonblank) >= threshold


_TEST_STRONG = re.compile(
    r"^=+ test session starts =+$"
    r"|^=+ (?:short test summary info|FAILURES|ERRORS) =+$"
    r"|^=+ .*\b\d+ (?:passed|failed|error|errors)\b.* in [\d.]+s"
    r"|^Ran \d+ tests? in [\d.]+s$"
    r"|^test result: (?:ok|FAILED)\. \d+ passed"
    r"|^running \d+ tests?$"
    r"|^Test Suites: .*\btotal$"
    r"|^\s*Tests:? .*\b\d+ (?:passed|failed)"
    r"|^\s*Test Files\s+.*\b(?:passed|failed)"
    r"|^(?:=== RUN|--- (?:PASS|FAIL|SKIP):)\s+\S+"
    r"|^(?:ok|FAIL)\s+\S+\s+(?:[\d.]+s|\(cached\))"
)
_TEST_LINE = re.compile(
    r"^\S+::\S.*\s(?:PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b"
    r"|^\S+\.py [.sxFE]+\s*\[\s*\d+%\]$"
    r"|^test\w* \([\w.]+\)(?: \S.*)? \.\.\. (?:ok|FAIL|ERROR|skipped)"
    r"|^test \S+ \.\.\. (?:ok|FAILED|ignored)"
    r"|^\s*[✓✔√✕✗×]\s+\S"
    r"|^\s*(?:PASS|FAIL)\s+\S+\.(?:js|ts|jsx|tsx|mjs|cjs)\b"
    r"|^\s+--- (?:PASS|FAIL|SKIP): "
    r"|^(?:FAIL|ERROR): test\w* \("
)


# Every line `_TEST_STRONG` or `_TEST_LINE` can match starts with one of these (searched
# for with the line break before it, in one scan: a pattern that starts with a literal is
# scanned for in a tight loop) or holds one of the literals after them.
# `=`: session banners and summaries, `=== RUN`.
_TEST_LINE_STARTS = re.compile(r"\n(?:=|Ran |test result: |running |Test Suites: |ok)")
_TEST_LITERALS = (
    "Tests",
    "Test Files",
    "--- SKIP",
    "PASS",  # also `--- PASS:`, `PASS src/x.test.js`
    "FAIL",  # also `--- FAIL:`, `FAIL: test_x (`, `FAILED`
    "ERROR: test",
    "%]",
    " ... ",
    "✓", "✔", "√", "✕", "✗", "×",
)  # fmt: skip
_TEST_OUTCOMES = ("PASSED", "FAILED", "ERROR", "SKIPPED", "XFAIL", "XPASS")


def _may_be_test_output(lines: list[str], joined: str | None = None) -> bool:
    """False when no line can match the test patterns: a few substring searches of the
    joined sample instead of two regexes per line (source code and logs hold none)."""
    if joined is None:
        joined = _joined(lines)
    if _TEST_LINE_STARTS.search(joined) or any(literal in joined for literal in _TEST_LITERALS):
        return True
    return "::" in joined and any(outcome in joined for outcome in _TEST_OUTCOMES)


def _is_test_output(lines: list[str], hints: _Hints, joined: str | None = None) -> bool:
    if not _may_be_test_output(lines, joined):
        return False
    runner = any(
        w in hints.command for w in ("pytest", "unittest", "jest", "vitest", "go test", "cargo test")
    )
    strong = 0
    per_test = 0
    for line in lines:
        if _TEST_STRONG.match(line):
            strong += 1
        elif _TEST_LINE.match(line):
            per_test += 1
        else:
            continue
        if _enough_test_lines(strong, per_test, runner):
            return True  # more lines only add to the counts, which cannot undo this
    return False


def _enough_test_lines(strong: int, per_test: int, runner: bool) -> bool:
    if runner and (strong or per_test >= 2):
        return True
    return (strong >= 1 and per_test >= 2) or strong >= 3 or per_test >= 10


_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}"  # ISO 8601
    r"|\b\d{2}:\d{2}:\d{2}\b"  # clock time
    r"|^\d{6} \d{6}\b"  # HDFS yymmdd hhmmss
    r"|^[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}"  # syslog
    r"|\[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2}"  # common log format
    r"|^\[?\d{10}(?:\.\d+)?\]?\s"  # epoch seconds
)
# Matched against the upper-cased line: case-sensitive literals scan about twice as fast
# as the same pattern with re.IGNORECASE.
_LEVEL = re.compile(
    r"\b(?:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|FATAL|CRITICAL|SEVERE)\b"
    r"|\bLEVEL[=:]\"?(?:TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL|CRITICAL)\b"
    r"|\"LEVEL\":\s*\"\w+\""
)


_LOG_COMMANDS = ("journalctl", "tail ", "docker logs", "kubectl logs", "dmesg", "less ", "cat /var/log")


# Pre-checks for `_is_log`. Every `_TIMESTAMP` match holds `hh:mm` (found from its colon:
# a pattern that starts with a literal is scanned for in a tight loop) or starts its line
# with a digit, possibly after `[` (HDFS, epoch seconds); every `_LEVEL` match holds one of
# the level words. Lines with none of these cannot count, and finding the others takes a
# few scans of the joined sample instead of two regexes on every line.
_CLOCK_HINT = re.compile(r":(?<=\d\d:)\d\d")
_DIGIT_AT_START = re.compile(r"\[?\d")
_DIGIT_AFTER_BREAK = re.compile(r"\n\[?\d")
_LEVEL_HINTS = ("TRACE", "DEBUG", "INFO", "NOTICE", "WARN", "ERROR", "FATAL", "CRITICAL", "SEVERE", "LEVEL")


def _offsets(lines: list[str]) -> list[int]:
    """Where each line starts in `"\\n".join(lines)`."""
    return list(itertools.accumulate((len(line) + 1 for line in lines[:-1]), initial=0))


def _lines_holding(
    joined: str, starts: list[int], hint: str | re.Pattern[str], found: set[int], skip: int = 0
) -> None:
    """Add to `found` the index of each line of `joined` (lines starting at `starts`) where
    `hint` is found (`skip` characters into the find: a hint may start with the line break
    before its line), searching on from the next line once a line is found."""
    pos = 0
    while True:
        if isinstance(hint, str):
            at = joined.find(hint, pos)
        else:
            match = hint.search(joined, pos)
            at = -1 if match is None else match.start()
        if at < 0:
            return
        line = bisect.bisect_right(starts, at + skip) - 1
        found.add(line)
        if line + 1 >= len(starts):
            return
        pos = starts[line + 1] - skip


def _is_log(lines: list[str], hints: _Hints) -> bool:
    top = [line for line in lines if line.strip() and not line[:1].isspace()]
    if len(top) < 3:
        return False
    # A `.log` path or a log-reading command is evidence enough for a lower bar.
    log_hint = (hints.path or "").lower().endswith((".log", ".log.1", ".out", ".err")) or any(
        c in hints.command for c in _LOG_COMMANDS
    )
    needed = (0.25 if log_hint else 0.5) * len(top)
    # The lines that may count (see the pre-checks above), then the patterns on those.
    cut = [line[:160] for line in top]
    joined = "\n".join(cut)
    starts = _offsets(cut)
    candidates: set[int] = set()
    if _DIGIT_AT_START.match(joined):
        candidates.add(0)
    _lines_holding(joined, starts, _DIGIT_AFTER_BREAK, candidates, skip=1)
    _lines_holding(joined, starts, _CLOCK_HINT, candidates)
    upper = joined.upper()
    if len(upper) == len(joined):
        upper_starts = starts
    else:  # a capital longer than its letter (`ß` -> `SS`) moved the line starts
        uppers = [line.upper() for line in cut]
        upper, upper_starts = "\n".join(uppers), _offsets(uppers)
    for word in _LEVEL_HINTS:
        _lines_holding(upper, upper_starts, word, candidates)
    if len(candidates) < needed:
        return False
    hits = 0
    for seen, i in enumerate(sorted(candidates), start=1):
        line = top[i]
        if _TIMESTAMP.search(line[:80]) or _LEVEL.search(line[:160].upper()):
            hits += 1
            if hits >= needed:
                return True  # the rest cannot change the answer
        elif hits + len(candidates) - seen < needed:
            return False
    return hits >= needed


# Lines that package managers, build tools and CI runners print: the output of a command
# run, not a timestamped log. Each alternative starts with a literal or an anchored word.
_TRANSCRIPT_LINE = re.compile(
    r"(?:Get|Hit|Ign|Err):\d+ \S"  # apt
    r"|(?:Reading package lists|Building dependency tree|Reading state information)\b"
    r"|(?:Selecting previously unselected|Preparing to unpack|Unpacking|Setting up|Processing triggers for"
    r"|Removing|Purging|Inst|Conf|Remv) \S"  # dpkg / apt-get -s
    r"|[EWN]: \S"  # apt errors, warnings, notes
    r"|[ \t]*(?:Collecting|Downloading|Processing|Requirement already satisfied:|Installing collected packages:"
    r"|Successfully (?:installed|built|uninstalled|tagged)|Building wheels?|Created wheel|Stored in directory:"
    r"|Attempting uninstall:|Found existing installation:|Uninstalling|Using cached|Looking in (?:indexes|links):"
    r"|Obtaining|Preparing metadata|Getting requirements|Installing build dependencies) "  # pip
    r"|npm (?:warn|WARN|error|ERR!|notice|http|info|verb|sill)\b"
    r"|(?:added|removed|changed|audited|up to date)\b.* packages?\b"  # npm summary
    r"|make(?:\[\d+\])?: "
    r"|(?:cc|gcc|g\+\+|c\+\+|clang|clang\+\+|rustc|javac|tsc) -|go (?:build|vet|install|generate) "  # compilers
    r"|[ \t]*(?:Compiling|Checking|Finished|Downloaded|Updating|Locking|Adding|Fresh|Building|Blocking"
    r"|Packaging|Installed|Documenting|Running|Doc-tests) \S"  # cargo (right-aligned verbs)
    r"|(?:Step \d+/\d+ :|#\d+ \[|#\d+ (?:DONE|CACHED|ERROR)\b| ---> |Sending build context)"  # docker build
    # CI runners (GitHub Actions groups and annotations); a `+ cmd` / `$ cmd` line could as
    # well be a markdown bullet or a shell tutorial, so those do not count
    r"|(?:##\[(?:group|endgroup|error|warning|section|command)\]|::(?:group|endgroup|error|warning|notice)\b)"
    r"|\S+:\d+:\d+: (?:fatal error|error|warning|note):"  # compiler diagnostics
    r"|(?:warning|error)(?:\[\w+\])?: "  # rustc / cargo / generic
    r"|\s+--> \S+:\d+:\d+"  # rustc locations
)
_TRANSCRIPT_COMMANDS = (
    "apt ", "apt-get", "aptitude", "dpkg", "pip ", "pip3", "pip install", "uv ", "poetry", "conda", "npm ",
    "yarn", "pnpm", "make", "cmake", "ninja", "cargo build", "cargo check", "cargo install", "docker build",
    "docker compose build", "go build", "go install", "mvn", "gradle", "bazel", "gcc", "g++", "clang",
)  # fmt: skip


def _is_transcript(lines: list[str], hints: _Hints) -> bool:
    """Output of a package manager, build or CI step: no timestamps, but lines of the
    shapes those tools print. Routed to the log compressor."""
    nonblank = [line for line in lines if line.strip()]
    if len(nonblank) < 5:
        return False
    command = any(hints.command.startswith(c) or f" {c}" in hints.command for c in _TRANSCRIPT_COMMANDS)
    needed = max(3, (0.1 if command else 0.25) * len(nonblank))
    hits = 0
    for seen, line in enumerate(nonblank, start=1):
        if _TRANSCRIPT_LINE.match(line):
            hits += 1
            if hits >= needed:
                return True  # the rest cannot change the answer
        elif hits + len(nonblank) - seen < needed:
            return False
    return False


# Record text: `Key: value` (colon then a space or the line end) or `key=value` /
# `key = value` fields, `[section]` headers, comments and indented continuation lines.
_RECORD_FIELD = re.compile(r"[ \t]*[A-Za-z_][\w.\-/@]{0,79}[ \t]*(?::(?=[ \t]|$)|=)")
_RECORD_SECTION = re.compile(r"[ \t]*\[\[?[^\[\]\n]{1,100}\]\]?[ \t]*$")
_RECORD_COMMENT = re.compile(r"[ \t]*[#;]")
_RECORD_KEY = re.compile(r"[ \t]*([A-Za-z_][\w.\-/@]{0,79})")


def _is_records(lines: list[str]) -> bool:
    """Mostly field lines (with their continuations, sections and comments), with at
    least three distinct keys: Debian control stanzas, `pip show`, headers, config dumps."""
    nonblank = 0
    structured = 0
    comments = 0
    fields = 0
    keys: set[str] = set()
    in_field = False
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped == "---":
            in_field = False
            continue
        nonblank += 1
        if in_field and line[:1] in (" ", "\t"):
            structured += 1
        elif _RECORD_FIELD.match(line):
            structured += 1
            fields += 1
            if len(keys) < 3:  # three distinct keys are all the test below asks for
                key = _RECORD_KEY.match(line)
                if key is not None:
                    keys.add(key.group(1))
            in_field = True
            continue
        elif _RECORD_SECTION.match(line):
            structured += 1
        elif _RECORD_COMMENT.match(line):
            comments += 1  # neither for nor against: a commented config is still records
        else:
            in_field = False
            continue
        in_field = in_field and line[:1] in (" ", "\t")
    content = nonblank - comments
    return content >= 6 and fields >= 5 and len(keys) >= 3 and structured >= 0.8 * content


_CODE_LINE = re.compile(
    r"^\s*(?:def |class |import |from \S+ import |func |fn |pub |let |const |var |return\b|if\s*\(|for\s*\("
    r"|#include|package |use |public |private |protected |static |async |await |function\b|impl |struct |"
    r"@\w+|\}|\{)"
    r"|[;{}]\s*$|\)\s*:\s*$|=>"
)
# Separators and word bodies share no character (a quote may open a word, never end a
# separator), so a failed match cannot backtrack through every split of a run of quotes;
# and a match starts only at the start of a word, so a 400-letter word is tried once,
# not from each of its letters.
_SENTENCE = re.compile(r"(?<![A-Za-z])[A-Za-z][a-z]+(?:[ ,;:()-]+['\"]?[A-Za-z][a-z']*){5,}")


def _share_at_least(lines: list[str], pattern: re.Pattern[str], share: float) -> bool:
    """Whether `pattern` finds something in at least `share` of the non-blank lines
    (`code` lines, sentences), decided as soon as the lines left cannot change the answer."""
    nonblank = [line for line in lines if line.strip()]
    if not nonblank:
        return share <= 0.0
    n = len(nonblank)
    hits = 0
    for seen, line in enumerate(nonblank, start=1):
        if pattern.search(line):
            hits += 1
            if hits / n >= share:
                return True
        elif (hits + n - seen) / n < share:
            return False
    return hits / n >= share


def _detect_language(text: str, path: str | None) -> str | None:
    language = detect_language(text, path=path)  # never raises; bounded work on any input
    return language if isinstance(language, str) and language else None


# --------------------------------------------------------------------------- classify


def _classify(text: str, hints: _Hints, *, whole: bool, prechecked: bool = False) -> Segment:
    """The kind of one piece of text (no splitting). `prechecked`: the caller has already
    ruled out empty, JSON, short, blob and HTML text (`_route` on the whole text), and those
    checks, a tenth of routing a large text, are not run twice."""
    if not prechecked:
        if not text or text.isspace():
            return Segment("text", text)
        if looks_like_json(text):
            return Segment("json", text)
        if len(text) < _MIN_CLASSIFY_CHARS:
            return Segment("text", text)
        if _is_blob(text):
            return Segment("blob", text)
        if _is_html(text):
            return Segment("html", text)
    lines = _sample_lines(text)
    joined = _joined(lines)
    if _is_diff(lines, joined):
        return Segment("diff", text)
    if _is_search_results(lines, hints, joined):
        return Segment("search_results", text)
    if _is_test_output(lines, hints, joined):
        return Segment("test_output", text)
    path = hints.path if whole else None
    # detect_language confirms with a tree-sitter parse of a bounded sample (tens of ms);
    # texts that read as logs, transcripts or records, or mostly as sentences, skip it
    # unless a path or a shebang says code. With a path or a shebang it runs first: code
    # found that way needs none of the other detectors.
    says_code = path is not None or text.startswith("#!")
    if says_code:
        language = _detect_language(text, path)
        if language is not None:
            return Segment("code", text, language)
    is_log = _is_log(lines, hints) or _is_transcript(lines, hints)
    records = not is_log and _is_records(lines)
    if (
        not says_code
        and not is_log
        and not records
        and (_share_at_least(lines, _CODE_LINE, 0.2) or not _share_at_least(lines, _SENTENCE, 0.6))
    ):
        language = _detect_language(text, path)
        if language is not None:
            return Segment("code", text, language)
    if is_log:
        return Segment("log", text)
    if records:
        return Segment("records", text)
    return Segment("prose", text)


# --------------------------------------------------------------------------- splitting


def _line_starts(text: str, limit: int) -> list[int]:
    """Offsets of the first `limit` line starts after the first line."""
    starts: list[int] = []
    offset = 0
    while len(starts) < limit:
        newline = text.find("\n", offset)
        if newline == -1:
            break
        offset = newline + 1
        starts.append(offset)
    return starts


def _line_ends(text: str, limit: int) -> list[int]:
    """Offsets just past each of the last `limit` lines' content (before their line breaks)."""
    ends: list[int] = []
    end = len(text.rstrip())
    while end > 0 and len(ends) < limit:
        ends.append(end)
        newline = text.rfind("\n", 0, end)
        if newline <= 0:
            break
        window = max(0, newline - 4096)  # bounded copy even on a huge text
        end = window + len(text[window:newline].rstrip())
    return ends


def _parses(candidate: str) -> bool:
    try:
        orjson.loads(candidate)
    except (orjson.JSONDecodeError, UnicodeEncodeError):
        return False
    return True


_MAX_HTML_HEADER = 500
_HTML_LINE_START = re.compile(r"<(?:!doctype\s+html|html)\b", re.I)


def _html_after_header(text: str) -> int | None:
    """Offset of an HTML document that starts on one of the first lines (a fetch tool's
    `URL / status` header before the page)."""
    for offset in _line_starts(text[:_MAX_HTML_HEADER], _HEADER_SCAN_LINES):
        if _HTML_LINE_START.match(text, offset):
            return offset
    return None


_CLOSING = {"{": "}", "[": "]"}


def _split_json_body(text: str) -> tuple[str, str, str] | None:
    """(header, JSON body, footer): a tool result with a short text header before a JSON
    document and optionally a short footer after it. The body starts on one of the first
    lines and ends on one of the last; the footer keeps the line break before it."""
    starts = [o for o in _line_starts(text, _HEADER_SCAN_LINES) if text[o : o + 1] in ("{", "[")]
    if not starts:
        return None
    ends = [e for e in _line_ends(text, _HEADER_SCAN_LINES) if text[e - 1 : e] in ("}", "]")]
    attempts = 0
    for start in starts:
        for end in ends:
            if end - start < _MIN_EMBEDDED_JSON_CHARS or attempts >= _MAX_JSON_ATTEMPTS:
                continue
            if _CLOSING[text[start]] != text[end - 1]:
                continue
            attempts += 1
            if _parses(text[start:end]):
                tail = text[end:]
                if not tail.strip():  # trailing whitespace belongs to the body
                    return text[:start], text[start:], ""
                return text[:start], text[start:end], tail
    return None


# Searched in the text with a line break put before it: a pattern that starts with a
# literal (`\n`) is scanned for in a tight loop, one that starts with `^` is tried at
# every position. A match at offset k of `"\n" + text` is the line starting at offset k
# of the text.
_JSON_OPENER = re.compile(r"\n[\[{]\s*$", re.M)
_JSON_CLOSERS = {c: re.compile(r"\n" + re.escape(c) + r",?[ \t]*$", re.M) for c in "}]"}


def _embedded_json_blocks(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of multi-line JSON blocks that sit on their own lines.

    Every opener line (`{` / `[` alone) and closer line is found in one pass each; an
    opener then looks up the closers after it by bisection. Searching the rest of the
    text from every opener instead made a text of unclosed `{` lines quadratic.
    """
    after_break = "\n" + text
    closers = {
        c: [m.start() + 1 for m in pattern.finditer(after_break)] for c, pattern in _JSON_CLOSERS.items()
    }
    if not closers["}"] and not closers["]"]:
        return []
    blocks: list[tuple[int, int]] = []
    attempts = 0
    pos = 0
    for match in _JSON_OPENER.finditer(after_break):
        if attempts >= _MAX_JSON_ATTEMPTS:
            break
        start = match.start()
        if start < pos:
            continue  # inside a block already taken
        ends = closers["}" if text[start] == "{" else "]"]
        for end in ends[bisect.bisect_right(ends, match.end() - 1) :]:
            if attempts >= _MAX_JSON_ATTEMPTS:
                break
            attempts += 1
            try:
                orjson.loads(text[start:end])
            except (orjson.JSONDecodeError, UnicodeEncodeError):
                continue
            if end - start >= _MIN_EMBEDDED_JSON_CHARS:
                # The line break after the block stays with the text that follows: the JSON
                # compressor may rewrite the block without it, and the next line must still
                # start on its own line.
                blocks.append((start, end))
            pos = end
            break
    return blocks


_LONG_BLOB = re.compile(f"{DATA_URL.pattern}|{BASE64_RUN.pattern}")
_BASE64_LINE = re.compile(r"[A-Za-z0-9+/]{4,200}={0,2}")
# Byte tables for the pre-check in `_blob_spans`: base64 characters (with `=`, `\r` and
# `\n`) become b"b", line breaks b"\n", everything else b" ".
_BASE64_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_BASE64_TABLE = bytes(ord("b") if c in _BASE64_BYTES + b"\r\n" else ord(" ") for c in range(256))
_LINE_TABLE = bytes(ord("\n") if c == ord("\n") else ord(" ") for c in range(256))


def _may_hold_blob(text: str) -> bool:
    """False when no span `_blob_spans` looks for can exist: such a span is a line of at least
    `_MIN_SPLIT_BLOB` characters, or that many consecutive base64 / line-break characters.
    Two byte translations and two substring searches (linear, in C): on a large log or source
    file this replaces a Python loop over every line."""
    data = text.encode("utf-8", "surrogatepass")
    if b" " * _MIN_SPLIT_BLOB in data.translate(_LINE_TABLE):
        return True  # a long line
    return b"b" * _MIN_SPLIT_BLOB in data.translate(_BASE64_TABLE)


def _blob_spans(text: str) -> list[tuple[int, int]]:
    """Base64 runs and data: URLs of at least `_MIN_SPLIT_BLOB` characters.

    Only lines that long are searched for runs, and wrapped base64 (consecutive lines of
    pure base64) is found line by line, so the scan costs little on a large log; a text
    that cannot hold either (`_may_hold_blob`) is not scanned line by line at all.
    """
    spans: list[tuple[int, int]] = []
    if len(text) < _MIN_SPLIT_BLOB or not _may_hold_blob(text):
        return spans
    block_start = block_end = -1
    block_lines = 0

    def close_block() -> None:
        if (
            block_lines >= 2
            and block_end - block_start >= _MIN_SPLIT_BLOB
            and is_plausible_base64(text[block_start:block_end])
        ):
            spans.append((block_start, block_end))

    pos = 0
    for line in text.split("\n"):
        end = pos + len(line)
        if len(line) >= _MIN_SPLIT_BLOB:
            for m in _LONG_BLOB.finditer(line):
                if m.end() - m.start() >= _MIN_SPLIT_BLOB and is_plausible_base64(m.group(0)):
                    spans.append((pos + m.start(), pos + m.end()))
        body = line[:-1] if line.endswith("\r") else line
        if len(body) <= 202 and _BASE64_LINE.fullmatch(body):
            if block_lines == 0:
                block_start = pos
            block_end = pos + len(body)
            block_lines += 1
        elif block_lines:
            close_block()
            block_lines = 0
        pos = end + 1
    if block_lines:
        close_block()
    spans.sort()
    return spans


def _merge(segments: list[Segment]) -> list[Segment]:
    """Drop empty segments; glue neighbours of the same kind (and "text" crumbs) together."""
    out: list[Segment] = []
    for seg in segments:
        if not seg.text:
            continue
        if out and out[-1].kind == seg.kind and out[-1].language == seg.language and seg.kind != "json":
            out[-1] = Segment(seg.kind, out[-1].text + seg.text, seg.language)
        else:
            out.append(seg)
    return out


def _route_pieces(text: str, spans: list[tuple[int, int]], span_kind: str, hints: _Hints) -> list[Segment]:
    segments: list[Segment] = []
    pos = 0
    for start, end in spans:
        if start > pos:
            segments.append(_classify(text[pos:start], hints, whole=False))
        segments.append(Segment(span_kind, text[start:end]))
        pos = end
    if pos < len(text):
        segments.append(_classify(text[pos:], hints, whole=False))
    return _merge(segments)


def route(text: str, hints: RouteHints | None = None) -> list[Segment]:
    """Split `text` into typed segments (usually one). Never raises on content."""
    if not isinstance(text, str):
        raise TypeError(f"route() expected a str, got {type(text).__name__}")
    try:
        segments = _route(text, _read_hints(hints))
    except (RecursionError, MemoryError, ValueError):
        segments = [Segment("text", text)]
    if "".join(s.text for s in segments) != text:  # the invariant the pipeline relies on
        return [Segment("text", text)]
    return segments


def _route(text: str, hints: _Hints) -> list[Segment]:
    if not text or text.isspace():
        return [Segment("text", text)]
    if looks_like_json(text):
        return [Segment("json", text)]
    if len(text) < _MIN_CLASSIFY_CHARS:
        return [Segment("text", text)]
    if _is_blob(text):
        return [Segment("blob", text)]
    if _is_html(text):
        return [Segment("html", text)]
    html_start = _html_after_header(text)
    if html_start is not None:
        return _merge([_classify(text[:html_start], hints, whole=False), Segment("html", text[html_start:])])
    json_body = _split_json_body(text)
    if json_body is not None:
        header, body, footer = json_body
        return _merge(
            [
                _classify(header, hints, whole=False),
                Segment("json", body),
                _classify(footer, hints, whole=False),
            ]
        )
    blobs = _blob_spans(text)
    if blobs:
        return _route_pieces(text, blobs, "blob", hints)
    whole = _classify(text, hints, whole=True, prechecked=True)
    if whole.kind in ("log", "prose", "text"):
        blocks = _embedded_json_blocks(text)
        if blocks:
            return _route_pieces(text, blocks, "json", hints)
    return [whole]
