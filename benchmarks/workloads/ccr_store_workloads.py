"""The disk CCR store: what storing and fetching a large original costs (issue 12).

No compression workloads; `extra_reports()` times, on a fresh `DiskCCRStore` in a temp
directory, a first store, a re-issued marker (expiry refresh) and an integrity-checked read
of a ~2 MB, 180k-line JSON original, and checks that with a 1 MiB limit and ~190 KB records
the last four turns' keys all resolve.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import orjson

from benchmarks._harness import Workload
from headroom_core import CCRKeyNotFoundError, DiskCCRStore, _ccr, retrieve

_RUNS = 7


def workloads() -> list[Workload]:
    return []


def _median_ms(fn) -> float:
    times = []
    for i in range(_RUNS):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def extra_reports() -> list[str]:
    doc = orjson.dumps(
        [{"id": i, "name": f"item {i}", "tags": ["a", "b"], "v": i * 3} for i in range(20_000)],
        option=orjson.OPT_INDENT_2,
    ).decode()
    with tempfile.TemporaryDirectory() as tmp:
        store = DiskCCRStore(Path(tmp) / "ccr")
        store.get("00" * 12)  # open the database outside the timings
        texts = [f"{doc}\n{i}" for i in range(_RUNS)]
        first = _median_ms(lambda i: _ccr.stash(store, texts[i], "json"))
        again = _median_ms(lambda i: _ccr.stash(store, texts[i], "json"))
        read = _median_ms(lambda i: retrieve(_ccr.content_key(texts[i]), store=store))
        store.close()

        small = DiskCCRStore(Path(tmp) / "small", size_limit_bytes=1 << 20)
        keys = [_ccr.stash(small, f"turn {t}\n" + "r" * 190_000, "text") for t in range(12)]
        alive = 0
        for key in keys[-4:]:
            try:
                retrieve(key, store=small)
                alive += 1
            except CCRKeyNotFoundError:
                pass
        small.close()
    mb = len(doc) / 1e6
    return [
        "### CCR disk store",
        "",
        f"| operation on a {mb:.1f} MB, {doc.count(chr(10)):,}-line original | median ms |",
        "| --- | ---: |",
        f"| first store | {first:.1f} |",
        f"| re-issued marker (expiry refresh) | {again:.1f} |",
        f"| integrity-checked read | {read:.1f} |",
        f"| 1 MiB limit, 190 KB records: last 4 turns' keys resolving | {alive}/4 |",
    ]
