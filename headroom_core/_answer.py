"""The answer a model gets when it calls `headroom_retrieve`: one implementation for every consumer.

The LangChain and LlamaIndex retrieve tools, the proxy and the MCP server all wrap
`retrieval_answer`, so the same call gives the model the same text everywhere. It never
raises for what a model can get wrong (a missing, malformed, unknown or expired key, a
query that matches nothing) nor for a store that cannot be read: each of those comes back
as one sentence saying what happened and what to do next. The answer is capped in tokens
(`DEFAULT_ANSWER_MAX_TOKENS` unless the caller says otherwise) because a model that asks
for "everything" must not get a 30,000-token reply; a capped answer says how to narrow
(`query`) or shrink (`limit`) the next call.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import orjson

from headroom_core import _ccr
from headroom_core._ccr import RETRIEVE_TOOL_NAME, CCRStore
from headroom_core._config import DEFAULT_MODEL
from headroom_core._errors import CCRKeyNotFoundError, CCRStoreError
from headroom_core._text import head_that_fits
from headroom_core._tokenizer import Tokenizer, get_tokenizer

__all__ = [
    "DEFAULT_ANSWER_MAX_TOKENS",
    "RETRIEVE_TOOL_DESCRIPTION",
    "RETRIEVE_TOOL_PARAMETERS",
    "retrieval_answer",
]

logger = logging.getLogger("headroom.ccr")

DEFAULT_ANSWER_MAX_TOKENS = 2_000
"""Most tokens one retrieval answer may take (its note included) unless `max_tokens` says otherwise."""

_ECHO_CHARS = 40
"""A bad argument is echoed back to the model at most this long (a pasted document is not)."""
_KEY_SHAPE = re.compile(r"[0-9a-f]{8,64}")
_MAX_REFITS = 3
"""Rounds of asking the store for fewer best matches when a query's answer is over the cap."""

RETRIEVE_TOOL_DESCRIPTION = (
    "Get back content that Headroom left out of your context. Compressed tool outputs and "
    "documents contain markers such as "
    '[headroom: 1,843 items omitted; retrieve with headroom_retrieve(key="3f9a0c5e1b2d4a6c8e0f1a2b")]. '
    "Call this tool when the answer you need may be in the omitted part. Arguments: `key` "
    "(required) is the key from the marker, copied exactly; `query` (optional) is a few words, "
    "names, ids or values to look for, and returns only the stored items or lines that match; "
    "`limit` (optional) returns at most that many items or lines. Without `query` you get the "
    "original from its start. Long answers are cut to a fixed size and say how to narrow the "
    'next call. Example: headroom_retrieve(key="3f9a0c5e1b2d4a6c8e0f1a2b", query="order 48213", limit=5).'
)
"""The tool description every `headroom_retrieve` tool shows the model."""

RETRIEVE_TOOL_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "key": {
            "type": "string",
            "description": 'The key from a Headroom marker, e.g. the 3f9a0c... in headroom_retrieve(key="3f9a0c...").',
        },
        "query": {
            "type": "string",
            "description": "Optional words, names, ids or values: return only the stored items or lines that match.",
        },
        "limit": {
            "type": "integer",
            "description": "Optional: return at most this many items or lines.",
        },
    },
    "required": ["key"],
}
"""JSON schema of the tool's arguments (OpenAI `parameters`, Anthropic `input_schema`, MCP `inputSchema`)."""


def _echo(value: Any) -> str:
    """A short, quoted rendering of something the model sent, for an error sentence."""
    text = value if isinstance(value, str) else repr(value)
    text = " ".join(text.split())
    if len(text) > _ECHO_CHARS:
        text = text[:_ECHO_CHARS] + "..."
    return f'"{text}"'


def _normalise_key(key: str) -> str:
    """The bare lower-case key, also when the model passed `key="..."` or a whole marker."""
    markers = _ccr.parse_markers(key) if RETRIEVE_TOOL_NAME in key else []
    if markers:
        return markers[0].key
    return key.strip().strip("'\"").strip().lower()


def _check_limit(limit: Any) -> int | str | None:
    """The limit as an int (or None), or a sentence explaining why it is unusable."""
    if limit is None:
        return None
    if isinstance(limit, str) and limit.strip().isdigit():
        limit = int(limit.strip())  # models sometimes quote numbers
    if isinstance(limit, float) and limit.is_integer():
        limit = int(limit)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        return f"`limit` must be a whole number of at least 1, got {_echo(limit)}; call again with, e.g., limit=20."
    return limit


def _check_max_tokens(max_tokens: Any) -> int:
    if max_tokens is None:
        return DEFAULT_ANSWER_MAX_TOKENS
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise TypeError(f"max_tokens must be a positive int or None, got {max_tokens!r}")
    return max_tokens


def retrieval_answer(
    key: Any,
    query: Any = None,
    limit: Any = None,
    *,
    max_tokens: int | None = None,
    config: Any = None,
    store: CCRStore | None = None,
    model: str = DEFAULT_MODEL,
) -> str:
    """The text a model should see for `headroom_retrieve(key, query, limit)`.

    Returns the stored original (from its start), or with `query` the stored items or
    lines that match it best (at most `limit`), capped at `max_tokens` tokens
    (`DEFAULT_ANSWER_MAX_TOKENS` when None) counted for `model`. A capped answer ends with
    a note saying how much was shown and how to narrow or shrink the next call. Bad
    arguments, unknown or expired keys, a query that matches nothing and a store that
    cannot be read each come back as a sentence telling the model what to do; this
    function does not raise for them.

    `config` (a `HeadroomConfig`) or `store` says which CCR store to read: use the one the
    compression that produced the markers used. Only programming errors raise here
    (`max_tokens` not a positive int).
    """
    cap = _check_max_tokens(max_tokens)
    if key is None or (isinstance(key, str) and not key.strip()):
        return (
            f"{RETRIEVE_TOOL_NAME} needs a `key`: copy it from a Headroom marker, e.g. "
            f'{RETRIEVE_TOOL_NAME}(key="3f9a0c5e1b2d4a6c8e0f1a2b").'
        )
    if not isinstance(key, str):
        return f"`key` must be the text of a Headroom key, got {_echo(key)}; copy it from the marker."
    wanted = _normalise_key(key)
    if not _KEY_SHAPE.fullmatch(wanted):
        return (
            f"{_echo(key)} is not a Headroom key. Keys are the hexadecimal string inside "
            f'{RETRIEVE_TOOL_NAME}(key="...") in a marker; copy it exactly.'
        )
    if query is not None and not isinstance(query, str):
        return f"`query` must be text (a few words to look for), got {_echo(query)}."
    query = query.strip() if query is not None and query.strip() else None
    checked = _check_limit(limit)
    if isinstance(checked, str):
        return checked
    limit = checked

    def fetch(fetch_limit: int | None) -> str:
        return _ccr.retrieve(wanted, query=query, limit=fetch_limit, store=store, config=config)

    try:
        text = fetch(limit)
    except CCRKeyNotFoundError:
        return (
            f'No stored content for key "{wanted}": it is unknown, or it expired or was evicted. '
            "Re-run the tool that produced that output if you need its full content; otherwise "
            "continue with the compressed content you have."
        )
    except (CCRStoreError, OSError) as exc:
        logger.warning("headroom_retrieve: the CCR store could not be read for key %s: %s", wanted, exc)
        return (
            f'The stored content for key "{wanted}" cannot be read right now (the store failed). '
            "Re-run the tool that produced that output if you need its full content; otherwise "
            "continue with the compressed content you have."
        )
    if query is not None and text.strip() in ("", "[]"):
        return (
            f'Nothing stored under key "{wanted}" matches the query {_echo(query)}. Try other words '
            "(a name, id or value that appears in the content), or call again without `query` to "
            "get the original from its start."
        )
    tokenizer = get_tokenizer(model)
    if tokenizer.count(text) <= cap:
        return text

    units, render = _units(text)
    total = len(units)
    noun = "items" if render is _render_items else "lines"

    def note(n: int) -> str:
        if query is not None:
            shown_part = f"the {n:,} best matches of {total:,} {noun}"
            how = "with more specific words in `query`, or a smaller `limit` for only the best-ranked matches"
        else:
            shown_part = f"the first {n:,} of {total:,} {noun}"
            how = "with words from what you need in `query` (and a `limit` for only the best few)"
        return (
            f"\n[headroom: answer capped at {cap:,} tokens: showing {shown_part}. To get other parts, "
            f'call {RETRIEVE_TOOL_NAME}(key="{wanted}", query=...) {how}.]'
        )

    shown = _fit(units, render, cap, tokenizer, note)
    if query is not None and 1 <= shown < total:
        # A query's answer is in original order; ask again for the best `shown` matches only,
        # so what fits is the best, not merely the first.
        for _ in range(_MAX_REFITS):
            try:
                best = fetch(shown)
            except (CCRKeyNotFoundError, CCRStoreError, OSError):  # gone between two reads: keep the first
                break
            best_units, best_render = _units(best)
            fits = _fit(best_units, best_render, cap, tokenizer, note)
            if fits >= len(best_units):
                return best_render(best_units) + note(len(best_units))
            if fits < 1:
                break
            shown = fits
    if shown >= 1:
        return render(units[:shown]) + note(shown)
    return _head_of(render(units[:1]), cap, tokenizer, wanted, total, noun)


# --------------------------------------------------------------------------- capping


def _render_items(items: list[str]) -> str:
    return "[" + ",".join(items) + "]"


def _render_lines(lines: list[str]) -> str:
    return "\n".join(lines)


def _units(text: str) -> tuple[list[str], Any]:
    """The answer split into what a partial answer is made of: JSON items, else lines."""
    if text.startswith("["):
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError:
            doc = None
        if isinstance(doc, list):
            return [orjson.dumps(item).decode() for item in doc], _render_items
    return text.split("\n"), _render_lines


def _fit(units: list[str], render: Any, cap: int, tokenizer: Tokenizer, note: Any) -> int:
    """How many leading units fit in `cap` tokens together with `note(n)`.

    Walks forward summing per-unit counts (stops as soon as the cap is passed, so the
    work is bounded by what is shown), then confirms with one count of the rendered text.
    """
    budget = cap - tokenizer.count(note(len(units)))
    total, n = 2, 0  # brackets / separators are a token or two
    for unit in units:
        total += tokenizer.count(unit) + 1
        if total > budget:
            break
        n += 1
    while n > 0 and tokenizer.count(render(units[:n]) + note(n)) > cap:
        n -= 1
    return n


def _head_of(unit: str, cap: int, tokenizer: Tokenizer, key: str, total: int, noun: str) -> str:
    """The first unit alone is over the cap (a minified document): its head, cut at a character."""
    note = (
        f"[headroom: answer capped at {cap:,} tokens: showing the start of the first of {total:,} "
        f'{noun}. Call {RETRIEVE_TOOL_NAME}(key="{key}", query=...) with words from what you need.]'
    )
    head = head_that_fits(unit, cap, note, tokenizer.count, cut="char")
    if head is None or head == note:  # not one character fits beside the note
        return "\n" + note
    return head
