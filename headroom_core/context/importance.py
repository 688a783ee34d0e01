"""Multi-factor importance of each conversation unit.

score = w_recency·recency + w_role·role + w_relevance·relevance + w_errors·errors
        + w_references·references + w_learned·learned        (each factor in [0, 1])

- recency: halves every `recency_half_life` messages back from the end.
- role: a user's own words weigh most, then assistant prose, then tool traffic.
- relevance: BM25 against the query (`headroom_core._relevance`), normalised by the best
  unit; with `ContextConfig.semantic` the larger of that and the embedding cosine
  similarity (also relative to the best unit, never stretched past 1/0.3).
- errors: tracebacks, exceptions, failed statuses, non-zero exit codes, HTTP 5xx.
- references: ids, file names and long numbers from a tool output that a *later* message
  mentions again (the output is still in use).
- learned: the local learning store's rate of "needed again" for the tool and its fields.

All arithmetic is deterministic; scores are rounded to 6 decimals before ranking.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from headroom_core import _ccr
from headroom_core._messages import message_text
from headroom_core._relevance import bm25_scores
from headroom_core.context.learning_store import LearningStore
from headroom_core.context.rolling_window import Unit

# Each error sign, with words one of which every match contains (lowercased). A single
# alternation of them all tries every sign at every position of the text; on ASCII text
# (where case-insensitive matching is plain ASCII folding) a sign is searched for only
# when one of its words occurs, which skips almost all of a long clean tool output.
# `_ERROR_RE` (all signs at once) stays the rule, and is used as it is on other text.
_ERROR_SIGNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"Traceback \(most recent call last\)", ("traceback (most recent call last)",)),
    (r"[a-z0-9](?:Error|Exception)\b|\b(?:Error|Exception):", ("error", "exception")),
    (r"\b(?:FAILED|FAILURE|FATAL|PANIC)\b|\bpanic: ", ("fail", "fatal", "panic")),
    (r"Segmentation fault", ("segmentation fault",)),
    (
        r"(?i:\b(?:exit(?:ed)?(?: with)?(?: code| status)|return ?code|exit_code|returncode)\W{0,3}[1-9]\d*)",
        ("exit", "return"),
    ),
    (
        r"(?i:\"?(?:status|state|result|outcome)\"?\s*[:=]\s*\"?(?:error|failed|failure|fatal)\b)",
        ("error", "fail", "fatal"),
    ),
    (r"(?i:\"?(?:status|status_code|http_status)\"?\s*[:=]\s*5\d\d\b)", ("status",)),
    (r"\"(?:error|errors)\"\s*:\s*(?!null|\[\]|\{\}|false|\"\")[\"\[{\w]", ('"error',)),
    (r"(?i:\b[1-9]\d*\s+(?:\w+\s+)?failed\b)", ("failed",)),  # "3 tests failed"
    # Compiler/CLI "error: ..." lines. Only blanks other than line breaks before the word:
    # a match after blank lines is also a match from the start of the word's own line,
    # and `\s*` there would rescan every following blank line from each line start.
    (r"(?im:^[^\S\n]*(?:error|fatal)(?:\[\w+\])?:)", ("error", "fatal")),
)
_ERROR_RE = re.compile("|".join(pattern for pattern, _ in _ERROR_SIGNS))
_STATUS_5XX = r"(?i:\"?(?:status|status_code|http_status)\"?\s*[:=]\s*5\d\d\b)"
# The 5xx status sign, searched for in the lowercased text: it matches exactly where that
# sign does (each of its names ends in 'status' or 'status_code', and the optional quote
# before the name cannot decide a match), and, starting with a literal, it is found by a
# fast scan where the case-insensitive alternation tries every position of a JSON output.
_STATUS_5XX_LOWERED = re.compile(r'status(?:_code)?"?\s*[:=]\s*5\d\d\b')
_ERROR_CHECKS = tuple(
    (re.compile(pattern), words, False) if pattern != _STATUS_5XX else (_STATUS_5XX_LOWERED, words, True)
    for pattern, words in _ERROR_SIGNS
)
_ERROR_WORDS = tuple(dict.fromkeys(word for _, words in _ERROR_SIGNS for word in words))
# Mentionable values: file names/paths, ids mixing letters and digits, long numbers.
_REF_KINDS = (
    r"[\w/-]*[A-Za-z_]\w*\.[A-Za-z][A-Za-z0-9]{0,5}",  # app.py, src/x/y.ts
    r"(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[A-Za-z0-9][\w-]{3,}",  # ord_123, INC-4521, a1b2c3
    r"\d{5,}",  # 48213
)
_REF_RE = re.compile(r"(?<![\w.-])(?:" + "|".join(_REF_KINDS) + r")(?![\w-])")
_LONG_RUN_CHARS = 100
r"""Runs of `[\w/.-]` at least this long are matched without the regex (see `_ref_values`)."""
# `_REF_RE` with one more alternative, tried first: a whole run of at least
# `_LONG_RUN_CHARS` `[\w/.-]` characters (it starts where no such character comes before).
_REF_OR_LONG_RUN = re.compile(
    rf"(?<![\w.-])(?:(?<!/)(?P<run>[\w/.-]{{{_LONG_RUN_CHARS},}})|{'|'.join(_REF_KINDS)})(?![\w-])"
)
_ASCII_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_ASCII_ALNUM = _ASCII_LETTERS | frozenset("0123456789")
_MAX_REF_TOKENS = 400
_ERROR_SCAN_CHARS = 100_000
_MAX_JSON_CHARS = 200_000
_MAX_LEAVES = 5000


@dataclass
class UnitScore:
    score: float
    factors: dict[str, float] = field(default_factory=dict)
    has_error: bool = False
    references: int = 0


def unit_text(messages: Sequence[Mapping[str, Any]], unit: Unit) -> str:
    return "\n".join(message_text(messages[i]) for i in unit.indices)


def tool_output_texts(messages: Sequence[Mapping[str, Any]], unit: Unit) -> list[str]:
    """The tool results inside a unit (OpenAI tool messages, Anthropic tool_result blocks)."""
    texts: list[str] = []
    for i in unit.indices:
        message = messages[i]
        if message.get("role") in ("tool", "function"):
            texts.append(message_text(message))
        elif message.get("role") == "user" and isinstance(message.get("content"), list):
            for block in message["content"]:
                if isinstance(block, Mapping) and block.get("type") == "tool_result":
                    texts.append(message_text({"content": [block]}))
    return [t for t in texts if t]


def has_error(text: str) -> bool:
    if len(text) > 2 * _ERROR_SCAN_CHARS:  # bound the work: errors sit near the start or the end
        text = text[:_ERROR_SCAN_CHARS] + "\n" + text[-_ERROR_SCAN_CHARS:]
    if not text.isascii():  # Unicode case folding (e.g. 'ſ' matches 's'): the plain rule
        return _ERROR_RE.search(text) is not None
    lowered = text.lower()
    present = {word for word in _ERROR_WORDS if word in lowered}
    return any(
        not present.isdisjoint(words) and sign.search(lowered if on_lowered else text) is not None
        for sign, words, on_lowered in _ERROR_CHECKS
    )


def ref_tokens(text: str) -> set[str]:
    found: set[str] = set()
    for value in _ref_values(text):
        token = value.strip("/.-")
        if len(token) >= 4:
            found.add(token)
            if len(found) >= _MAX_REF_TOKENS:
                break
    return found


def _ref_values(text: str) -> Iterator[str]:
    r"""What `_REF_RE.finditer(text)` matches, in order, in linear time.

    `_REF_RE` backtracks over every way to split a run of word characters, slashes and
    dashes, so a long run (a base64 blob, a path of thousands of parts) costs the square
    of its length. A match never leaves a run of `[\w/.-]` characters and only looks at
    the characters around it that are outside the run, so the regex, at the start of a
    long run, takes the whole run instead, and `_ref_values_in_run` reads it in one pass."""
    for match in _REF_OR_LONG_RUN.finditer(text):
        if match.group("run") is None:
            yield match.group(0)
        else:
            yield from _ref_values_in_run(match.group(0))


def _is_word(c: str) -> bool:
    return c.isalnum() or c == "_"  # what `\w` matches (checked over every code point)


def _ref_values_in_run(run: str) -> Iterator[str]:
    r"""`_REF_RE`'s matches in a whole run of `[\w/.-]` characters, read in one pass.

    A match may start where a slash (or nothing) comes before. From a start `s` it is, in
    the regex's order of preference:
    1. a file name: the `[\w/-]` stretch from `s` ends at a dot, the part of it after
       its last slash or dash holds an ASCII letter or `_`, and after the dot come an
       ASCII letter and up to five ASCII letters or digits, then no `[\w-]` character;
    2. an id: the `[\w-]` stretch from `s` (at least 4 long, starting with an ASCII
       letter or digit) holds a digit and an ASCII letter;
    3. a number: at least 5 digits, then no `[\w-]` character.
    (The regex's other ways to split a stretch end at the same place or fail.)"""
    n = len(run)
    word = [_is_word(c) for c in run]
    # From the right: where each stretch starting at i ends, and the next digit / ASCII
    # letter at or after i (n when none).
    end_path = [n] * (n + 1)  # [\w/-]
    end_id = [n] * (n + 1)  # [\w-]
    end_digits = [n] * (n + 1)  # \d
    end_word = [n] * (n + 1)  # \w
    next_digit = [n] * (n + 1)
    next_letter = [n] * (n + 1)
    word_has_letter = [False] * (n + 1)  # [A-Za-z_] in the \w stretch from i
    for i in range(n - 1, -1, -1):
        c = run[i]
        is_path = word[i] or c in "/-"
        end_path[i] = end_path[i + 1] if is_path else i
        end_id[i] = end_id[i + 1] if word[i] or c == "-" else i
        end_digits[i] = end_digits[i + 1] if c.isdecimal() else i
        end_word[i] = end_word[i + 1] if word[i] else i
        next_digit[i] = i if c.isdecimal() else next_digit[i + 1]
        ascii_letter = c in _ASCII_LETTERS
        next_letter[i] = i if ascii_letter else next_letter[i + 1]
        word_has_letter[i] = word[i] and (ascii_letter or c == "_" or word_has_letter[i + 1])
    last_sep = [-1] * n  # the last slash or dash at or before i
    for i in range(n):
        last_sep[i] = i if run[i] in "/-" else (last_sep[i - 1] if i else -1)

    def not_id_char(i: int) -> bool:
        return i >= n or not (word[i] or run[i] == "-")

    def file_name_end(s: int) -> int | None:
        dot = end_path[s]
        if dot == s or dot >= n or run[dot] != ".":
            return None
        tail = max(s, last_sep[dot - 1] + 1)
        if tail >= dot or end_word[tail] != dot or not word_has_letter[tail]:
            return None
        if dot + 1 >= n or run[dot + 1] not in _ASCII_LETTERS:
            return None
        e = dot + 2
        while e < n and e < dot + 7 and run[e] in _ASCII_ALNUM:
            e += 1
        return e if not_id_char(e) else None

    def id_end(s: int) -> int | None:
        e = end_id[s]
        if run[s] not in _ASCII_ALNUM or e - s < 4 or next_digit[s] >= e or next_letter[s] >= e:
            return None
        return e

    def number_end(s: int) -> int | None:
        e = end_digits[s]
        return e if e - s >= 5 and not_id_char(e) else None

    pos = 0
    while pos < n:
        if pos == 0 or run[pos - 1] == "/":
            end = file_name_end(pos) or id_end(pos) or number_end(pos)
            if end is not None:
                yield run[pos:end]
                pos = end
                continue
        pos += 1


def _referenced_fields(text: str, tokens: set[str]) -> list[str]:
    """JSON field names whose values contain one of `tokens` (for field-level learning)."""
    stripped = text.lstrip()
    if not tokens or len(text) > _MAX_JSON_CHARS or not stripped.startswith(("{", "[")):
        return []
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return []
    found: set[str] = set()
    stack: list[tuple[str | None, Any]] = [(None, doc)]
    leaves = 0
    while stack and leaves < _MAX_LEAVES:
        name, node = stack.pop()
        if isinstance(node, dict):
            stack.extend((str(k), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((name, v) for v in node)
        else:
            leaves += 1
            if name is not None and isinstance(node, (str, int)) and not isinstance(node, bool):
                value = str(node)
                if any(t in value for t in tokens):
                    found.add(name)
    return sorted(found)


def _json_field_names(text: str) -> set[str]:
    return set(re.findall(r'"([A-Za-z_][\w-]{0,40})"\s*:', text[:_MAX_JSON_CHARS]))


def score_units(
    messages: Sequence[Mapping[str, Any]],
    units: Sequence[Unit],
    query: str | None,
    ctx: Any,
    learning: LearningStore | None = None,
    notes: list[str] | None = None,
) -> list[UnitScore]:
    """A score (and its factors) for every unit; protected units are scored too, for the report."""
    n_messages = len(messages)
    texts = [unit_text(messages, u) for u in units]

    relevance = np.zeros(len(units))
    if query:
        bm25 = bm25_scores(query, texts)
        # Normalise by the best *droppable* unit: the current question always matches itself.
        candidates = [bm25[i] for i, u in enumerate(units) if not u.protected]
        top = max(candidates) if candidates else 0.0
        if top > 0:
            relevance = np.minimum(bm25 / top, 1.0)
        if ctx.semantic:
            try:
                from headroom_core.context.semantic import similarities

                sims = similarities(query, texts)
                # Relative to the best droppable unit, but never stretching weak matches:
                # a best cosine under 0.3 is not scaled up to 1.
                top_sim = max([sims[i] for i, u in enumerate(units) if not u.protected] or [0.0])
                relevance = np.maximum(relevance, np.minimum(sims / max(top_sim, 0.3), 1.0))
            except Exception as exc:  # a missing extra degrades to BM25, visibly
                if notes is not None:
                    notes.append(f"semantic relevance unavailable ({type(exc).__name__}: {exc}); BM25 only")
    relevance = np.round(relevance, 6)

    # Where each mentionable value occurs, to find outputs referenced by later messages.
    # A tool message's text is its output's text: each distinct text is scanned once
    # (the sets are only read).
    refs_of: dict[str, set[str]] = {}

    def refs_in(text: str) -> set[str]:
        found = refs_of.get(text)
        if found is None:
            found = refs_of[text] = ref_tokens(text)
        return found

    message_tokens = [refs_in(message_text(m)) for m in messages]
    last_seen: dict[str, int] = {}
    spread: dict[str, int] = {}
    for i, tokens in enumerate(message_tokens):
        for t in tokens:
            last_seen[t] = i
            spread[t] = spread.get(t, 0) + 1
    too_common = max(5, n_messages // 10)

    scores: list[UnitScore] = []
    for ui, unit in enumerate(units):
        recency = 0.5 ** ((n_messages - 1 - unit.end) / max(1, ctx.recency_half_life))
        if unit.tool_names:
            role = 0.4
        elif unit.role == "user":
            role = 1.0
        elif unit.role == "assistant":
            role = 0.6
        else:
            role = 0.3
        outputs = tool_output_texts(messages, unit)
        error = has_error(texts[ui])
        per_output = [
            {t for t in refs_in(out) if last_seen.get(t, -1) > unit.end and spread[t] <= too_common}
            for out in outputs
        ]
        refs = len(set().union(*per_output)) if per_output else 0
        learned = 0.0
        if learning is not None and unit.tool_names:
            learned = _learned(learning, unit, outputs, per_output)
        factors = {
            "recency": round(recency, 6),
            "role": role,
            "relevance": float(relevance[ui]),
            "errors": 1.0 if error else 0.0,
            "references": round(min(1.0, refs / 3.0), 6),
            "learned": round(learned, 6),
        }
        score = (
            ctx.weight_recency * factors["recency"]
            + ctx.weight_role * factors["role"]
            + ctx.weight_relevance * factors["relevance"]
            + ctx.weight_errors * factors["errors"]
            + ctx.weight_references * factors["references"]
            + ctx.weight_learned * factors["learned"]
        )
        scores.append(UnitScore(round(score, 6), factors, error, refs))
    return scores


def _learned(learning: LearningStore, unit: Unit, outputs: list[str], referenced: list[set[str]]) -> float:
    """Read the prior for this unit's tool(s) and fields, and record what this call shows."""
    tool = unit.tool_names[0] or "unnamed"
    prior = max(learning.stats(name or "unnamed").rate for name in unit.tool_names)
    known_fields = learning.fields(tool)
    for out, refs in zip(outputs, referenced):
        if known_fields and out.lstrip().startswith(("{", "[")):
            present = _json_field_names(out)
            for name in known_fields:
                if name in present:
                    prior = max(prior, learning.field_rate(tool, name))
        key = _ccr.content_key(out)
        learning.observe_output(key, tool)
        for marker in _ccr.parse_markers(out):
            learning.link_key(marker.key, tool)
        if refs:
            learning.record_reference(key, _referenced_fields(out, refs))
    return prior
