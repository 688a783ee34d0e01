"""Small text helpers shared by the router and the compressors.

One rule each, so that the router and the compressors never disagree about what a piece
of text is:

- `looks_binary`: the single "this is binary, not text" rule (control characters and
  NULs over a bounded head/middle/tail sample);
- `BASE64_RUN`, `WRAPPED_BASE64`, `DATA_URL` and `is_plausible_base64`: what counts as an
  embedded blob;
- `plural`: "1 line", "2 lines", "1,204 lines";
- `head_that_fits`: the longest head of a text that, with a note after it, fits a token
  budget (cut at a line break, else at whitespace, else at a character; callers that
  want a finer cut say so).

Every function here is linear in its input (or bounded by a sample) and never raises on
content.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

__all__ = [
    "BASE64_RUN",
    "DATA_URL",
    "MIN_BASE64_RUN",
    "WRAPPED_BASE64",
    "binary_sample",
    "control_share",
    "head_that_fits",
    "is_plausible_base64",
    "looks_binary",
    "plural",
]

# --------------------------------------------------------------------------- binary

# C0/C1 control characters (not tab, newlines, vertical tab, form feed or ESC, which
# terminal output uses), replacement characters and lone surrogates: one regex class, so
# the scan runs in C.
_CONTROL_CHARS = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f-\x9f\ufffd\ud800-\udfff]")
# Binary when more than this share of the sample is control characters ...
_MAX_CONTROL_SHARE = 0.10
# ... or more than this share is NULs (text never carries NULs; binary formats are full of
# them). A single stray NUL in a large log does not make it binary.
_MAX_NUL_SHARE = 0.01
_SAMPLE_WINDOW = 4096


def binary_sample(text: str) -> str:
    """Head, middle and tail windows of `text` (all of it when short): what binary-ness is
    judged on, so the check costs the same on 10 KB and on 50 MB."""
    if len(text) <= 3 * _SAMPLE_WINDOW:
        return text
    middle = len(text) // 2
    return text[:_SAMPLE_WINDOW] + text[middle : middle + _SAMPLE_WINDOW] + text[-_SAMPLE_WINDOW:]


def control_share(sample: str) -> float:
    """Share of `sample` that is control / replacement / surrogate characters."""
    if not sample:
        return 0.0
    return sum(1 for _ in _CONTROL_CHARS.finditer(sample)) / len(sample)


def looks_binary(text: str) -> bool:
    """The one rule for "binary, not text": over a bounded sample, more than 10 % control
    characters (C0/C1 controls other than whitespace and ESC, U+FFFD, lone surrogates) or
    more than 1 % NULs. The router sends such text to the blob compressor; the other
    compressors leave it alone."""
    if not isinstance(text, str) or not text:
        return False
    sample = binary_sample(text)
    if sample.count("\x00") > len(sample) * _MAX_NUL_SHARE:
        return True
    return control_share(sample) > _MAX_CONTROL_SHARE


# --------------------------------------------------------------------------- base64

MIN_BASE64_RUN = 256
"""Shortest unbroken base64 run that counts as a blob."""

# An unbroken run; the look-behind makes the scan linear (a run is tried from its start only).
BASE64_RUN = re.compile(rf"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{{{MIN_BASE64_RUN},}}={{0,2}}")
# Base64 wrapped at a fixed width (PEM, MIME, `base64` output): four or more whole lines.
WRAPPED_BASE64 = re.compile(r"(?:^[A-Za-z0-9+/]{60,100}\r?\n){4,}[A-Za-z0-9+/]*={0,2}", re.M)
# A `data:` URL with a base64 body; `mime` and `body` are named. Parameters and the body
# use disjoint character classes, so the scan cannot backtrack.
DATA_URL = re.compile(
    r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[\w.+-]+=[\w.+-]+)*;base64,(?P<body>[A-Za-z0-9+/=]{64,})"
)


def is_plausible_base64(run: str) -> bool:
    """Real base64 mixes upper case, lower case and digits; a long word, an identifier or
    a hex digest does not. Judged on the first 512 characters of the body."""
    body = run.split(",", 1)[1] if run.startswith("data:") else run
    body = body[:512]
    return (
        any(c.isupper() for c in body) and any(c.islower() for c in body) and any(c.isdigit() for c in body)
    )


# --------------------------------------------------------------------------- words


def plural(n: int, word: str, many: str | None = None) -> str:
    """`1 line`, `2 lines`, `1,204 lines`; `many` for irregular plurals (`entry`/`entries`)."""
    if n == 1:
        return f"{n:,} {word}"
    return f"{n:,} {many if many is not None else word + 's'}"


# --------------------------------------------------------------------------- budgets

# A token is rarely longer than this many characters: bounds how much of a huge text the
# search for a fitting head looks at.
_MAX_CHARS_PER_TOKEN = 16
_WHITESPACE = re.compile(r"\s+")


_CUTS = ("line", "word", "char")


def head_that_fits(
    text: str,
    budget: int,
    note: str | Callable[[int], str],
    count: Callable[[str], int],
    *,
    cut: Literal["line", "word", "char"] = "line",
) -> str | None:
    """The longest head of `text` that, followed by a line break and `note`, counts at most
    `budget` tokens; None when not even the note fits, the note alone when no head does.

    With `cut="line"` the head ends at a line break when at least one whole line fits, else
    at whitespace, else at a character; `cut="word"` starts at whitespace (any whitespace,
    line breaks included: the longest head wins) and `cut="char"` cuts anywhere. `note` may
    be a function of the number of whole lines shown (for "showing the first 40 of 1,204
    lines"). Binary search over cut points: O(log n) token counts of at most
    `budget * 16` characters each.
    """

    def with_note(head: str) -> str:
        shown = head.count("\n") + 1 if head else 0
        tail = note(shown) if callable(note) else note
        return f"{head}\n{tail}" if head else tail

    window = text[: max(budget, 0) * _MAX_CHARS_PER_TOKEN]
    if len(window) == len(text) and count(with_note(text)) <= budget:  # a longer text cannot fit
        return with_note(text)
    first = len(window) - len(window.lstrip())  # a head must hold more than whitespace
    for unit in _CUTS[_CUTS.index(cut) :]:
        if unit == "line":
            cuts = [i for i, ch in enumerate(window) if ch == "\n"]
        elif unit == "word":
            cuts = [m.start() for m in _WHITESPACE.finditer(window)]
        else:
            cuts = list(range(1, len(window) + 1))
        cuts = [c for c in cuts if c > first]
        best = _longest_fitting(window, cuts, budget, with_note, count)
        if best is not None:
            return best
    empty = with_note("")
    return empty if count(empty) <= budget else None


def _longest_fitting(
    window: str,
    cuts: list[int],
    budget: int,
    with_note: Callable[[str], str],
    count: Callable[[str], int],
) -> str | None:
    best: str | None = None
    lo, hi = 0, len(cuts) - 1
    while lo <= hi:  # token count grows with the head: binary search over cut points
        mid = (lo + hi) // 2
        candidate = with_note(window[: cuts[mid]].rstrip())
        if count(candidate) <= budget:
            best = candidate
            lo = mid + 1
        else:
            hi = mid - 1
    return best
