"""Legibility measured with a real OCR engine (tesseract): word recall.

The question the OCR bar answers: of the words an OCR engine reads confidently in what
the provider would have seen of the original, how many does it still read in the
compressed image (scaled back to the same size)? Both images are read by the same
engine with the same settings, so the engine's own weaknesses cancel out; what remains
is the text that the compression made illegible.

Normalisation (`normalise_word`): Unicode NFKC, lower case, punctuation stripped from
both ends; a word counts when it has at least three characters and at least one
letter or digit. Reference words must have tesseract confidence >= `REFERENCE_CONF`
(confident reads only: a shaky read in the original is no loss when it changes);
candidate words count at any confidence. Recall is the multiset intersection over the
reference count. An image is *text-bearing* when the reference has at least
`MIN_TEXT_WORDS` such words.

OCR is optional at run time (the `ocr` extra plus Debian's `tesseract-ocr`): without the
binary, `available()` is False and callers fall back to the router's prediction. Runs
are deterministic: one thread (`OMP_THREAD_LIMIT=1`), fixed settings (LSTM engine,
sparse-text segmentation), PNG input.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import cache

from PIL import Image

log = logging.getLogger("headroom.images")

REFERENCE_CONF = 60.0
"""Tesseract confidence (0-100) a reference word needs to count."""
MIN_TEXT_WORDS = 8
"""Confident words in the reference from which an image is text-bearing."""
OCR_MIN_HEIGHT = 1000
"""Images shorter than this are upscaled (both the same way) before OCR: tesseract reads
small UI fonts far better at about twice the size, and the comparison stays fair."""
OCR_MAX_PIXELS = 4_000_000
OCR_TIMEOUT_SECONDS = 60.0
PAGE_SEGMENTATION = "11"
"""Tesseract's sparse-text mode: finds the scattered labels of charts, diagrams and UIs
that page-layout analysis (mode 3) misses."""
_PUNCT = "\"'`.,:;!?()[]{}<>|/\\-_=+*&^%$#@~\u2018\u2019\u201c\u201d\u2014\u2013\u2022"


@dataclass(frozen=True)
class OcrWords:
    """What tesseract read: confident words (the reference set) and all words."""

    confident: tuple[str, ...]
    every: tuple[str, ...]

    @property
    def text_bearing(self) -> bool:
        return len(self.confident) >= MIN_TEXT_WORDS


def _command() -> str | None:
    try:  # the `ocr` extra: honour a tesseract path configured for pytesseract
        import pytesseract

        configured = pytesseract.pytesseract.tesseract_cmd
    except Exception:
        configured = "tesseract"
    return shutil.which(configured) or shutil.which("tesseract")


@cache
def available() -> bool:
    """True when the tesseract binary with English data can be run."""
    cmd = _command()
    if cmd is None:
        return False
    try:
        out = subprocess.run(
            [cmd, "--list-langs"], capture_output=True, timeout=OCR_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and b"eng" in out.stdout.split()


def normalise_word(word: str) -> str | None:
    w = unicodedata.normalize("NFKC", word).lower().strip(_PUNCT)
    if len(w) < 3 or not any(c.isalnum() for c in w):
        return None
    return w


def ocr_scale(size: tuple[int, int]) -> float:
    """The common factor both images are scaled by before OCR (see OCR_MIN_HEIGHT)."""
    w, h = size
    factor = max(1.0, OCR_MIN_HEIGHT / max(1, h))
    factor = min(factor, 2.0)
    while w * h * factor * factor > OCR_MAX_PIXELS and factor > 0.25:
        factor /= 1.25
    return factor


class OcrUnavailable(RuntimeError):
    """tesseract is missing, failed or timed out."""


def read_words(image: Image.Image, scale: float = 1.0) -> OcrWords:
    """OCR a greyscale image (scaled by `scale` first); OcrUnavailable when it cannot run."""
    cmd = _command()
    if cmd is None:
        raise OcrUnavailable("tesseract is not installed")
    grey = image.convert("L")
    if scale != 1.0:
        size = (max(1, round(grey.width * scale)), max(1, round(grey.height * scale)))
        grey = grey.resize(size, Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    grey.save(buf, "PNG", compress_level=1)
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    try:
        out = subprocess.run(
            [cmd, "stdin", "stdout", "-l", "eng", "--oem", "1", "--psm", PAGE_SEGMENTATION, "tsv"],
            input=buf.getvalue(),
            capture_output=True,
            timeout=OCR_TIMEOUT_SECONDS,
            env=env,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise OcrUnavailable(f"tesseract did not run ({type(exc).__name__})") from exc
    if out.returncode != 0:
        raise OcrUnavailable(f"tesseract failed: {out.stderr[-200:].decode('utf-8', 'replace')}")
    confident: list[str] = []
    every: list[str] = []
    for line in out.stdout.decode("utf-8", "replace").splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) < 12 or cols[0] != "5":
            continue
        word = normalise_word(cols[11])
        if word is None:
            continue
        every.append(word)
        try:
            conf = float(cols[10])
        except ValueError:
            continue
        if conf >= REFERENCE_CONF:
            confident.append(word)
    return OcrWords(tuple(confident), tuple(every))


def word_recall(reference: OcrWords, candidate: OcrWords) -> float:
    """Share of the reference's confident words the candidate still reads (1.0 when none)."""
    if not reference.confident:
        return 1.0
    want = Counter(reference.confident)
    have = Counter(candidate.every)
    matched = sum(min(n, have[w]) for w, n in want.items())
    return matched / sum(want.values())
