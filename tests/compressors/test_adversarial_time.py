"""Time grows about linearly with input size on every route, on adversarial text (issue 12).

For each route, the same adversarial shapes (unclosed brackets, long unbroken lines, huge
single words, deep nesting, repeated separators and quotes, endless `key=` runs; see
`benchmarks/workloads/adversarial_workloads.py`) go through `compress_text` at 10 KB,
100 KB and 1 MB. A route is forced by replacing the pipeline's router for that call, so
each compressor sees the text whatever the router would have said; the router itself is
also run on each shape alone.

The check is a ratio, never an absolute time: between two sizes ten times apart, time may
grow by at most `_SLACK` x 10 (a quadratic path grows 100x). Times below `_FLOOR` seconds
count as `_FLOOR` (noise), and a failing ratio is measured again, keeping the fastest run.
"""

from __future__ import annotations

import time
from unittest import mock

import pytest

import headroom_core._pipeline as pipeline
from benchmarks.workloads.adversarial_workloads import GENERATORS
from headroom_core import HeadroomConfig, MemoryCCRStore, compress_text
from headroom_core._router import KINDS, Segment

pytestmark = pytest.mark.slow

SIZES = (10_000, 100_000, 1_000_000)
_SLACK = 3.0
_FLOOR = 0.02
_RETRIES = 2
ROUTES = [k for k in KINDS if k != "text"]


def _mixed(size: int) -> str:
    """Every adversarial shape in one text, each about size / (number of shapes) long."""
    part = size // len(GENERATORS)
    return "\n".join(make(part) for make in GENERATORS.values())


# Shapes made of short lines only: a compressor that declines texts with a very long line
# (code, for one) must still be measured on something it works on.
_LINE_SHAPES = (
    "unclosed_brackets",
    "repeated_separators",
    "long_word_lines",
    "bracket_lines",
    "continued_field",
)


def _lines_only(size: int) -> str:
    part = size // len(_LINE_SHAPES)
    return "\n".join(GENERATORS[name](part) for name in _LINE_SHAPES)


def _run(text: str, kind: str | None) -> float:
    config = HeadroomConfig(ccr_store=MemoryCCRStore())
    start = time.perf_counter()
    if kind is None:
        compress_text(text, config=config, query="which value failed")
    else:
        language = "python" if kind == "code" else None

        def forced(t, hints=None):
            return [Segment(kind, t, language)]

        with mock.patch.object(pipeline, "route", forced):
            compress_text(text, config=config, query="which value failed")
    return time.perf_counter() - start


def _assert_linear(make, kind: str | None) -> None:
    texts = [make(size) for size in SIZES]
    _run(texts[0], kind)  # warm-up: grammars, tokenizer, imports
    times = [_run(t, kind) for t in texts]
    for i in range(1, len(SIZES)):
        allowed = _SLACK * len(texts[i]) / len(texts[i - 1])
        for _ in range(_RETRIES):
            if max(times[i], _FLOOR) / max(times[i - 1], _FLOOR) <= allowed:
                break
            times[i - 1] = min(times[i - 1], _run(texts[i - 1], kind))
            times[i] = min(times[i], _run(texts[i], kind))
        ratio = max(times[i], _FLOOR) / max(times[i - 1], _FLOOR)
        sizes = f"{len(texts[i - 1]):,} -> {len(texts[i]):,} chars"
        assert ratio <= allowed, f"route {kind or 'router'}: {sizes}: time x{ratio:.1f} ({times})"


@pytest.mark.parametrize("kind", ROUTES)
@pytest.mark.parametrize("make", [_mixed, _lines_only], ids=["mixed", "lines_only"])
def test_every_route_is_linear_on_adversarial_text(kind, make):
    _assert_linear(make, kind)


@pytest.mark.parametrize("shape", sorted(GENERATORS))
def test_router_is_linear_on_each_adversarial_shape(shape):
    _assert_linear(GENERATORS[shape], None)
