"""CacheAligner: keep the cacheable prefix byte-identical from call to call.

Provider prompt caches (OpenAI automatic prefix caching, Anthropic `cache_control`) only
hit on an exact prefix. A system prompt that says "Current time: 09:14:03" or carries a
request id changes on every call and so invalidates everything after it. The aligner
finds such values in the system prompt(s) and the first user message, replaces each by
a stable placeholder (`{{date_1}}`, `{{request_id_1}}`, ...) and appends one note with
the current values *after* the prefix -- at the end of the newest user message -- so the
model still sees every value:

    Current values (kept out of the cached prefix): date_1=2026-11-24, request_id_1=req_8f3a

`common_prefix_tokens()` measures the effect: the longest common token prefix of two
successive requests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from headroom_core._config import DEFAULT_MODEL
from headroom_core._messages import copy_messages, detect_format, json_text
from headroom_core._tokenizer import get_tokenizer

NOTE_PREFIX = "Current values (kept out of the cached prefix): "

_MONTH = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
_WEEKDAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,?\s+"

# (kind, pattern) in priority order; a pattern's group "v", when present, is the value.
DYNAMIC_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("uuid", re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")),
    (
        "datetime",
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s?(?:Z|UTC|[+-]\d{2}:?\d{2}))?(?![\w:])"
        ),
    ),
    (
        "date",
        re.compile(
            rf"\b(?:{_WEEKDAY})?(?:{_MONTH}\.? \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}}|\d{{1,2}} {_MONTH}\.? \d{{4}})\b"
            r"|\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b"
        ),
    ),
    (
        "time",
        re.compile(r"\b\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s?[AaPp][Mm])?(?:\s?(?:Z|UTC|GMT|[A-Z]{3}))?\b"),
    ),
    ("timestamp", re.compile(r"\b1[5-9]\d{8}(?:\d{3})?\b")),
    (
        "request_id",
        re.compile(
            r"\b(?:req|request|trace|span|sess|session|run|msg|chatcmpl|conv|corr|correlation)[-_][A-Za-z0-9]{6,}\b"
            r"|(?i:\b(?:request|trace|session|correlation|conversation|run)[ _-]?id\b\W{1,3})(?P<v>[A-Za-z0-9_-]{6,})"
        ),
    ),
    ("hex", re.compile(r"\b(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{16,}\b")),
    (
        "counter",
        re.compile(
            r"(?i:\b(?:turn|request|call|iteration|attempt|message|query)[ _]?(?:#|no\.|number|count|counter|index)?"
            r"\s*[:#=]\s*)(?P<v>\d+)\b"
        ),
    ),
)


@dataclass(frozen=True)
class DynamicValue:
    """One value moved out of the prefix."""

    placeholder: str
    """e.g. 'date_1'; the prefix now reads `{{date_1}}`."""
    kind: str
    value: str
    message_index: int


@dataclass
class CacheReport:
    """What the aligner did and where the provider's cache can start to differ."""

    moved: list[DynamicValue] = field(default_factory=list)
    note: str | None = None
    note_message_index: int | None = None
    stable_prefix_messages: int = 0
    """Messages before the first one the aligner had to leave dynamic (the note's)."""
    breakpoints: list[int] = field(default_factory=list)
    """Message indices that received an Anthropic `cache_control` breakpoint."""
    hints: list[str] = field(default_factory=list)


def find_dynamic(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of dynamic values in `text`, non-overlapping, in order."""
    spans: list[tuple[int, int, str]] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in DYNAMIC_PATTERNS:
        for match in pattern.finditer(text):
            if match.groupdict().get("v") is not None:
                start, end = match.span("v")
            else:
                start, end = match.span()
            if any(start < e and s < end for s, e in taken):
                continue
            taken.append((start, end))
            spans.append((start, end, kind))
    spans.sort()
    return spans


def _text_parts(message: dict[str, Any]) -> list[tuple[Any, Any]]:
    """(container, key) for each plain text of a message (not tool results)."""
    content = message.get("content")
    if isinstance(content, str):
        return [(message, "content")]
    parts: list[tuple[Any, Any]] = []
    if isinstance(content, list):
        for i, block in enumerate(content):
            if isinstance(block, str):
                parts.append((content, i))
            elif (
                isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str)
            ):
                parts.append((block, "text"))
    return parts


class CacheAligner:
    """Move dynamic values out of the prefix; optionally mark Anthropic cache breakpoints."""

    def __init__(self, *, anthropic_breakpoints: bool = False, max_breakpoints: int = 4) -> None:
        self.anthropic_breakpoints = anthropic_breakpoints
        self.max_breakpoints = max_breakpoints

    def prefix_indices(self, messages: Sequence[Mapping[str, Any]]) -> list[int]:
        """The messages scanned: leading system/developer messages and the first user message."""
        indices: list[int] = []
        for i, message in enumerate(messages):
            role = message.get("role")
            if role in ("system", "developer"):
                indices.append(i)
            elif role == "user":
                indices.append(i)
                break
            else:
                break
        return indices

    def align(
        self, messages: Sequence[Mapping[str, Any]], *, provider: str | None = None
    ) -> tuple[list[dict[str, Any]], CacheReport]:
        """A copy of `messages` with a stable prefix, and the report. The input is not mutated.

        `provider` ('openai' or 'anthropic') overrides the format detected from the messages
        (a text-only Anthropic conversation looks like OpenAI's).
        """
        out = copy_messages(messages)
        report = CacheReport()
        fmt = provider or detect_format(out)
        assigned: dict[tuple[str, str], str] = {}
        counters: dict[str, int] = {}
        for mi in self.prefix_indices(out):
            for container, key in _text_parts(out[mi]):
                text = container[key]
                spans = find_dynamic(text)
                if not spans:
                    continue
                pieces, pos = [], 0
                for start, end, kind in spans:
                    value = text[start:end]
                    name = assigned.get((kind, value))
                    if name is None:
                        counters[kind] = counters.get(kind, 0) + 1
                        name = assigned[(kind, value)] = f"{kind}_{counters[kind]}"
                        report.moved.append(DynamicValue(name, kind, value, mi))
                    pieces.append(text[pos:start])
                    pieces.append("{{" + name + "}}")
                    pos = end
                pieces.append(text[pos:])
                container[key] = "".join(pieces)
        report.stable_prefix_messages = len(out)
        if report.moved:
            note = NOTE_PREFIX + ", ".join(f"{v.placeholder}={v.value}" for v in report.moved)
            report.note = note
            report.note_message_index = self._place_note(out, note, fmt)
            report.stable_prefix_messages = report.note_message_index
        if fmt == "anthropic" and self.anthropic_breakpoints:
            report.breakpoints = self.add_breakpoints(out, report.stable_prefix_messages)
        report.hints = self._hints(out, fmt, report)
        return out, report

    @staticmethod
    def _place_note(out: list[dict[str, Any]], note: str, fmt: str) -> int:
        last = len(out) - 1
        target = None
        if out and out[last].get("role") == "user":
            target = last
        elif fmt == "openai" and out and out[last].get("role") in ("tool", "function", "system"):
            out.append({"role": "system", "content": note})
            return len(out) - 1
        else:
            target = next((i for i in range(last, -1, -1) if out[i].get("role") == "user"), None)
        if target is None:  # no user message at all: the end of the last message
            target = last
        message = out[target]
        content = message.get("content")
        if isinstance(content, str) or content is None:
            message["content"] = f"{content}\n\n{note}" if content else note
        else:
            message["content"] = [*content, {"type": "text", "text": note}]
        return target

    def add_breakpoints(self, out: list[dict[str, Any]], stable: int) -> list[int]:
        """Anthropic `cache_control` on the last system message and on message `stable - 1`
        (in place; at most `max_breakpoints` in total, counting the caller's own)."""
        existing = 0
        for m in out:
            content = m.get("content")
            if isinstance(content, list):
                existing += sum(1 for b in content if isinstance(b, dict) and "cache_control" in b)
        budget = self.max_breakpoints - existing
        candidates: list[int] = []
        system = [i for i, m in enumerate(out[:stable]) if m.get("role") in ("system", "developer")]
        if system:
            candidates.append(system[-1])
        if stable - 1 >= 0 and (not candidates or candidates[-1] != stable - 1):
            candidates.append(stable - 1)
        placed: list[int] = []
        for i in candidates:
            if budget <= 0:
                break
            message = out[i]
            content = message.get("content")
            if isinstance(content, str):
                if not content:
                    continue
                content = message["content"] = [{"type": "text", "text": content}]
            if not isinstance(content, list) or not content or not isinstance(content[-1], dict):
                continue
            if "cache_control" not in content[-1]:
                content[-1] = {**content[-1], "cache_control": {"type": "ephemeral"}}
                placed.append(i)
                budget -= 1
        return placed

    @staticmethod
    def _hints(out: list[dict[str, Any]], fmt: str, report: CacheReport) -> list[str]:
        stable = report.stable_prefix_messages
        if fmt == "anthropic":
            where = report.breakpoints or [stable - 1]
            return [
                f"anthropic: put cache_control breakpoints on message(s) {where} "
                f"(the last system block and the end of the stable history, {stable} messages)",
                "anthropic: keep the tools list and system blocks in a fixed order; they precede messages in the cache key",
            ]
        return [
            f"openai: prefix caching is automatic from 1,024 tokens; messages 0..{max(stable - 1, 0)} are stable",
            "openai: keep tool definitions and their order fixed between calls, and send "
            "the same JSON key order (the request body is hashed as bytes)",
        ]


def serialize_request(messages: Sequence[Mapping[str, Any]]) -> str:
    """The messages as the JSON bytes a client would send (key order as given)."""
    return json_text(list(messages))


def common_prefix_tokens(
    a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]], model: str = DEFAULT_MODEL
) -> int:
    """Length, in tokens, of the longest common prefix of two serialized requests."""
    tokenizer = get_tokenizer(model)
    ids_a = tokenizer.encode(serialize_request(a))
    ids_b = tokenizer.encode(serialize_request(b))
    common = 0
    for x, y in zip(ids_a, ids_b):
        if x != y:
            break
        common += 1
    return common


def request_tokens(messages: Sequence[Mapping[str, Any]], model: str = DEFAULT_MODEL) -> int:
    """Tokens of the serialized request (the unit `common_prefix_tokens` counts in)."""
    return len(get_tokenizer(model).encode(serialize_request(messages)))
