"""SmartCrusher: statistical compression of JSON tool outputs (arrays, records, maps).

The document is parsed once (orjson; numbers a double cannot hold keep their source text,
see `_numbers`). Every large array anywhere in it, and every large object used as a map
(hundreds of keys), is analysed column by column (`_signals`: errors, outliers, extremes,
change points, rare categories, query matches; nested record fields by dotted path) and
then either

* written *losslessly* as a compact table (`_table`: field names once, one JSON row per
  item, constants, sequences and templates stated once), when that alone meets
  `JsonConfig.target_ratio` and stays under `JsonConfig.lossless_max_tokens`; or
* *reduced* (`_plan`): all items kept with long text cut (when that meets the target),
  else only the items that matter kept, still in table form when the records are uniform.

Whatever is dropped is counted in one summary line inside a CCR marker (`_render`); the
whole original text is stashed once and the marker carries the key that storing returned,
so `retrieve(key)` is byte-identical and `retrieve(key, query=...)` finds individual items
through the stashed `paths`. Output forms: docs/compressors/json.md.

Sizes are estimated from bytes and a few sampled tokenizer calls; no per-item token
counting, no quadratic steps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import orjson

from headroom_core import _ccr
from headroom_core._counting import count_once
from headroom_core.compressors._base import CompressContext, Compressed
from headroom_core.compressors.json._numbers import dumpb, loads
from headroom_core.compressors.json._plan import (
    _MAX_PLANS,
    _MIN_ARRAY_BYTES,
    _Plan,
    _plan_array,
)
from headroom_core.compressors.json._render import _assemble, _render_plan, _render_table, _Replacement
from headroom_core.compressors.json._table import _Table, _table_for

# --------------------------------------------------------------------------- token estimates


_SAMPLE_WINDOW = 4000
"""Characters in each of the three windows a long text's count is extrapolated from."""


def _estimate_tokens(text: str, ctx: CompressContext) -> int:
    """Tokens of `text`: exact for short texts, from three sampled windows for long ones.

    A short text's exact count is shared with the pipeline for this `compress()` call (see
    `counting_scope`): the tool output the pipeline counted before compressing is not
    encoded again, and the lossless form, when it becomes the output, is not encoded again
    by the pipeline. A long text keeps its sampled estimate even when the pipeline knows the exact
    count, so the crusher decides the same whether or not it runs inside `compress()`.
    """
    window = _SAMPLE_WINDOW
    if len(text) <= 3 * window:
        return count_once(text, ctx.tokenizer)
    middle = len(text) // 2 - window // 2
    sample = text[:window] + text[middle : middle + window] + text[-window:]
    return round(ctx.tokenizer.count(sample) * len(text) / len(sample))


# --------------------------------------------------------------------------- the compressor


@dataclass
class _Walk:
    ctx: CompressContext
    lossy: bool
    plans: dict[tuple[Any, ...], _Plan] = field(default_factory=dict)
    tables: dict[tuple[Any, ...], tuple[list[Any], _Table]] = field(default_factory=dict)
    analysed: int = 0
    table_cache: dict[int, _Table | None] = field(default_factory=dict)
    """Table layouts by array identity, shared by the lossless and the lossy walk."""

    def table(self, items: list[Any]) -> _Table | None:
        key = id(items)
        if key not in self.table_cache:
            self.table_cache[key] = _table_for(items, self.ctx.config.json.table_min_rows)
        return self.table_cache[key]


def _flat(node: list[Any]) -> bool:
    """True when no item holds a nested array or object (nothing below to walk into)."""
    for child in node:
        kind = type(child)
        if kind is list:
            return False
        if kind is dict:
            for value in child.values():
                if type(value) is list or type(value) is dict:
                    return False
    return True


def _walk(node: Any, path: tuple[Any, ...], state: _Walk) -> bool:
    """Find the arrays and maps to crush (lossy) or tabulate; True if anything was placed at/below."""
    cfg = state.ctx.config.json
    if isinstance(node, list):
        if (
            state.lossy
            and len(node) >= max(2, cfg.min_items)
            and state.analysed < _MAX_PLANS
            and (len(node) >= 64 or len(dumpb(node)) >= _MIN_ARRAY_BYTES)
        ):
            state.analysed += 1
            plan = _plan_array(node, path, state.ctx, state.table(node) if cfg.allow_table_form else None)
            if plan is not None:
                state.plans[path] = plan
                return True
        below = False
        if not _flat(node):
            for i, child in enumerate(node):
                if isinstance(child, (list, dict)) and _walk(child, (*path, i), state):
                    below = True
        if not below and cfg.allow_table_form:
            table = state.table(node)
            if table is not None:
                state.tables[path] = (node, table)
                return True
        return below
    if isinstance(node, dict):
        if (
            state.lossy
            and len(node) >= max(2, cfg.map_min_keys)
            and state.analysed < _MAX_PLANS
            and len(dumpb(node)) >= _MIN_ARRAY_BYTES
        ):
            # A large map (version -> date, id -> record) is crushed like an array of its values.
            state.analysed += 1
            plan = _plan_array(list(node.values()), path, state.ctx, None, keys=list(node))
            if plan is not None:
                state.plans[path] = plan
                return True
        below = False
        for key, child in node.items():
            if isinstance(child, (list, dict)) and _walk(child, (*path, key), state):
                below = True
        return below
    return False


def _table_replacements(state: _Walk) -> dict[tuple[Any, ...], _Replacement]:
    out: dict[tuple[Any, ...], _Replacement] = {}
    for path, (items, table) in state.tables.items():
        rendered = _render_table(items, table, is_root=(path == ()))
        raw_size = len(dumpb(items))
        size = len(rendered.text) if rendered.text is not None else len(dumpb(rendered.value))
        if size < 0.9 * raw_size:
            out[path] = rendered
    return out


class SmartCrusher:
    """Compressor for JSON tool outputs (see the module docstring and docs/compressors/json.md)."""

    name: ClassVar[str] = "smart_crusher"

    def compress(self, text: str, ctx: CompressContext) -> Compressed | None:
        try:
            return crush(text, ctx)
        except (RecursionError, orjson.JSONEncodeError, ValueError, UnicodeError, OverflowError):
            # The errors odd content is expected to cause (nesting deeper than orjson writes,
            # numbers and text it cannot parse): passed through. Anything else is a bug and
            # reaches the pipeline's guard, which logs it and passes the text through.
            return None


def crush(text: str, ctx: CompressContext) -> Compressed | None:
    """The crusher itself (raises on internal errors; `SmartCrusher.compress` does not)."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        doc = loads(text)
    except (orjson.JSONDecodeError, UnicodeEncodeError):
        return None  # malformed JSON is text; another compressor may take it
    if not isinstance(doc, (list, dict)):
        return None
    # Extreme numbers (1e308 next to 0) overflow in the statistics; inf/nan results are
    # handled where they are used, so numpy's warnings would only be noise.
    with np.errstate(all="ignore"):
        out = _crush_document(text, doc, ctx)
    if out is None:
        return None
    # The router may cut a JSON block out of a log; its surrounding whitespace (the line
    # breaks that separate it from the next segment) must survive.
    stripped = text.strip()
    if len(stripped) == len(text):
        return out
    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()) :]
    return Compressed(lead + out.text + trail, out.ccr_keys, out.summary)


def _has_duplicate_keys(text: str) -> bool:
    """True if some object repeats a key. Only the lossless path needs this (the lossy path
    stashes the original); the stdlib parser is slower than orjson but sees every pair."""
    found = False

    def check(pairs: list[tuple[str, Any]]) -> None:
        nonlocal found
        if not found and len(pairs) > 1 and len({k for k, _ in pairs}) != len(pairs):
            found = True

    try:
        json.loads(text, object_pairs_hook=check)
    except (ValueError, RecursionError):
        return True  # cannot verify: treat as unsafe to rewrite
    return found


class _LazyTokens:
    """`_estimate_tokens(text, ctx)`, made the first time a decision needs it: a large
    document whose lossless form is over `lossless_max_tokens` and has no long text to cut
    never compares against its own size, so its count (a sampled encode) is never made."""

    __slots__ = ("_ctx", "_text", "_value")

    def __init__(self, text: str, ctx: CompressContext) -> None:
        self._text = text
        self._ctx = ctx
        self._value: int | None = None

    @property
    def value(self) -> int:
        if self._value is None:
            self._value = _estimate_tokens(self._text, self._ctx)
        return self._value


def _crush_document(text: str, doc: Any, ctx: CompressContext) -> Compressed | None:
    cfg = ctx.config.json
    original = _LazyTokens(text, ctx)

    lossless_state = _Walk(ctx, lossy=False)
    _walk(doc, (), lossless_state)
    lossless_replacements = _table_replacements(lossless_state)
    lossless = _assemble(doc, lossless_replacements)
    lossless_tokens = _LazyTokens(lossless, ctx)
    n_tables = len(lossless_replacements)
    lossless_summary = f"lossless: {n_tables} table(s), minified" if n_tables else "lossless: minified"

    def lossless_result() -> Compressed | None:
        # Lengths first: the counts are needed only when the lossless form is not shorter.
        if len(lossless) >= len(text) and lossless_tokens.value >= original.value:
            return None
        if _has_duplicate_keys(text):
            return None  # orjson kept only the last value; a rewrite would lose the others unseen
        return Compressed(lossless, (), lossless_summary)

    cap = cfg.lossless_max_tokens
    if not ctx.can_drop:
        return lossless_result()
    fits = cap is None or lossless_tokens.value <= cap
    if fits and lossless_tokens.value <= cfg.target_ratio * original.value:
        return lossless_result()

    state = _Walk(ctx, lossy=True, table_cache=lossless_state.table_cache)
    _walk(doc, (), state)
    if not state.plans:
        return lossless_result()
    other_tables = _table_replacements(state)
    limit = max(8, cfg.truncate_chars)

    def render(modes: dict[tuple[Any, ...], str], key: str) -> tuple[str, str]:
        replacements = dict(other_tables)
        summaries = []
        for path, plan in state.plans.items():
            plan.mode = modes.get(path, "select")
            if len(plan.keep) == len(plan.items):
                plan.mode = "cut"  # nothing to drop: the plan exists for its long text
            if plan.mode == "cut":
                cut = sum(
                    1
                    for i in range(len(plan.items))
                    if i not in plan.important and plan.cut_item(i, limit)[1]
                )
                head = (
                    f"long text cut to {limit} characters in {cut:,} of {len(plan.items):,} items, "
                    "every item kept"
                )
            else:
                head = plan.head
                cut = sum(1 for i in plan.keep if i not in plan.important and plan.cut_item(i, limit)[1])
                if cut:
                    head += f"; long text cut to {limit} characters in {cut} shown items"
            description = "; ".join([head, *plan.stats])
            summaries.append(description)
            marker = ctx.marker(description, key)
            replacements[path] = _render_plan(plan, marker, limit, is_root=(path == ()))
        return _assemble(doc, replacements), " | ".join(summaries)

    # The candidates are sized with a stand-in key of the real length; the key in the
    # output is the one storing returns (the store may hold the caller's exact bytes, for
    # example text with terminal colour codes, under a key of its own).
    stand_in = "0" * _ccr.KEY_LENGTH
    modes: dict[tuple[Any, ...], str] = {}
    tokens = -1
    cut_paths = {path: "cut" for path, plan in state.plans.items() if plan.long_text}
    if cut_paths:
        cut_tokens = _estimate_tokens(render(cut_paths, stand_in)[0], ctx)
        if cut_tokens <= cfg.target_ratio * original.value:
            modes, tokens = cut_paths, cut_tokens
    if tokens < 0:
        tokens = _estimate_tokens(render({}, stand_in)[0], ctx)
    if tokens >= lossless_tokens.value:
        return lossless_result()
    key = ctx.stash(text, "json", paths=[list(path) for path in state.plans])
    out_text, summary = render(modes, key)
    return Compressed(out_text, (key,), summary)
