"""LLMLingua-2 (issue 18): tokens saved and CPU throughput on the prose workloads.

With a real LLMLingua-2 model in the local Hugging Face cache (or a directory named by
`$HEADROOM_LLMLINGUA_MODEL`), the prose workloads of `text_workloads` run again with
`TextConfig(ml="llmlingua2")`; the needles are identifiers, which LLMLingua-2 must keep.
Without one, those rows are skipped with a line saying so. Either way one line reports
the cost of the plumbing (chunking, tokenizing, word merging, CCR) on a tiny randomly
initialised BERT built on the spot: its savings and speed say nothing about LLMLingua-2's
quality or about the speed of the real BERT-base-size model.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import textwrap
import time
from importlib import util
from pathlib import Path

from benchmarks._harness import Workload, tool_conversation
from headroom_core import HeadroomConfig, MemoryCCRStore, TextConfig, get_tokenizer
from headroom_core._config import LLMLINGUA2_DEFAULT_MODEL

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
_REPEATS = 3


def _real_model() -> str | None:
    """A real LLMLingua-2 model available without network, or None."""
    named = os.environ.get("HEADROOM_LLMLINGUA_MODEL")
    if named:
        return named if Path(named).expanduser().is_dir() else None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(LLMLINGUA2_DEFAULT_MODEL, "config.json")
    return LLMLINGUA2_DEFAULT_MODEL if isinstance(found, str) else None


def _config(model: str, rate: float = 0.4) -> HeadroomConfig:
    return HeadroomConfig(
        text=TextConfig(ml="llmlingua2", ml_model=model, ml_rate=rate, ml_timeout_seconds=600)
    )


def _prose() -> list[tuple[str, str, str, str, list[str]]]:
    """(name, question, text, source, needles) of the prose workloads."""
    import argparse
    import json
    import logging
    import subprocess
    import urllib.request

    tutorial = (FIXTURES / "pydocs3.11_tutorial_classes.rst.txt").read_text(encoding="utf-8")
    chunks = [
        textwrap.dedent(m.__doc__ or "").strip()
        for m in (argparse, subprocess, logging, json, urllib.request)
    ]
    retrieved = "\n\n".join(f"[chunk {i}]\n{c}" for i, c in enumerate(chunks, 1))
    return [
        (
            "Python tutorial 'Classes' (reST), LLMLingua-2",
            "How do private variables and name mangling work in Python classes?",
            tutorial,
            "real: pydocs3.11_tutorial_classes.rst.txt",
            ["_classname__spam", "__update", "__init__"],
        ),
        (
            "retrieved chunks: stdlib module docstrings, LLMLingua-2",
            "How do I run a command and capture its output with subprocess?",
            retrieved,
            "real: CPython standard-library docstrings (the running interpreter's)",
            ["check_output(...)", "run(...)", "CompletedProcess"],
        ),
    ]


def workloads() -> list[Workload]:
    model = _real_model()
    if model is None:
        return []
    return [
        Workload(
            issue=18,
            name=name,
            messages=tool_conversation(question, "read_file", text, {"path": "doc"}),
            target_saved=0.4,
            needles=needles,
            query=question,
            source=source,
            config=_config(model),
        )
        for name, question, text, source, needles in _prose()
    ]


def _throughput(model: str, label: str) -> str:
    """One line: tokens saved and tokens/s of the compressor alone on the prose texts."""
    from headroom_core.compressors import CompressContext
    from headroom_core.compressors.llmlingua import LLMLinguaCompressor, load_classifier

    load_classifier(model)  # loading is a one-off cost, not throughput
    tokenizer = get_tokenizer("gpt-4o")
    before = after = 0
    seconds = 0.0
    for _, question, text, _, _ in _prose():
        config = _config(model).with_(ccr_store=MemoryCCRStore())
        ctx = CompressContext(config=config, tokenizer=tokenizer, store=config.ccr_store, query=question)
        times = []
        out = None
        for _ in range(_REPEATS):
            start = time.perf_counter()
            out = LLMLinguaCompressor().compress(text, ctx)
            times.append(time.perf_counter() - start)
        seconds += statistics.median(times)
        before += tokenizer.count(text)
        after += tokenizer.count(out.text) if out is not None else tokenizer.count(text)
    return (
        f"LLMLingua-2, {label}: {before:,} -> {after:,} tokens ({1 - after / before:.1%} saved at "
        f"ml_rate 0.4), {before / seconds:,.0f} input tokens/s on CPU ({os.cpu_count()} cores), "
        "median of 3 warm calls per text."
    )


def extra_reports() -> list[str]:
    lines = []
    model = _real_model()
    if model is None:
        lines.append(
            "LLMLingua-2 (issue 18): real-model rows skipped, no LLMLingua-2 model in the local "
            f"Hugging Face cache (`huggingface-cli download {LLMLINGUA2_DEFAULT_MODEL}`, or set "
            "$HEADROOM_LLMLINGUA_MODEL to a model directory)."
        )
    else:
        lines.append(_throughput(model, f"real model {model}"))
    try:
        helper = ROOT / "tests" / "compressors" / "llmlingua_tiny.py"
        spec = util.spec_from_file_location("llmlingua_tiny", helper)
        assert spec is not None and spec.loader is not None
        module = util.module_from_spec(spec)
        spec.loader.exec_module(module)
        with tempfile.TemporaryDirectory() as tmp:
            tiny = str(module.build_tiny_model(Path(tmp) / "tiny", max_positions=512))
            lines.append(
                _throughput(
                    tiny, "TINY RANDOM BERT (2 layers, width 32; plumbing cost only, not the real model)"
                )
            )
    except ImportError as exc:
        lines.append(f"LLMLingua-2 tiny-model line skipped: the llmlingua extra is not installed ({exc}).")
    return lines
