"""LogCompressor: collapse repetitive log lines into templates, keep what matters whole.

Each line is split into tokens; tokens that vary between occurrences of the same kind of
line (numbers, hex, ids, IPs, paths, quoted strings) are masked to `<*>`, and lines with
the same masked shape form one template (a light, single-pass take on Drain-style
template mining). A position whose value is the same in every line of a group shows the
value instead of `<*>`. The output keeps, in the original order:

- the first `keep_head` and last `keep_tail` lines,
- every warning / error / fatal / exception line, with its stack trace whole and
  `context_lines` lines before it,
- each other template once, at its first occurrence, as
  `template  (x1,204, first 10:02:11, last 10:31:40)` (times from the lines' timestamps),
  or the line itself when it occurs once,

and one CCR marker for the whole original (stashed once, `unit="line"`).
"""

from __future__ import annotations

import bisect
import itertools
import re
from dataclasses import dataclass
from typing import ClassVar

from headroom_core._relevance import bm25_scores, terms, top_k
from headroom_core._text import plural
from headroom_core.compressors._base import CompressContext, Compressed

# Lines longer than this are templated on their first part only (bounded work per line).
_TEMPLATE_CHARS = 1000

# Case-sensitive plain level words: "error" in prose ("0 errors") is not a level.
_LEVEL_WORD = re.compile(r"\b(?:WARN|WARNING|ERROR|ERR|FATAL|CRIT|CRITICAL|SEVERE|PANIC|ALERT|EMERG)\b")
_LOWER_LEVEL = re.compile(
    r"\b(?:level|severity|lvl)[=:]\s*\"?(?:warn|warning|error|err|fatal|crit|critical|panic)\b"
    r"|\"(?:level|severity)\":\s*\"(?:warn|warning|error|fatal|critical|panic)\""
    r"|\[(?:warn|warning|error|fatal|crit|critical|emerg|alert)\]",
    re.I,
)
_EXCEPTION = re.compile(
    r"Traceback \(most recent call last\)|\b[\w.$]*(?:Exception|Error)\b(?::|$)|^panic: |^Caused by: "
)
# Lines that continue a stack trace (kept whole after an important line).
_TRACE_CONTINUATION = re.compile(
    r"^\s+\S"  # indented: Python frames, Java `at ...`, Go goroutine frames
    r"|^\s*at \S"
    r"|^Caused by: "
    r"|^\s*\.\.\. \d+ more"
    r"|^[\w.$]*(?:Exception|Error|Warning)\b(?::|$)"  # the last line of a Python traceback
    r"|^During handling of the above exception"
    r"|^The above exception was the direct cause"
    r"|^goroutine \d+ \["
    r"|^Traceback \(most recent call last\)"
    r"|^$"
)
# Timestamp shapes, most specific first: the first one found within a line's first 80
# characters is the line's time (a rotated file name like `x.log.1.2017-05-16_13:53:08`
# before an ISO time must not win just because it comes first). Each with a character it
# cannot match without (None: no cheap test). A pattern starts with a character class
# where it can (the regex engine skips to one in a tight loop): `[A-Z](?<!\w[A-Z])` is
# `\b[A-Z]`, and `\d(?<!\w\d)` is `\b\d`.
_TIMESTAMPS: tuple[tuple[str | None, re.Pattern[str]], ...] = (
    (None, re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?")),
    ("/", re.compile(r"\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2}(?: [+-]\d{4})?")),  # common log format
    (":", re.compile(r"[A-Z](?<!\w[A-Z])[a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}")),  # syslog
    (None, re.compile(r"^\d{6} \d{6}\b")),  # HDFS: yymmdd hhmmss
    (":", re.compile(r"\d(?<!\w\d)\d:\d{2}:\d{2}(?:[.,]\d+)?")),
)
_ENTRY_START = re.compile(
    r"\[?(?:\d{4}-\d{2}-\d{2}|\d{6} \d{6}|[A-Z][a-z]{2} [ \d]\d |\d{2}:\d{2}:\d{2}|\d{10})"
)
# Variable tokens, masked to `<*>`: tokens holding a digit or a slash (numbers, hex and
# UUID ids, IPs and ports, paths, URLs, versions) and quoted strings holding a digit, a
# slash or a space. A token starts after whitespace, `=`, `:`, `,` or an opening bracket,
# so `pid=<*>` keeps its key and JSON-lines logs keep their keys and enum values. The
# prefix before the first digit cannot cross a separator nor an opening bracket (where
# another token may start), which keeps the scan linear: a line of `((((` used to be
# retried from every bracket to its end.
_VARIABLE = re.compile(
    r"(?<![^\s=:,\[{(])"
    r"(?:\"(?=[^\"\n]{0,200}[\d/\s])[^\"\n]{0,200}\""
    r"|'(?=[^'\n]{0,200}[\d/\s])[^'\n]{0,200}'"
    r"|[^\s\d/=:,\"'\[\]{}()]*[\d/][^\s,\"\]})]*)"
)
_VARIABLE_SPLIT = re.compile(f"({_VARIABLE.pattern})")
_WILDCARD = "<*>"
# Bounds on the template-folding pass (it compares templates pairwise within a bucket).
_MAX_FOLD_TEMPLATES = 5000
_MAX_FOLD_CANDIDATES = 200
_MAX_RELEVANCE_POOL = 5000


# Lower-case fragments at least one of which every important line contains: a cheap
# pre-filter that spares most lines the three regular expressions below.
_IMPORTANT_HINTS = (
    "warn",
    "err",
    "fatal",
    "crit",
    "sever",
    "panic",
    "alert",
    "emerg",
    "exception",
    "traceback",
    "caused by",
)


# Transcripts (package-manager, build and CI output) have no levels: a line that reports a
# problem in words is important. Cheap substring pre-filter first, then the pattern.
_PROBLEM_HINTS = (
    "err", "warn", "fail", "fatal", "panic", "abort", "denied", "forbidden", "unauthori", "refused",
    "timed out", "timeout", "unable", "cannot", "can't", "could not", "couldn't", "not found", "no such",
    "missing", "invalid", "conflict", "broken", "unmet", "segmentation", "core dumped", "killed", "exit",
    "returned", "exception", "traceback", "e: ", "w: ", "not remade", "unresolved", "undefined",
)  # fmt: skip
# Problem words worse than a warning, and the shapes of a failed exit.
_FAILURE_WORDS = (
    r"errors?|err!|fail|failed|failures?|failing|fatal|panic(?:ked)?|abort(?:ed)?|denied|forbidden"
    r"|unauthori[sz]ed|refused|timed out|timeout|unable|cannot|can't|could not|couldn't|not found|no such"
    r"|missing|invalid|conflicts?|broken|unmet|segmentation fault|core dumped|killed|exception|traceback"
    r"|not remade|unresolved|undefined"
)
_FAILED_EXIT = (
    r"|non-zero exit|exit (?:code|status):? ?[1-9]|exited with (?:code |status )?[1-9]|returned [1-9]"
    r"|^E: |\berror\["
)


def _problem_pattern(words: str, extra: str) -> re.Pattern[str]:
    # Not after `0 ` / `no ` (`0 errors`), and not inside a name: `error-reporting`,
    # `libfail-perl`, `no-error.js` are package names.
    return re.compile(rf"(?<!\b0 )(?<!\bno )(?<!\w[-/.])\b(?:{words})\b(?![-/.=]\w){extra}", re.I)


_PROBLEM = _problem_pattern(f"{_FAILURE_WORDS}|warnings?|warn", _FAILED_EXIT + "|^W: ")
_WORSE_THAN_A_WARNING = _problem_pattern(_FAILURE_WORDS, _FAILED_EXIT)
# In a transcript, a warning (and nothing worse) whose template already occurred this
# many times is not kept whole again: it collapses with its template and count, so 10,000
# identical deprecation warnings cost one line. Errors and failures are always kept.
_MAX_REPEATED_WARNINGS = 3
_ONLY_A_WARNING = re.compile(r"\bwarn(?:ing)?s?\b|^W: |\bdeprecat", re.I)
# A text with fewer timestamped lines than this share is a transcript, not a log.
_TRANSCRIPT_MAX_STAMPED = 0.3
_TRANSCRIPT_SAMPLE = 2000


def _is_important(line: str, transcript: bool = False) -> bool:
    head = line[:_TEMPLATE_CHARS]
    low = head.lower()
    if transcript and any(hint in low for hint in _PROBLEM_HINTS) and _PROBLEM.search(head):
        return True
    if not any(hint in low for hint in _IMPORTANT_HINTS):
        return False
    return bool(_LEVEL_WORD.search(head) or _LOWER_LEVEL.search(head) or _EXCEPTION.search(head))


def _prefix_tree(words: list[str]) -> str:
    """A regex matching exactly `words`, their shared prefixes factored out (`e(?:rr|xit)`):
    at each position the engine tests one branch per distinct next character instead of
    every word."""
    if "" in words:
        rest = [w for w in words if w]
        return f"(?:{_prefix_tree(rest)})?" if rest else ""
    by_first: dict[str, list[str]] = {}
    for word in sorted(set(words)):
        by_first.setdefault(word[0], []).append(word[1:])
    branches = [re.escape(first) + _prefix_tree(tails) for first, tails in by_first.items()]
    return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"


# Which hint matched does not matter, only on which line one starts (no hint spans lines).
_IMPORTANT_HINT = re.compile(_prefix_tree(list(_IMPORTANT_HINTS)))
_TRANSCRIPT_HINT = re.compile(_prefix_tree([*_IMPORTANT_HINTS, *_PROBLEM_HINTS]))


def _candidate_lines(text: str, lines: list[str], starts: list[int], transcript: bool) -> list[int]:
    """Indices of the lines that hold an important-line hint, found by one scan of the
    whole lower-cased text (a per-line Python loop over dozens of hints costs more than
    tokenizing the text). Falls back to every line when lower-casing changes lengths."""
    low = text.lower()
    if len(low) != len(text):
        return list(range(len(lines)))
    hint = _TRANSCRIPT_HINT if transcript else _IMPORTANT_HINT
    found: list[int] = []
    for match in hint.finditer(low):
        index = bisect.bisect_right(starts, match.start()) - 1
        if not found or found[-1] != index:
            found.append(index)
    return found


def _is_repeated_warning(line: str, seen: dict[str, int]) -> bool:
    """A warning-only line whose template was already kept `_MAX_REPEATED_WARNINGS` times."""
    head = line[:_TEMPLATE_CHARS]
    if _WORSE_THAN_A_WARNING.search(head) or not _ONLY_A_WARNING.search(head):
        return False
    shape = _VARIABLE.sub(_WILDCARD, head)
    count = seen.get(shape, 0)
    seen[shape] = count + 1
    return count >= _MAX_REPEATED_WARNINGS


def _stamp_candidates(text: str, starts: list[int]) -> bytearray:
    """Per line, 1 when a timestamp hint starts within its first 80 characters: one scan of
    the whole text, so `_timestamp` runs only on lines that may hold one."""
    out = bytearray(len(starts) - 1)
    for match in _STAMP_DIGITS.finditer(text):
        index = bisect.bisect_right(starts, match.start()) - 1
        if match.start() - starts[index] < 80:
            out[index] = 1
    if _STAMP_EPOCH.match(text):
        out[0] = 1
    for match in _STAMP_EPOCH_LINE.finditer(text):
        out[bisect.bisect_right(starts, match.start() + 1) - 1] = 1
    return out


def _distinct_lines(lines: list[str]) -> tuple[list[str], list[int]]:
    """The distinct lines in order of first appearance, and for each line the index of
    its text among them."""
    index_of: dict[str, int] = {}
    copy_of = [index_of.setdefault(line, len(index_of)) for line in lines]
    return list(index_of), copy_of


def _is_transcript(lines: list[str]) -> tuple[bool, dict[int, re.Match[str] | None]]:
    """Few lines carry a timestamp: the output of a command (apt, pip, npm, make, cargo,
    a CI step), where problems are reported in words rather than with levels. Judged on
    an evenly spaced sample of at most `_TRANSCRIPT_SAMPLE` lines; also returns the
    sampled lines' timestamps (by line index), so they are not looked for twice."""
    step = max(1, len(lines) // _TRANSCRIPT_SAMPLE)
    stamps = {k: _timestamp(lines[k]) for k in range(0, len(lines), step) if lines[k].strip()}
    if not stamps:
        return False, stamps
    hits = sum(1 for stamp in stamps.values() if stamp is not None)
    return hits < _TRANSCRIPT_MAX_STAMPED * len(stamps), stamps


@dataclass
class _Template:
    first_index: int
    body: str
    """The first line's text (timestamp removed, cut to `_TEMPLATE_CHARS`)."""
    values: list[str]
    """The first line's variable tokens, in order."""
    varies: list[bool]
    """Per variable token: took more than one value in this group."""
    count: int = 0
    last_index: int = 0
    first_time: str | None = None
    last_time: str | None = None
    truncated: bool = False

    def render(self) -> str:
        position = iter(range(len(self.values)))

        def mask(match: re.Match[str]) -> str:
            return _WILDCARD if self.varies[next(position)] else match.group(0)

        text = _VARIABLE.sub(mask, self.body)
        return text + "…" if self.truncated else text


# Every timestamp shape above holds two digits, `:`, `-` or `/`, two digits (or a month
# name between slashes, or is HDFS's `yymmdd hhmmss`): one cheap search rules out the
# lines that hold none (most of a transcript).
# The hint is two searches: one that starts with a character class, which the regex engine
# skips to in a tight loop (an alternation of classes is tried at every position), and the
# epoch shape, at a line start only.
_STAMP_DIGITS = re.compile(r"\d\d(?:[:/-]\d\d|/[A-Z][a-z]{2}/|\d{4} \d{6})")
_STAMP_EPOCH = re.compile(r"\[?\d{10}")
_STAMP_EPOCH_LINE = re.compile(r"\n\[?\d{10}")


def _timestamp(line: str) -> re.Match[str] | None:
    if _STAMP_DIGITS.search(line, 0, 80) is None and _STAMP_EPOCH.match(line, 0, 80) is None:
        return None
    for needed, pattern in _TIMESTAMPS:
        if needed is not None and line.find(needed, 0, 80) < 0:
            continue
        match = pattern.search(line, 0, 80)
        if match is not None:
            return match
    return None


def _relevant_lines(lines: list[str], keep: bytearray, query: str | None, k: int) -> list[int]:
    """Indices of up to `k` not-yet-kept lines that match the query best (BM25).

    Query terms found in more than a fifth of the lines do not discriminate (a query that
    names the service of every line) and are ignored; a substring pre-filter keeps the
    scoring pass small on huge logs.
    """
    if not query or k <= 0:
        return []
    candidates = [i for i in range(len(lines)) if not keep[i]]
    if not candidates:
        return []
    lowered = [lines[i][:_TEMPLATE_CHARS].lower() for i in candidates]
    useful = []
    for term in dict.fromkeys(t for t in terms(query) if len(t) >= 3):
        df = sum(1 for line in lowered if term in line)
        if 0 < df <= max(1, len(candidates) // 5):
            useful.append(term)
    if not useful:
        return []
    pool = [j for j, line in enumerate(lowered) if any(t in line for t in useful)][:_MAX_RELEVANCE_POOL]
    scores = bm25_scores(useful, [lowered[j] for j in pool])
    return sorted(candidates[pool[j]] for j in top_k(scores, k))


def _generalizes(general: list[str], specific: list[str]) -> bool:
    """`general` matches `specific` with wildcards standing for some of its literal tokens."""
    shared = 0
    for g, t in zip(general, specific):
        if g == t:
            shared += g != _WILDCARD
        elif g != _WILDCARD:
            return False
    return shared >= max(1, (len(general) + 3) // 4)


def _variable_slots(tokens: list[str]) -> list[int]:
    """For each token, the index of its first variable (wildcard) in the line."""
    slots, seen = [], 0
    for token in tokens:
        slots.append(seen)
        seen += token.count(_WILDCARD)
    return slots


def _fold_similar(templates: dict[str, _Template]) -> dict[int, _Template]:
    """Drain-style second pass: fold a template into a more general one of the same length.

    `status unpacked media-types:all <*>` folds into `status unpacked <*> <*>` (a word
    token that happens to hold no digit is just another value there). Only wildcard
    positions may differ, and a quarter of the tokens must be shared literals, so two
    different messages (`status unpacked` vs `status installed`) never merge. Returns id(folded template) -> the template it joined.
    """
    if len(templates) > _MAX_FOLD_TEMPLATES:
        return {}
    buckets: dict[int, list[tuple[list[str], _Template]]] = {}
    for shape, tpl in templates.items():
        tokens = shape.split()
        if sum(t.count(_WILDCARD) for t in tokens) != len(tpl.values):
            continue  # the line itself contains "<*>": leave it alone
        buckets.setdefault(len(tokens), []).append((tokens, tpl))
    folded: dict[int, _Template] = {}
    for entries in buckets.values():
        if len(entries) < 2:
            continue
        entries.sort(key=lambda e: (-sum(t == _WILDCARD for t in e[0]), e[1].first_index))
        generals: list[tuple[list[str], _Template]] = []
        for tokens, tpl in entries:
            for g_tokens, g_tpl in generals[:_MAX_FOLD_CANDIDATES]:
                if _generalizes(g_tokens, tokens):
                    _fold(g_tokens, g_tpl, tokens, tpl)
                    folded[id(tpl)] = g_tpl
                    break
            else:
                generals.append((tokens, tpl))
    return folded


def _fold(g_tokens: list[str], general: _Template, tokens: list[str], tpl: _Template) -> None:
    g_slots, slots = _variable_slots(g_tokens), _variable_slots(tokens)
    for k, (g, t) in enumerate(zip(g_tokens, tokens)):
        if g != _WILDCARD:
            continue
        slot = g_slots[k]
        if t != _WILDCARD or tpl.varies[slots[k]] or tpl.values[slots[k]] != general.values[slot]:
            general.varies[slot] = True
    if tpl.first_index < general.first_index:
        general.first_index = tpl.first_index
        general.first_time = tpl.first_time or general.first_time
    if tpl.last_index > general.last_index:
        general.last_index = tpl.last_index
        general.last_time = tpl.last_time or general.last_time
    general.count += tpl.count
    general.truncated = general.truncated or tpl.truncated


class LogCompressor:
    name: ClassVar[str] = "logs"

    def compress(self, text: str, ctx: CompressContext) -> Compressed | None:
        if not isinstance(text, str) or not ctx.can_drop or not ctx.config.logs.enabled:
            return None
        lines = text.split("\n")
        trailing_newline = len(lines) > 1 and lines[-1] == ""
        if trailing_newline:
            lines.pop()
        cfg = ctx.config.logs
        n = len(lines)
        if n <= cfg.keep_head + cfg.keep_tail + 2:
            return None

        keep = bytearray(n)  # 1: kept verbatim
        for i in range(min(cfg.keep_head, n)):
            keep[i] = 1
        for i in range(max(0, n - cfg.keep_tail), n):
            keep[i] = 1
        important = 0
        # Lines repeat (a retried request, a step run again, a file read twice): the scans
        # below read each distinct line once, and what they find holds for its copies.
        distinct, copy_of = _distinct_lines(lines)
        distinct_text = "\n".join(distinct)
        starts = list(itertools.accumulate((len(line) + 1 for line in distinct), initial=0))
        transcript, sampled_stamps = _is_transcript(lines)
        # A transcript has few timestamps: find the lines that may hold one in one scan.
        # A log has one on nearly every line: look at each line.
        if transcript:
            stamped = bytearray(map(_stamp_candidates(distinct_text, starts).__getitem__, copy_of))
        else:
            stamped = bytearray(b"\x01") * n
        hinted = bytearray(len(distinct))
        for d in _candidate_lines(distinct_text, distinct, starts, transcript):
            hinted[d] = 1
        after = 1 if transcript else 0  # a transcript's problem line is often explained by the next
        i = 0
        warnings_seen: dict[str, int] = {}
        judged: dict[int, bool] = {}  # `_is_important` of each distinct line
        for candidate in [index for index, d in enumerate(copy_of) if hinted[d]]:
            if candidate < i:
                continue  # inside the trace of an earlier important line
            i = candidate
            line = lines[i]
            verdict = judged.get(copy_of[i])
            if verdict is None:
                verdict = judged[copy_of[i]] = _is_important(line, transcript)
            if not verdict:
                continue
            if transcript and _is_repeated_warning(line, warnings_seen):
                continue
            important += 1
            for j in range(max(0, i - cfg.context_lines), min(n, i + 1 + after)):
                keep[j] = 1
            # The stack trace (or multi-line message) that follows belongs with it.
            j = i + 1
            while j < n and _TRACE_CONTINUATION.match(lines[j][:200]) and not _starts_entry(lines[j]):
                keep[j] = 1
                j += 1
            if j > i + 1 and j < n and _EXCEPTION.search(lines[j][:200]) and not _starts_entry(lines[j]):
                keep[j] = 1
                j += 1
            i = j

        relevant = _relevant_lines(lines, keep, ctx.query, cfg.relevant_lines)
        for index in relevant:
            keep[index] = 1

        templates: dict[str, _Template] = {}
        line_template: list[_Template | None] = [None] * n
        # What a line templates to depends on its text alone: a copy of a line templated
        # before joins that line's template without being split again (its values are that
        # line's, so they change nothing the first one did not).
        template_of: list[_Template | None] = [None] * len(distinct)
        time_of: list[str | None] = [None] * len(distinct)
        for index, line in enumerate(lines):
            if keep[index]:
                continue
            tpl = template_of[copy_of[index]]
            if tpl is not None:
                tpl.count += 1
                tpl.last_index = index
                time = time_of[copy_of[index]]
                if time is not None:
                    tpl.last_time = time  # the first time is set: this line's first copy set it
                line_template[index] = tpl
                continue
            if index in sampled_stamps:
                stamp = sampled_stamps[index]
            else:
                stamp = _timestamp(line) if stamped[index] else None
            if stamp is None:
                time, body = None, line
            else:
                # A leading timestamp is dropped (the count note carries first/last);
                # one inside the line (a JSON field) is marked where it was.
                filler = "" if stamp.start() <= 1 else "<time>"
                time, body = stamp.group(0), line[: stamp.start()] + filler + line[stamp.end() :]
            truncated = len(body) > _TEMPLATE_CHARS
            body = body[:_TEMPLATE_CHARS]
            parts = _VARIABLE_SPLIT.split(body)  # literal, variable, literal, ..., literal
            values = parts[1::2]
            shape = _WILDCARD.join(parts[0::2])
            tpl = templates.get(shape)
            if tpl is None:
                tpl = _Template(index, body, values, [False] * len(values), truncated=truncated)
                templates[shape] = tpl
            elif values != tpl.values:
                varies = tpl.varies
                for k, value in enumerate(values):
                    if not varies[k] and value != tpl.values[k]:
                        varies[k] = True
            tpl.truncated = tpl.truncated or truncated
            tpl.count += 1
            tpl.last_index = index
            if time is not None:
                if tpl.first_time is None:
                    tpl.first_time = time
                tpl.last_time = time
            line_template[index] = tpl
            template_of[copy_of[index]] = tpl
            time_of[copy_of[index]] = time

        folded = _fold_similar(templates)
        for index, tpl in enumerate(line_template):
            if tpl is not None and id(tpl) in folded:
                line_template[index] = folded[id(tpl)]
        groups = [tpl for tpl in templates.values() if id(tpl) not in folded]
        dropped = sum(tpl.count - 1 for tpl in groups)
        if dropped <= 0:
            return None
        key = ctx.stash(text, "log", unit="line")
        out: list[str] = []
        for index, line in enumerate(lines):
            if keep[index]:
                out.append(line)
                continue
            tpl = line_template[index]
            if tpl is None or tpl.first_index != index:
                continue
            if tpl.count == 1:
                out.append(line)
                continue
            out.append(f"{tpl.render().strip()}  ({_count_note(tpl)})")
        collapsed = sum(1 for tpl in groups if tpl.count > 1)
        description = (
            f"{dropped:,} of {n:,} log lines collapsed into {plural(collapsed, 'template')} "
            f"({plural(important, 'warning/error line')} kept whole)"
        )
        out.append(ctx.marker(description, key))
        result = "\n".join(out)
        if trailing_newline:
            result += "\n"
        if len(result) >= len(text):
            return None
        summary = f"{n:,} log lines -> {len(out) - 1:,}; {plural(important, 'warning/error')} kept"
        return Compressed(result, (key,), summary)


def _starts_entry(line: str) -> bool:
    """A new, timestamped log entry ends the previous entry's stack trace."""
    return _ENTRY_START.match(line) is not None


def _count_note(tpl: _Template) -> str:
    note = f"x{tpl.count:,}"
    if tpl.first_time is not None and tpl.last_time is not None:
        note += f", first {tpl.first_time}, last {tpl.last_time}"
    return note
