"""The real third-party texts of tests/fixtures (origins in its CORPUS_README.md; the
shared corpus is among them), for the equivalence tests of speed shortcuts."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def fixture_texts(max_bytes: int = 5_000_000) -> list[tuple[str, str]]:
    """(name, text) of every UTF-8 file under tests/fixtures up to `max_bytes`, sorted by path."""
    texts = []
    for path in sorted(FIXTURES.rglob("*")):
        if not path.is_file() or path.stat().st_size > max_bytes:
            continue
        try:
            texts.append((path.name, path.read_text("utf-8")))
        except (UnicodeDecodeError, OSError):
            continue
    return texts
