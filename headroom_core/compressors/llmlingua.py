"""LLMLingua-2 for prose and retrieved passages: word-level, extractive, optional.

LLMLingua-2 (Pan et al., 2024, arXiv:2403.12968) is a token classifier (a BERT or
XLM-RoBERTa encoder fine-tuned on text compressed by GPT-4) that gives every token a
probability of being worth keeping. This module runs such a model through `transformers`'
`AutoModelForTokenClassification` directly, not through the `llmlingua` package: the
algorithm is a few lines (keep probability per word, keep the most probable words up to
a share of the tokens, in their original order), while the package pulls in nltk (whose
sentence splitter wants a data download at run time), accelerate and its own tiktoken
accounting, and has been released rarely. `transformers` is already installed with
sentence-transformers (the `semantic` extra), so the `llmlingua` extra adds no new stack.

It is enabled by `TextConfig(ml="llmlingua2")`; until then none of torch or transformers
is imported. The pipeline hands it the segments the router calls prose (never JSON, code,
logs, diffs or search results). What it guarantees:

- Force-kept, never split: identifiers (snake_case, camelCase, dotted, with digits,
  acronyms), numbers, URLs, e-mail addresses, paths, quoted strings, code spans and fenced code
  blocks, sentence punctuation and line-leading markers (bullets, headings). They reach
  the model as one placeholder token each and come back verbatim. Content words of the
  question that steers the text are kept too.
- Reversible: the original goes to CCR; the output ends with one marker.
- Bounded: texts are chunked at sentence boundaries to the model's window; the work runs
  in a worker thread and a text that takes longer than `ml_timeout_seconds` (or whose
  model cannot be loaded) is compressed by the extractive prose compressor instead, with
  a log line. Nothing here fails a request.
- Deterministic: the model runs in eval mode (no dropout) on chunks that depend on the
  text alone; probabilities are rounded before ranking and ties go to the earlier word.
"""

from __future__ import annotations

import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from headroom_core._config import LLMLINGUA2_DEFAULT_MODEL
from headroom_core._errors import MLModelUnavailableError
from headroom_core._text import looks_binary
from headroom_core.compressors._base import CompressContext, Compressed
from headroom_core.compressors.prose import ProseCompressor

log = logging.getLogger("headroom.llmlingua")

__all__ = ["LLMLinguaCompressor", "WordClassifier", "clear_model_cache", "load_classifier"]

# Chinese and Japanese are written without spaces: each character is a unit of its own.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_W = rf"[^\W{_CJK}]"  # a word character that is not CJK
# Force-kept spans, tried in this order at each position. Every alternative is bounded or
# consumes what it matches, so one scan is linear in the text.
_UNIT = re.compile(
    r"""
    (?P<url>(?:https?|ftp|file|wss?)://[^\s<>"'`]*[^\s<>"'`.,;:!?)\]}]|www\.[^\s<>"'`]*[^\s<>"'`.,;:!?)\]}])
  | (?P<code>`[^`\n]{1,300}`)
  | (?P<quoted>"[^"\n]{1,300}"|“[^”\n]{1,300}”|(?<!\w)'[^'\n]{1,300}'(?!\w))
  | (?P<path>(?:~|\.{1,2})?/[\w.~+@%-]+(?:/[\w.~+@%-]*)*|[A-Za-z]:\\[\w.\\+~-]+)
  | (?P<number>[-+]?\d(?:[\d,._:/]*\d)?%?(?![\w$]))
  | (?P<word>(?:W|\$)+(?:(?:\.|::|->|/|@|['’+-])(?:W|\$)+)*)
  | (?P<cjk>[CJK])
  | (?P<punct>[^\w\s])
    """.replace("W", _W).replace("CJK", _CJK),
    re.VERBOSE,
)
_QUERY_WORD = re.compile(r"\w{4,}")
_QUERY_STOPWORDS = frozenset({
    "about", "after", "also", "been", "before", "being", "could", "does", "from", "have", "into",
    "more", "most", "only", "other", "over", "should", "some", "such", "than", "that", "their",
    "them", "then", "there", "these", "they", "this", "those", "very", "what", "when", "where",
    "which", "while", "will", "with", "would", "your",
})  # fmt: skip
_FENCE = re.compile(r"[ \t]*(`{3,}|~{3,})")
_INNER_CAPITAL = re.compile(r"[a-z][A-Z]")
_SENTENCE_END = frozenset(".!?。！？")
_ROUND = 6
"""Probabilities are rounded to this many decimals before ranking (ties: earlier word)."""
_MAX_SAVING_WORTH_NOTHING = 0.1
_BATCH = 8
_MAX_CHARS = 1_000_000
"""Longer texts go straight to the extractive compressor: no CPU model gets through them
within any sensible timeout."""
_PLACEHOLDER_FALLBACK = "x"


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    forced: bool
    punct: bool = False


def _is_identifier(word: str) -> bool:
    """Words a reader may need verbatim: code names, versions, acronyms, dotted names."""
    if any(c.isdigit() or c in "_$.:/>@+" for c in word):
        return True
    if _INNER_CAPITAL.search(word):
        return True
    letters = [c for c in word if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


def split_units(text: str) -> list[_Unit]:
    """The text as words, punctuation and force-kept spans (fenced code blocks whole)."""
    units: list[_Unit] = []
    pos = 0
    lines = text.split("\n")
    offset = 0
    fence_start: int | None = None
    fence_mark = ""
    regions: list[tuple[int, int]] = []  # fenced code blocks, kept as one unit each
    for line in lines:
        m = _FENCE.match(line)
        if fence_start is None and m:
            fence_start, fence_mark = offset, m.group(1)
        elif fence_start is not None and line.lstrip(" \t").startswith(fence_mark[0] * len(fence_mark)):
            regions.append((fence_start, offset + len(line)))
            fence_start = None
        offset += len(line) + 1
    if fence_start is not None:
        regions.append((fence_start, len(text)))
    previous_end = 0
    for region_start, region_end in [*regions, (len(text), len(text))]:
        for m in _UNIT.finditer(text, pos, region_start):
            kind = m.lastgroup
            start, end = m.span()
            # First on its line: only whitespace with a line break since the previous unit
            # (gaps never overlap, so this stays linear on one huge line).
            leading = not units or "\n" in text[previous_end:start]
            previous_end = end
            if kind == "cjk":
                forced = False
            elif kind == "word":
                forced = _is_identifier(m.group())
            elif kind == "punct":
                # Sentence ends keep the text readable; a line's first mark is structure.
                forced = m.group() in _SENTENCE_END or leading
            else:
                forced = True
            units.append(_Unit(start, end, forced, kind == "punct"))
        if region_end > region_start:
            units.append(_Unit(region_start, region_end, True))
            previous_end = region_end
        pos = region_end
    return units


# --------------------------------------------------------------------------- the model


class WordClassifier:
    """A token-classification model and its fast tokenizer: keep probability per word."""

    def __init__(self, model: Any, tokenizer: Any, device: str, window: int, keep_index: int) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.window = window
        """Most tokens per chunk, special tokens included."""
        self.keep_index = keep_index
        self.placeholder = tokenizer.unk_token or _PLACEHOLDER_FALLBACK
        """What a force-kept span looks like to the model: one token, whatever it holds."""

    def keep_probs(
        self, words: list[str], sentence_ends: list[bool], cancel: threading.Event | None = None
    ) -> list[float]:
        """Keep probability of each word: the mean over its subword tokens (0.0 for a word
        the tokenizer gives no token). Chunks end at sentence ends where possible."""
        import torch

        probs = [0.0] * len(words)
        if not words:
            return probs
        room = max(1, self.window - self.tokenizer.num_special_tokens_to_add(pair=False))
        counts = [len(ids) for ids in self.tokenizer(words, add_special_tokens=False)["input_ids"]]
        chunks = _pack(counts, sentence_ends, room)
        for first in range(0, len(chunks), _BATCH):
            if cancel is not None and cancel.is_set():
                raise TimeoutError("cancelled")
            batch = chunks[first : first + _BATCH]
            encoded = self.tokenizer(
                [words[a:b] for a, b in batch],
                is_split_into_words=True,
                truncation=True,
                max_length=self.window,
                padding=True,
                return_tensors="pt",
            )
            inputs = {k: v.to(self.device) for k, v in encoded.items() if k != "offset_mapping"}
            with torch.inference_mode():
                logits = self.model(**inputs).logits
            keep = torch.softmax(logits.float(), dim=-1)[:, :, self.keep_index].cpu().tolist()
            for row, (a, _) in enumerate(batch):
                sums: dict[int, float] = {}
                seen: dict[int, int] = {}
                for position, word in enumerate(encoded.word_ids(row)):
                    if word is None:
                        continue
                    sums[word] = sums.get(word, 0.0) + keep[row][position]
                    seen[word] = seen.get(word, 0) + 1
                for word, total in sums.items():
                    probs[a + word] = total / seen[word]
        return probs


def _pack(counts: list[int], sentence_ends: list[bool], room: int) -> list[tuple[int, int]]:
    """(start, end) word ranges of at most `room` tokens each: whole sentences packed
    together; a sentence longer than `room` is cut between words (a single word longer
    than `room` is a chunk of its own, truncated by the tokenizer)."""
    sentences: list[tuple[int, int]] = []
    first = 0
    for i, end in enumerate(sentence_ends):
        if end:
            sentences.append((first, i + 1))
            first = i + 1
    if first < len(counts):
        sentences.append((first, len(counts)))
    chunks: list[tuple[int, int]] = []
    start: int | None = None
    used = 0
    for a, b in sentences:
        size = sum(counts[a:b])
        if start is not None and used + size > room:
            chunks.append((start, a))
            start, used = None, 0
        if size <= room:
            if start is None:
                start = a
            used += size
            continue
        piece, piece_used = a, 0
        for i in range(a, b):
            if piece_used + counts[i] > room and i > piece:
                chunks.append((piece, i))
                piece, piece_used = i, 0
            piece_used += counts[i]
        chunks.append((piece, b))
    if start is not None:
        chunks.append((start, len(counts)))
    return chunks


_LOCK = threading.Lock()
_LOADED: dict[tuple[str, str, bool], WordClassifier] = {}
_FAILED: dict[tuple[str, str, bool], MLModelUnavailableError] = {}
_EXECUTOR: ThreadPoolExecutor | None = None


def _missing(model: str, why: str) -> MLModelUnavailableError:
    return MLModelUnavailableError(
        f"LLMLingua-2 model {model!r} is not available locally ({why}). Expected a local "
        f"model directory or a Hugging Face model id in the local cache, by default "
        f"{LLMLINGUA2_DEFAULT_MODEL}; fetch it once with `huggingface-cli download "
        f"{LLMLINGUA2_DEFAULT_MODEL}` (or set TextConfig.ml_allow_download=True). "
        "Prose is compressed by the extractive compressor meanwhile."
    )


def _keep_index(config: Any) -> int:
    """Index of the 'keep' label: one named keep/preserve, else 1 (LLMLingua-2's layout)."""
    labels = getattr(config, "id2label", None) or {}
    for index, name in sorted((int(k), str(v).lower()) for k, v in labels.items()):
        if name in ("keep", "preserve", "retain", "1", "label_1"):
            return index
    return 1


def load_classifier(
    model: str = LLMLINGUA2_DEFAULT_MODEL, device: str = "cpu", allow_download: bool = False
) -> WordClassifier:
    """Load (once per process) the token classifier `model` names: a local directory or a
    Hugging Face id in the local cache (downloaded only with `allow_download`).

    Raises `MLModelUnavailableError` with what to do when it cannot be loaded; a failure is
    remembered (call `clear_model_cache()` after fetching the weights).
    """
    key = (model, device, allow_download)
    with _LOCK:
        if key in _LOADED:
            return _LOADED[key]
        if key in _FAILED:
            raise _FAILED[key]
        try:
            loaded = _load(model, device, allow_download)
        except MLModelUnavailableError as exc:
            _FAILED[key] = exc
            raise
        _LOADED[key] = loaded
        return loaded


def _load(model: str, device: str, allow_download: bool) -> WordClassifier:
    try:
        import torch
        from transformers import AutoModelForTokenClassification, AutoTokenizer
    except ImportError as exc:
        raise MLModelUnavailableError(
            f"LLMLingua-2 needs torch and transformers ({exc}); install them with "
            "`pip install 'headroom-ai[llmlingua]'`"
        ) from None
    from transformers.utils import logging as hf_logging

    source = str(Path(model).expanduser()) if Path(model).expanduser().is_dir() else model
    bars = hf_logging.is_progress_bar_enabled()
    if bars:  # the library never prints: no "Loading weights" progress bar on stderr
        hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=not allow_download, use_fast=True)
        network = AutoModelForTokenClassification.from_pretrained(source, local_files_only=not allow_download)
    except (OSError, ValueError, KeyError) as exc:
        raise _missing(
            model, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    if not getattr(tokenizer, "is_fast", False):
        raise _missing(model, "its tokenizer has no fast (Rust) version, needed to map tokens to words")
    try:  # byte-level BPE tokenizers (RoBERTa-style) take pre-split words only with a prefix space
        tokenizer(["probe", "words"], is_split_into_words=True)
    except ValueError:
        try:
            tokenizer = AutoTokenizer.from_pretrained(
                source, local_files_only=not allow_download, use_fast=True, add_prefix_space=True
            )
            tokenizer(["probe", "words"], is_split_into_words=True)
        except (OSError, ValueError, TypeError) as exc:
            raise _missing(model, f"its tokenizer cannot take pre-split words ({exc})") from None
    try:
        network.to(torch.device(device))
    except (RuntimeError, ValueError, AssertionError) as exc:
        raise MLModelUnavailableError(f"LLMLingua-2 cannot run on device {device!r}: {exc}") from None
    network.eval()  # inference: no dropout
    limits = [
        n
        for n in (
            getattr(tokenizer, "model_max_length", None),
            getattr(network.config, "max_position_embeddings", None),
        )
        if isinstance(n, int) and 8 <= n < 100_000
    ]
    window = min([512, *limits])
    return WordClassifier(network, tokenizer, device, window, _keep_index(network.config))


def clear_model_cache() -> None:
    """Forget loaded models and remembered load failures (e.g. after fetching weights)."""
    with _LOCK:
        _LOADED.clear()
        _FAILED.clear()


def _executor() -> ThreadPoolExecutor:
    global _EXECUTOR
    with _LOCK:
        if _EXECUTOR is None:
            # One worker: inference already uses every core through torch's own threads.
            _EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="headroom-llmlingua")
        return _EXECUTOR


# --------------------------------------------------------------------------- compressor


class LLMLinguaCompressor:
    """Prose compressor that drops low-information words (LLMLingua-2); falls back to the
    extractive `ProseCompressor` when the model is missing or too slow."""

    name: ClassVar[str] = "llmlingua2"

    def compress(self, text: str, ctx: CompressContext) -> Compressed | None:
        if not isinstance(text, str) or not ctx.can_drop or not text.strip() or looks_binary(text):
            return None
        cfg = ctx.config.text
        if not cfg.enabled or len(text) < cfg.min_prose_tokens:
            return None
        total_tokens = ctx.tokenizer.count(text)
        if total_tokens < max(1, cfg.min_prose_tokens):
            return None
        if len(text) > _MAX_CHARS:
            log.debug("LLMLingua-2 skipped a %d-character text (over %d); extractive", len(text), _MAX_CHARS)
            return self._fallback(text, ctx)
        units = split_units(text)
        if not any(not u.forced for u in units):
            return None
        cancel = threading.Event()
        future = _executor().submit(self._probabilities, text, units, cfg, cancel)
        try:
            probs = future.result(timeout=cfg.ml_timeout_seconds)
        except FutureTimeout:
            cancel.set()
            future.cancel()
            log.warning(
                "LLMLingua-2 took longer than %.1f s on a %d-character text; compressed extractively instead",
                cfg.ml_timeout_seconds,
                len(text),
            )
            return self._fallback(text, ctx)
        except MLModelUnavailableError as exc:
            self._log_unavailable(exc)
            return self._fallback(text, ctx)
        except (RuntimeError, ValueError) as exc:  # torch or the tokenizer: out of memory, a device gone
            log.warning("LLMLingua-2 failed (%s); compressed extractively instead", exc)
            return self._fallback(text, ctx)
        return self._select_and_render(text, units, probs, total_tokens, ctx)

    @staticmethod
    def _probabilities(text: str, units: list[_Unit], cfg: Any, cancel: threading.Event) -> list[float]:
        classifier = load_classifier(cfg.ml_model, cfg.ml_device, cfg.ml_allow_download)
        words = [classifier.placeholder if u.forced and not u.punct else text[u.start : u.end] for u in units]
        ends = []
        for k, u in enumerate(units):
            nxt = units[k + 1].start if k + 1 < len(units) else len(text)
            ends.append((u.punct and text[u.start] in _SENTENCE_END) or "\n" in text[u.end : nxt])
        return classifier.keep_probs(words, ends, cancel)

    _warned: ClassVar[set[str]] = set()

    @classmethod
    def _log_unavailable(cls, exc: MLModelUnavailableError) -> None:
        message = str(exc)
        if message in cls._warned:
            log.debug("%s", message)
            return
        cls._warned.add(message)
        log.warning("%s", message)

    @staticmethod
    def _fallback(text: str, ctx: CompressContext) -> Compressed | None:
        return ProseCompressor().compress(text, ctx)

    @staticmethod
    def _select_and_render(
        text: str, units: list[_Unit], probs: list[float], total_tokens: int, ctx: CompressContext
    ) -> Compressed | None:
        cfg = ctx.config.text
        scale = total_tokens / max(1, len(text))
        costs = [(u.end - u.start + 1) * scale for u in units]
        asked = _query_words(ctx.query)
        keep = [u.forced or (bool(asked) and text[u.start : u.end].lower() in asked) for u in units]
        spent = sum(c for c, k in zip(costs, keep) if k)
        target = cfg.ml_rate * total_tokens
        ranked = sorted(
            (k for k in range(len(units)) if not keep[k]), key=lambda k: (-round(probs[k], _ROUND), k)
        )
        for k in ranked:
            if spent >= target:
                break
            keep[k] = True
            spent += costs[k]
        _drop_repeated_punctuation(text, units, keep)
        words = [k for k, u in enumerate(units) if not u.punct]
        dropped = sum(1 for k in words if not keep[k])
        if dropped == 0:
            return None
        body = _render(text, units, keep)
        key = ctx.stash(text, "text", unit="block")
        description = f"LLMLingua-2 left out {dropped:,} of {len(words):,} words"
        out = body + "\n" + ctx.marker(description, key)
        if ctx.tokenizer.count(out) > (1 - _MAX_SAVING_WORTH_NOTHING) * total_tokens:
            return None
        return Compressed(out, (key,), f"LLMLingua-2 kept {len(words) - dropped} of {len(words)} words")


def _drop_repeated_punctuation(text: str, units: list[_Unit], keep: list[bool]) -> None:
    """A sentence end right after another kept one (its sentence was dropped) adds nothing."""
    previous_end = False
    for k, u in enumerate(units):
        if not keep[k]:
            continue
        is_end = u.punct and text[u.start] in _SENTENCE_END
        if is_end and previous_end and "\n" not in text[units[k - 1].end : u.start]:
            keep[k] = False
            continue
        previous_end = is_end


def _render(text: str, units: list[_Unit], keep: list[bool]) -> str:
    """Kept units in order. Between neighbours in the original: the original whitespace;
    across dropped units: a blank line, a newline or a space, as the gap held."""
    out: list[str] = []
    previous: int | None = None
    for k, u in enumerate(units):
        if not keep[k]:
            continue
        if previous is None:
            lead = text[: u.start]
            out.append(lead if not lead.strip() else "")
        else:
            before = units[previous]
            if previous == k - 1:
                out.append(text[before.end : u.start])
            else:
                gap = text[before.end : u.start]
                newlines = gap.count("\n")
                if newlines:
                    out.append("\n\n" if newlines >= 2 else "\n")
                else:
                    own = text[units[k - 1].end : u.start]  # the whitespace right before this unit
                    joins_words = _spaced_word_char(text[before.end - 1]) and _spaced_word_char(text[u.start])
                    out.append(own if own or not joins_words else " ")
        out.append(text[u.start : u.end])
        previous = k
    return "".join(out)


def _spaced_word_char(char: str) -> bool:
    """A letter or digit of a script that separates words with spaces (not Chinese/Japanese)."""
    return char.isalnum() and not (
        "\u3040" <= char <= "\u30ff" or "\u3400" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff"
    )


def _query_words(query: str | None) -> frozenset[str]:
    """Content words of the question (lower-cased): passages keep them, as LongLLMLingua's
    question-aware variant would rank them high."""
    if not query:
        return frozenset()
    return frozenset(
        w for w in (m.lower() for m in _QUERY_WORD.findall(query[:2000])) if w not in _QUERY_STOPWORDS
    )
