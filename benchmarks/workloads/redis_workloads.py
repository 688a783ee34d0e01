"""CCR store latency: Redis (issue 17) against the disk store, for 1 KB, 100 KB and 5 MB originals.

No compression workloads; `extra_reports()` starts its own redis-server on a free loopback
port (persistence off, like the tests) and times `stash` (a new record: encode, compress
above 64 KiB, SET ... PX) and `retrieve` (GET, inflate, integrity check) for distinct
originals of each size, p50 and p99, next to a fresh `DiskCCRStore` in a temp directory.
Without redis-server the report says so and shows the disk store alone.
"""

from __future__ import annotations

import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks._harness import Workload
from headroom_core import DiskCCRStore, _ccr, retrieve

_SIZES = ((1_000, "1 KB", 200), (100_000, "100 KB", 100), (5_000_000, "5 MB", 20))


def workloads() -> list[Workload]:
    return []


def _original(size: int, i: int) -> str:
    """A log-like original of about `size` bytes, distinct for each `i`."""
    line = (
        f"2026-11-29T10:00:{i % 60:02d}Z INFO worker-{i} handled request id={{n}} in {{ms}} ms status=200\n"
    )
    out, n = [], 0
    while n < size:
        text = line.format(n=len(out) * 7919 + i, ms=len(out) % 97)
        out.append(text)
        n += len(text)
    return "".join(out)[:size]


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99


def _time(fn: Callable[[int], object], runs: int) -> list[float]:
    times = []
    for i in range(runs):
        start = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - start) * 1000)
    return times


def _measure(
    store: object, size: int, runs: int, salt: str
) -> tuple[tuple[float, float], tuple[float, float]]:
    texts = [f"{salt} {i}\n" + _original(size, i) for i in range(runs)]
    keys: list[str] = []
    stored = _time(lambda i: keys.append(_ccr.stash(store, texts[i], "log")), runs)
    read = _time(lambda i: retrieve(keys[i], store=store), runs)
    return _percentiles(stored), _percentiles(read)


def _start_redis(workdir: str) -> tuple[subprocess.Popen[bytes], int] | None:
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    args += ["--dir", workdir, "--loglevel", "warning"]
    proc = subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return proc, port
        except OSError:
            time.sleep(0.05)
    proc.terminate()
    proc.wait(timeout=10)
    return None


def extra_reports() -> list[str]:
    lines = [
        "### CCR store latency: Redis vs disk",
        "",
        "`stash` of a new original and integrity-checked `retrieve` of it, milliseconds, on this "
        "machine (local redis-server over loopback TCP, persistence off; disk store on the local "
        "file system). Distinct log-like originals per run; p99 of 20 runs is their slowest.",
        "",
        "| original | runs | Redis store p50 | p99 | Redis retrieve p50 | p99 "
        "| disk store p50 | p99 | disk retrieve p50 | p99 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        started = _start_redis(tmp)
        redis_store = None
        if started is not None:
            from headroom_core._ccr._redis import RedisCCRStore

            redis_store = RedisCCRStore(f"redis://127.0.0.1:{started[1]}/0")
            redis_store.check()
        disk = DiskCCRStore(Path(tmp) / "ccr")
        disk.get("00" * 12)  # open the database outside the timings
        try:
            for size, label, runs in _SIZES:
                d_store, d_read = _measure(disk, size, runs, "disk")
                if redis_store is not None:
                    r_store, r_read = _measure(redis_store, size, runs, "redis")
                    redis_cells = f"{r_store[0]:.2f} | {r_store[1]:.2f} | {r_read[0]:.2f} | {r_read[1]:.2f}"
                else:
                    redis_cells = "n/a | n/a | n/a | n/a"
                lines.append(
                    f"| {label} | {runs} | {redis_cells} | {d_store[0]:.2f} | {d_store[1]:.2f} "
                    f"| {d_read[0]:.2f} | {d_read[1]:.2f} |"
                )
        finally:
            disk.close()
            if redis_store is not None:
                redis_store.close()
            if started is not None:
                started[0].terminate()
                started[0].wait(timeout=10)
    if started is None:
        lines += ["", "redis-server is not installed here: only the disk store was measured."]
    else:
        lines += [
            "",
            f"Redis values above 64 KiB are compressed ({redis_store.codec if redis_store else 'n/a'}) "
            "before they are sent; the per-record budget is 16 MiB (uncompressed).",
        ]
    return lines
