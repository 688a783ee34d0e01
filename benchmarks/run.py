"""`make bench`: run every workload in benchmarks/workloads/ and print (or write) the table.

python -m benchmarks.run                 # print
python -m benchmarks.run --write benchmarks/RESULTS.md
python -m benchmarks.run --only json     # workload modules whose name contains 'json'
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import platform
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from rich.console import Console
from rich.table import Table

from benchmarks import workloads as workloads_pkg
from benchmarks._harness import Row, run_workload


def _modules(only: str | None) -> list:
    names = sorted(m.name for m in pkgutil.iter_modules(workloads_pkg.__path__) if not m.name.startswith("_"))
    if only:
        names = [n for n in names if only in n]
    return [importlib.import_module(f"benchmarks.workloads.{n}") for n in names]


def _markdown(rows: list[Row], extras: list[str], seconds: float) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Produced by `make bench` (`python -m benchmarks.run --write benchmarks/RESULTS.md`) on "
        f"{platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} cores; "
        f"whole run {seconds:.0f} s. Model gpt-4o (o200k_base) unless a workload names another. Times are medians of 3 cold calls "
        "(fresh CCR store each); *tiktoken* is one `encode_ordinary` of the same input, measured in "
        "the same run as the baseline. *kept*: needles present in the compressed messages; "
        "*retrievable*: kept or inside an original behind the result's CCR keys.",
        "",
        "| issue | workload | source | tokens before | after | saved | target | kept | retrievable "
        "| compress ms | tiktoken ms | ratio | ms/MB | pass |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        # Image workloads have almost no text: a text baseline would be meaningless there.
        text_sized = r.tiktoken_ms >= 0.1 and r.input_mb >= 0.005
        ratio = f"{r.compress_ms / r.tiktoken_ms:.2f}x" if text_sized else "n/a"
        per_mb = f"{r.compress_ms / r.input_mb:.0f}" if text_sized else "n/a"
        note = "yes" if r.passed else f"NO{': ' + r.check_error if r.check_error else ''}"
        lines.append(
            f"| {r.issue} | {r.name} | {r.source} | {r.tokens_before:,} | {r.tokens_after:,} | "
            f"{r.saved:.1%} | {r.target:.0%} | {r.kept}/{r.needles} | {r.retrievable}/{r.needles} | "
            f"{r.compress_ms:.1f} | {r.tiktoken_ms:.1f} | {ratio} | {per_mb} | {note} |"
        )
    if extras:
        lines += ["", *extras]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--write", help="also write the Markdown table to this file")
    parser.add_argument("--only", help="run only workload modules whose name contains this")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    console = Console(width=160)
    start = time.perf_counter()
    rows: list[Row] = []
    extras: list[str] = []
    for module in _modules(args.only):
        for w in module.workloads():
            console.print(f"[dim]running {w.name}...[/dim]")
            rows.append(run_workload(w, repeats=args.repeats))
        if hasattr(module, "extra_reports"):
            extras.extend(module.extra_reports())
    seconds = time.perf_counter() - start

    table = Table(title="Headroom benchmarks (gpt-4o)")
    for col in (
        "issue",
        "workload",
        "before",
        "after",
        "saved",
        "target",
        "kept",
        "retr.",
        "ms",
        "tiktoken ms",
        "ratio",
        "pass",
    ):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r.issue),
            r.name,
            f"{r.tokens_before:,}",
            f"{r.tokens_after:,}",
            f"{r.saved:.1%}",
            f"{r.target:.0%}",
            f"{r.kept}/{r.needles}",
            f"{r.retrievable}/{r.needles}",
            f"{r.compress_ms:.1f}",
            f"{r.tiktoken_ms:.1f}",
            f"{r.compress_ms / r.tiktoken_ms:.1f}x"
            if r.tiktoken_ms >= 0.1 and r.input_mb >= 0.005
            else "n/a",
            "[green]yes[/green]" if r.passed else f"[red]NO {r.check_error or ''}[/red]",
        )
    console.print(table)
    for line in extras:
        console.print(line)
    if args.write:
        with open(args.write, "w", encoding="utf-8") as fh:
            fh.write(_markdown(rows, extras, seconds))
        console.print(f"wrote {args.write}")
    return 0 if all(r.passed for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
