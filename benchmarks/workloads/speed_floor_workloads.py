"""Where the time of the slowest kinds goes (issue 11 §3): `compress()` split into stages,
each as a multiple of one tiktoken encode of the same input.

The speed goal is a whole `compress()` within 3x one encode. `compress()` must count its
input (one encode) and its output, so the rest has about 1.5-2 encodes to spend. This
report times the stages that cannot be skipped (tokenizer calls, kind detection, the
tree-sitter parse, splitting into units, term extraction, selection) by wrapping them
during real `compress()` calls, so the table shows which floors sit above the goal.
No workload rows: the table is an extra report of `make bench`.
"""

from __future__ import annotations

import inspect
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from benchmarks._harness import Workload
from headroom_core._messages import message_text

REPEATS = 5


def workloads() -> list[Workload]:
    return []


class _Stages:
    """Seconds spent inside each wrapped callable during one `compress()`; a call nested
    in another wrapped call is counted in both (only the outermost stages add up)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

        return timed


@contextmanager
def _patched(stages: _Stages, targets: list[tuple[str, Any, str]]) -> Iterator[None]:
    with ExitStack() as stack:
        for name, owner, attribute in targets:
            static = inspect.getattr_static(owner, attribute)
            own = attribute in vars(owner)
            timed = stages.wrap(name, getattr(owner, attribute))
            setattr(owner, attribute, staticmethod(timed) if isinstance(static, staticmethod) else timed)
            if own:  # a module's or a class's own attribute
                stack.callback(setattr, owner, attribute, static)
            else:  # a method of the object's class, shadowed on the object
                stack.callback(delattr, owner, attribute)
        yield


def _targets(kind: str) -> list[tuple[str, Any, str]]:
    from headroom_core import _language, _pipeline, _relevance
    from headroom_core._tokenizer import get_encoding
    from headroom_core.compressors import _treesitter, code_compressor, prose

    encoding = get_encoding("o200k_base")
    common = [
        ("tokenizer calls (input and output counts)", encoding, "encode_ordinary"),
        ("kind detection (router)", _pipeline, "route"),
    ]
    if kind == "prose":
        return [
            *common,
            ("blocks and mode", prose, "split_blocks"),
            ("blocks and mode", prose, "_is_prose"),
            ("sentences (units)", prose.ProseCompressor, "_units"),
            ("terms of every unit", prose, "terms"),
            ("scores (BM25, salience)", prose, "_scores"),
            ("selection (MMR)", prose, "_select"),
            ("rendering", prose.ProseCompressor, "_render"),
        ]
    return [
        *common,
        ("language detection (router's parse)", _language, "detect_language"),
        ("tree-sitter parses", _treesitter, "parse"),
        ("node queries", _treesitter, "capture"),
        ("terms (relevance)", _relevance, "terms"),
        ("outline planning and relevance", code_compressor, "_outline"),
    ]


def _inputs() -> list[tuple[str, str, Workload]]:
    """(label, compressor, workload): the benchmark's own large prose and code rows, so the
    table explains exactly those rows' ratios."""
    from benchmarks.workloads import code_workloads, text_workloads

    def named(workloads: list[Workload], prefix: str) -> Workload:
        return next(w for w in workloads if w.name.startswith(prefix))

    return [
        (
            "prose: Python language reference (pydoc topics)",
            "prose",
            named(text_workloads.large_workloads(), "Python language reference"),
        ),
        ("code: _pydecimal.py", "code", named(code_workloads.large_workloads(), "code: _pydecimal.py")),
    ]


def stage_table() -> list[dict[str, Any]]:
    from headroom_core import HeadroomConfig, MemoryCCRStore, compress
    from headroom_core._tokenizer import get_encoding

    encoding = get_encoding("o200k_base")
    rows = []
    for label, kind, workload in _inputs():
        # The harness's baseline: one encode of the conversation's text.
        text = "\n".join(message_text(m) for m in workload.messages)
        encode_s = statistics.median(
            _timed(lambda t=text: encoding.encode_ordinary(t)) for _ in range(REPEATS)
        )
        runs: list[tuple[float, dict[str, float]]] = []
        for _ in range(REPEATS + 1):
            stages = _Stages()
            config = HeadroomConfig(ccr_store=MemoryCCRStore())
            with _patched(stages, _targets(kind)):
                start = time.perf_counter()
                result = compress(workload.messages, workload.model, query=workload.query, config=config)
                total = time.perf_counter() - start
            if not any(t.compressor == kind for t in result.transforms_applied):
                raise RuntimeError(f"{label}: the {kind} compressor did not run: {result.transforms_applied}")
            runs.append((total, stages.seconds))
        runs = sorted(runs[1:], key=lambda r: r[0])  # the first run warms caches
        total, seconds = runs[len(runs) // 2]
        rows.append(
            {
                "input": label,
                "encode_ms": encode_s * 1e3,
                "compress_x": total / encode_s,
                "stages": {name: s / encode_s for name, s in seconds.items()},
            }
        )
    return rows


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def extra_reports() -> list[str]:
    lines = [
        "### Where the time goes (issue 11 §3, goal: compress within 3x one encode)",
        "",
        "One `compress()` (the median of 5 cold calls) with its stages timed in place, each as a"
        " multiple of one `encode_ordinary` of the input. Stages can nest (the router's language"
        " detection is inside kind detection, and parses inside planning), so they do not sum.",
        "",
        "| input | one encode ms | compress | stage | x encode |",
        "| --- | ---: | ---: | --- | ---: |",
    ]
    for row in stage_table():
        first = True
        for name, x in sorted(row["stages"].items(), key=lambda kv: -kv[1]):
            head = (
                f"| {row['input']} | {row['encode_ms']:.1f} | {row['compress_x']:.2f}x" if first else "| | |"
            )
            lines.append(f"{head} | {name} | {x:.2f}x |")
            first = False
    return lines
