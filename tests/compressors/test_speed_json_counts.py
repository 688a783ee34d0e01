"""The JSON crusher counts tokens only where a decision needs them, and shares counts with
the pipeline; its output is exactly what the plain rule gives.

The plain rule (restated here): every candidate is sized up front with the crusher's
estimate (exact up to 12,000 characters, else three 4,000-character windows scaled by
length), outside any `counting_scope`. The crusher instead sizes the original and its
lossless form only when a comparison reads them, and reuses the count the pipeline made
of the original. Both are run on real JSON (fixtures, corpus, the benchmark's agent and
cache sessions) under configurations that reach every branch."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest

from headroom_core._counting import counting_scope
from headroom_core.compressors._base import CompressContext, Compressed
from headroom_core.compressors.json import _crusher, crush
from headroom_core.compressors.json._numbers import loads
from tests.support import make_ctx

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

# --------------------------------------------------------------------------- the plain rule


def plain_estimate(text: str, ctx: CompressContext) -> int:
    window = 4000
    if len(text) <= 3 * window:
        return ctx.tokenizer.count(text)
    middle = len(text) // 2 - window // 2
    sample = text[:window] + text[middle : middle + window] + text[-window:]
    return round(ctx.tokenizer.count(sample) * len(text) / len(sample))


class EagerTokens(_crusher._LazyTokens):
    """Counted when made, whether or not a decision reads it."""

    def __init__(self, text: str, ctx: CompressContext) -> None:
        super().__init__(text, ctx)
        self._value = plain_estimate(text, ctx)


@contextmanager
def plain_rule() -> Iterator[None]:
    lazy, estimate = _crusher._LazyTokens, _crusher._estimate_tokens
    _crusher._LazyTokens, _crusher._estimate_tokens = EagerTokens, plain_estimate  # type: ignore[misc]
    try:
        yield
    finally:
        _crusher._LazyTokens, _crusher._estimate_tokens = lazy, estimate  # type: ignore[misc]


def as_pipeline(text: str, ctx: CompressContext) -> Compressed | None:
    """The crusher as `compress()` runs it: the original's exact count already known."""
    memo = {text: ctx.tokenizer.count(text)}
    with counting_scope(memo):
        return crush(text, ctx)


# --------------------------------------------------------------------------- documents


def session_outputs() -> list[str]:
    """JSON tool outputs of the benchmark's agent session and cache session."""
    from benchmarks.workloads.cache_workloads import session
    from benchmarks.workloads.context_workloads import agent_session

    messages, _ = agent_session(200)
    out = []
    for message in [*messages, *session()]:
        content = message.get("content")
        if message.get("role") == "tool" and isinstance(content, str) and content.lstrip()[:1] in "[{":
            out.append(content)
    return out


def documents() -> list[tuple[str, str]]:
    docs = []
    paths = sorted(FIXTURES.glob("*.json"))
    for path in paths:
        docs.append((path.name, path.read_text(encoding="utf-8", errors="replace")))
    for i, text in enumerate(session_outputs()):
        docs.append((f"session-{i}", text))
    long_text = [{"id": i, "body": f"entry {i} " + "lorem ipsum dolor " * 30} for i in range(40)]
    docs.append(("long-text", orjson.dumps(long_text, option=orjson.OPT_INDENT_2).decode()))
    small_table = [{"id": i, "name": f"n{i}", "ok": True} for i in range(30)]
    docs.append(("small-table", orjson.dumps(small_table, option=orjson.OPT_INDENT_2).decode()))
    docs.append(("minified", orjson.dumps(small_table).decode()))
    return docs


DOCUMENTS = documents()
CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "no-cap": {"json": {"lossless_max_tokens": None}},
    "tight": {"json": {"target_ratio": 0.05, "lossless_max_tokens": 100}},
    "loose": {"json": {"target_ratio": 0.9}},
    "claude": {"model": "claude-sonnet-4"},
}


def make(config: str, store: bool) -> CompressContext:
    options = dict(CONFIGS[config])
    model = options.pop("model", None)
    kwargs: dict[str, Any] = {} if model is None else {"model": model}
    if not store:
        return make_ctx(None, **kwargs, **options)
    return make_ctx(**kwargs, **options)


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_same_output_as_plain_rule(config: str) -> None:
    assert len(DOCUMENTS) > 50
    for name, text in DOCUMENTS:
        for store in (True, False):
            fast = as_pipeline(text, make(config, store))
            with plain_rule():
                plain = crush(text, make(config, store))
            assert fast == plain, (name, config, store)


def test_short_original_is_not_encoded_again() -> None:
    """Inside `compress()`, the original's count comes from the pipeline's memo."""
    text = next(text for name, text in DOCUMENTS if name == "session-0")
    assert len(text) <= 12_000
    seen: list[str] = []
    counter = make_ctx().tokenizer

    class Recording(type(counter)):  # type: ignore[misc]
        def count(self, value: str) -> int:
            seen.append(value)
            return super().count(value)

    recording = Recording(counter.model, counter.encoding_name, counter.factor, counter.approximate)
    ctx = dataclasses.replace(make_ctx(), tokenizer=recording)
    memo = {text: counter.count(text)}
    with counting_scope(memo):
        crush(text, ctx)
    assert text not in seen
    assert seen  # the candidates themselves are still counted


def test_large_document_over_the_cap_skips_its_own_count() -> None:
    """A document whose lossless form is over `lossless_max_tokens` and has no long text
    never compares against its own size."""
    text = (FIXTURES / "npm_view_typescript_time.json").read_text(encoding="utf-8")
    assert isinstance(loads(text), dict)
    sized: list[int] = []
    estimate = _crusher._estimate_tokens

    def recording(value: str, ctx: CompressContext) -> int:
        sized.append(len(value))
        return estimate(value, ctx)

    _crusher._estimate_tokens = recording  # type: ignore[assignment]
    try:
        out = crush(text, make_ctx())
    finally:
        _crusher._estimate_tokens = estimate
    assert out is not None and out.ccr_keys
    assert len(text) not in sized


@pytest.mark.parametrize("config", ["default", "claude"])
def test_every_count_read_is_the_plain_estimate(config: str) -> None:
    """Decisions have margins, so equal output alone could hide a count that is off by a
    little: every count the crusher reads (shared with the pipeline or made lazily) must
    be the plain rule's estimate of the same text."""
    read: list[tuple[str, int]] = []
    estimate = _crusher._estimate_tokens

    def recording(value: str, ctx: CompressContext) -> int:
        n = estimate(value, ctx)
        read.append((value, n))
        return n

    _crusher._estimate_tokens = recording  # type: ignore[assignment]
    try:
        for _, text in DOCUMENTS:
            read.clear()
            ctx = make(config, True)
            as_pipeline(text, ctx)
            for value, n in read:
                assert n == plain_estimate(value, ctx)
    finally:
        _crusher._estimate_tokens = estimate
