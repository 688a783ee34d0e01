"""Token counts of text and of whole conversations.

Conversation overhead follows OpenAI's published accounting for chat models: 3 tokens
per message plus 3 to prime the reply; tool-call names and arguments count as text.
Images are counted by the provider formulas in `headroom_core.images` when that module
can size them, else at the OpenAI low-detail cost (85).

Huge texts (`estimate_tokens`): inside `compress()`, a text part larger than
`ESTIMATE_ABOVE_BYTES` (8 MiB) or than `HeadroomConfig.max_input_bytes`, whichever is
smaller, is not encoded whole: three evenly spaced samples of `SAMPLE_CHARS` each are
counted exactly and the rest is extrapolated by their tokens per character. Such parts are
mostly cut (above `max_input_bytes` only head and tail are kept), and encoding them whole
would be most of the time `compress()` takes. `compress()` reports their counts as
estimates; everything else, and `count_tokens()` itself, is exact.

Counting an edited text (`count_after_edits`): when `count_tokens` counts a conversation
with a memo (what `compress()` does before compressing), the token ids of its large texts
are kept for the rest of that call, and a compressor that changed a few spans of such a
text counts its output from them: the tokens of every unchanged stretch are read off the
original's ids, and only the changed lines are encoded. The count is exact: tiktoken's
pre-tokenizer (o200k_base, cl100k_base) never lets a piece run past a line break followed
by blanks and then an ASCII character other than a line break (or a `/` right after the
break), so a text cut at such a line start encodes as its two halves do. A text longer than
the tokenizer's chunk is counted (and its ids made) chunk by chunk, as `Tokenizer.count`
does; the chunk cuts of the original and of the output are then treated as edits too.
`compress()`'s next count of the conversation (its final one, where every text is a memo
hit) releases the ids.
"""

from __future__ import annotations

import bisect
import threading
from array import array
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np

from headroom_core import _tokenizer
from headroom_core._config import DEFAULT_MODEL
from headroom_core._messages import _block_text, _is_image, tool_call_texts
from headroom_core._tokenizer import Tokenizer, _chunks, get_encoding, get_tokenizer

MESSAGE_OVERHEAD = 3
REPLY_PRIMING = 3
FALLBACK_IMAGE_TOKENS = 85
SAMPLE_CHARS = 128 << 10
ESTIMATE_ABOVE_BYTES = 8 << 20


_MEMO_MIN_CHARS = 256
"""Shorter texts are encoded again: hashing them costs about as much as counting."""
_call_counts: ContextVar[dict[str, int] | None] = ContextVar("headroom_call_counts", default=None)

_IDS_MIN_CHARS = 4096
"""Texts at least this long keep their token ids."""
_IDS_MAX_TOKENS = 4_000_000
"""At most this many token ids are kept per counted conversation (4 bytes each)."""
_EDIT_SAFE_ENCODINGS = frozenset({"o200k_base", "cl100k_base"})
"""Encodings whose pre-tokenizer `count_after_edits` relies on (checked in its tests)."""
_LINE_START_UNSAFE = frozenset(b"\r\n")
_SLASH = ord("/")
_INDENT_BYTES = b" \t\x0b\x0c"
"""ASCII whitespace other than line breaks."""
_MAX_BOUNDARY_SCAN = 16
"""Line breaks looked at for a cut around one edit before giving up (bounded work)."""
_MAX_INDENT_SCAN = 128
"""Leading blanks looked at on one line before it is given up as a cut."""
_MAX_CUT_DISTANCE = 16_384
"""Bytes searched for a cut on each side of an edit: a text of very long lines is counted
directly rather than scanned again for every edit (linear time on any input)."""
_token_ids: ContextVar[dict[tuple[str, str], array[int]] | None] = ContextVar(
    "headroom_token_ids", default=None
)
_lengths_lock = threading.Lock()
_lengths: dict[str, np.ndarray] = {}


@contextmanager
def counting_scope(memo: dict[str, int]) -> Iterator[dict[str, int]]:
    """Within the block, `known_count` and `count_once` share `memo` (text -> tokens, the
    pipeline's counts for this call): a compressor that needs the count of the text it was
    given, or of the output it made, reuses the pipeline's encode instead of repeating it,
    and the pipeline reuses the compressor's. Scoped to one call (a context variable), so
    no text outlives the call and concurrent calls never share counts."""
    token = _call_counts.set(memo)
    try:
        yield memo
    finally:
        _call_counts.reset(token)


def known_count(text: str) -> int | None:
    """The tokens of `text` if counted already in the current `counting_scope`, else None
    (for a text above the pipeline's estimate limit, the pipeline's estimate)."""
    memo = _call_counts.get()
    if memo is None or len(text) < _MEMO_MIN_CHARS:
        return None
    return memo.get(text)


def count_once(text: str, tokenizer: Tokenizer) -> int:
    """`tokenizer.count(text)`, remembered for the rest of the current `counting_scope`."""
    memo = _call_counts.get()
    if memo is None or len(text) < _MEMO_MIN_CHARS:
        return tokenizer.count(text)
    n = memo.get(text)
    if n is None:
        n = memo[text] = tokenizer.count(text)
    return n


def remember_count(text: str, tokens: int) -> None:
    """Record an exact count of `text` made another way (see `count_after_edits`) in the
    current `counting_scope`, for the pipeline to reuse."""
    memo = _call_counts.get()
    if memo is not None and len(text) >= _MEMO_MIN_CHARS:
        memo[text] = tokens


def known_token_ids(text: str, tokenizer: Tokenizer) -> array[int] | None:
    """The token ids of `text` if this `compress()` call counted it whole, else None."""
    kept = _token_ids.get()
    if kept is None or len(text) < _IDS_MIN_CHARS:
        return None
    return kept.get((tokenizer.encoding_name, text))


def _token_lengths(encoding_name: str) -> np.ndarray:
    """Bytes of each token id of an encoding (built once per process, about 0.1 s)."""
    with _lengths_lock:
        table = _lengths.get(encoding_name)
        if table is None:
            encoding = get_encoding(encoding_name)
            table = np.zeros(encoding.max_token_value + 1, dtype=np.int32)
            for token in range(len(table)):
                try:
                    table[token] = len(encoding.decode_single_token_bytes(token))
                except KeyError:  # a gap in the id space
                    continue
            _lengths[encoding_name] = table
        return table


def _is_cut(data: bytes, offset: int, limit: int, *, to_end: bool) -> bool:
    """True if the line start `offset` (just after a `\n`) begins a pre-tokenizer piece and
    stays so whatever follows `limit`: its leading blanks end, before `limit`, at an ASCII
    character that is neither a line break nor (right at the line start) a `/`; or, if
    `to_end`, they run to the end of the text. (A run of whitespace that holds a line break
    is one piece up to its last one.)"""
    end = min(limit, offset + _MAX_INDENT_SCAN)
    head = data[offset:end]
    i = offset + len(head) - len(head.lstrip(_INDENT_BYTES))
    if i >= end:
        return to_end and i == len(data)  # the end of the text also ends every piece
    first = data[i]
    return first < 0x80 and first not in _LINE_START_UNSAFE and not (i == offset and first == _SLASH)


def _safe_cut_before(data: bytes, offset: int) -> int | None:
    """The last cut (see `_is_cut`) whose line starts before `offset` and whose leading blanks
    end before it too (0 if none): the text up to it reads the same before and after an
    edit at `offset`."""
    floor = max(0, offset - _MAX_CUT_DISTANCE)
    newline = data.rfind(b"\n", floor, offset - 1) if offset >= 2 else -1
    for _ in range(_MAX_BOUNDARY_SCAN):
        if newline < 0:
            return 0 if floor == 0 else None
        if _is_cut(data, newline + 1, offset, to_end=False):
            return newline + 1
        newline = data.rfind(b"\n", floor, newline)
    return None


def _safe_cut_after(data: bytes, offset: int) -> int | None:
    """The first cut (see `_is_cut`) after `offset` (the end of the text if none)."""
    ceiling = offset + _MAX_CUT_DISTANCE
    newline = data.find(b"\n", offset, ceiling)
    for _ in range(_MAX_BOUNDARY_SCAN):
        if newline < 0:
            return len(data) if ceiling >= len(data) else None
        if _is_cut(data, newline + 1, len(data), to_end=True):
            return newline + 1
        newline = data.find(b"\n", newline + 1, ceiling)
    return None


def count_after_edits(
    tokenizer: Tokenizer,
    original: bytes,
    ids: array[int],
    edits: Sequence[tuple[int, int, bytes]],
    output: bytes,
) -> int | None:
    """Exact tokens of `output` as `Tokenizer.count` counts it, where `output` is `original`
    (UTF-8, whose token `ids` these are, as `_Counter` keeps them) with each
    `(start, end, replacement)` of `edits` (byte offsets, sorted, not overlapping) applied.
    None when the encoding is not one this is known to hold for, or a safe cut is not found
    near an edit (then count `output` directly).

    Each edit is widened to whole lines, cut where no pre-tokenizer piece can cross (see
    the module notes); the widened stretches of `output` are encoded (together), the
    tokens of the stretches between them are counted from the ids. A text longer than the
    tokenizer's chunk is counted chunk by chunk, and its ids were made that way: the places
    where the original and the output are cut into chunks are treated as empty edits, so
    that no stretch counted from the ids holds one, and the changed stretches are encoded
    chunk by chunk."""
    if tokenizer.encoding_name not in _EDIT_SAFE_ENCODINGS:
        return None
    original_cuts = _chunk_cuts(original)
    output_cuts = _chunk_cuts(output)
    if original_cuts is None or output_cuts is None:
        return None
    if original_cuts or output_cuts:
        edits = _with_chunk_cuts(edits, original_cuts, output_cuts)
    if len(original) >= 1 << 31:
        return None  # offsets are summed in 32 bits, which halves the arrays of a long text
    lengths = _token_lengths(tokenizer.encoding_name)[np.frombuffer(ids, dtype=np.uint32)]
    ends = np.cumsum(lengths, dtype=np.int32)
    if not len(ends) or int(ends[-1]) != len(original):
        return None
    starts = ends - lengths
    del lengths, ends
    # Changed stretches: [start, end) of the original, shift of the output before them,
    # and the length change inside them.
    stretches: list[list[int]] = []
    shift = 0
    for start, end, replacement in edits:
        cut_start = _safe_cut_before(original, start)
        cut_end = _safe_cut_after(original, end)
        if cut_start is None or cut_end is None:
            return None
        change = len(replacement) - (end - start)
        if stretches and cut_start <= stretches[-1][1]:
            stretches[-1][1] = max(stretches[-1][1], cut_end)
            stretches[-1][3] += change
        else:
            stretches.append([cut_start, cut_end, shift, change])
        shift += change
    if len(output) != len(original) + shift:
        return None
    kept_from = [0] + [s[1] for s in stretches]
    kept_to = [s[0] for s in stretches] + [len(original)]
    first = np.searchsorted(starts, kept_from, side="left")
    last = np.searchsorted(starts, kept_to, side="left")
    total = int((last - first).sum())
    # The changed stretches of one chunk of the output are encoded in one go: each starts
    # and ends at a cut (or at the chunk's ends), so their concatenation is cut at the same
    # places and counts as they do one by one.
    changed: list[list[bytes]] = [[] for _ in range(len(output_cuts) + 1)]
    for start, end, before, change in stretches:
        low, high = start + before, end + before + change
        chunk = bisect.bisect_right(output_cuts, low)
        while low < high:
            piece_end = min(high, output_cuts[chunk]) if chunk < len(output_cuts) else high
            changed[chunk].append(output[low:piece_end])
            low = piece_end
            chunk += 1
    encoding = get_encoding(tokenizer.encoding_name)
    try:
        total += sum(len(encoding.encode_ordinary(b"".join(pieces).decode("utf-8"))) for pieces in changed)
    except UnicodeDecodeError:
        return None
    return total if tokenizer.factor == 1.0 else round(total * tokenizer.factor)


def _chunk_cuts(data: bytes) -> list[int] | None:
    """Byte offsets where `Tokenizer.count` cuts the text `data` (UTF-8) into chunks it
    encodes one by one (none for a text of one chunk); None if `data` is not UTF-8."""
    if len(data) <= _tokenizer._CHUNK_CHARS:
        return []  # no more characters than bytes: one chunk
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    one_byte_each = text.isascii()
    cuts = []
    position = 0
    for chunk in _chunks(text):
        position += len(chunk) if one_byte_each else len(chunk.encode("utf-8"))
        cuts.append(position)
    return cuts[:-1]


def _with_chunk_cuts(
    edits: Sequence[tuple[int, int, bytes]], original_cuts: list[int], output_cuts: list[int]
) -> list[tuple[int, int, bytes]]:
    """`edits` plus an empty edit at each chunk cut of the original and at each chunk cut of
    the output that falls in unchanged text (one in or at the end of a replacement is in
    that edit's stretch already), in original offsets, sorted."""
    points = list(original_cuts)
    shift = 0
    i = 0
    for cut in output_cuts:
        while i < len(edits) and edits[i][0] + shift + len(edits[i][2]) < cut:
            shift += len(edits[i][2]) - (edits[i][1] - edits[i][0])
            i += 1
        if i < len(edits) and edits[i][0] + shift <= cut:
            continue
        points.append(cut - shift)
    merged = [*edits, *((point, point, b"") for point in points)]
    merged.sort(key=lambda edit: (edit[0], edit[1]))
    return merged


def estimate_limit(max_input_bytes: int) -> int:
    """The size above which `compress()` estimates a part's tokens."""
    return min(max_input_bytes, ESTIMATE_ABOVE_BYTES)


def is_oversize(text: str, limit_bytes: int) -> bool:
    """More than `limit_bytes` of UTF-8 (cheap test first: a char is at most 4 bytes)."""
    return len(text) * 4 > limit_bytes and len(text.encode("utf-8", "surrogatepass")) > limit_bytes


def estimate_tokens(text: str, tokenizer: Tokenizer, above_bytes: int | None = None) -> int:
    """Exact, unless `text` is larger than `above_bytes` of UTF-8: then extrapolated from
    three samples (head, middle, tail), so the cost is bounded whatever the size.
    Deterministic."""
    if above_bytes is None or len(text) <= 3 * SAMPLE_CHARS or not is_oversize(text, above_bytes):
        return tokenizer.count(text)
    mid = len(text) // 2 - SAMPLE_CHARS // 2
    samples = (text[:SAMPLE_CHARS], text[mid : mid + SAMPLE_CHARS], text[-SAMPLE_CHARS:])
    sampled = sum(tokenizer.count(s) for s in samples)
    return max(1, round(sampled * len(text) / (3 * SAMPLE_CHARS)))


def image_tokens(block: Mapping[str, Any], model: str, provider: str | None = None) -> int:
    try:
        from headroom_core.images import estimate_block_tokens
    except ImportError:  # the [image] extra is not installed
        return FALLBACK_IMAGE_TOKENS
    return estimate_block_tokens(block, model, provider)


class _Counter:
    """Counts text with a memo, so one `compress()` call never encodes the same string twice."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        memo: dict[str, int] | None = None,
        image_provider: str | None = None,
        estimate_above: int | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.memo = memo if memo is not None else {}
        self.image_provider = image_provider
        self.estimate_above = estimate_above
        self.ids: dict[tuple[str, str], array[int]] | None = None
        """Where large texts' token ids go (see `count_after_edits`); None keeps none."""
        self.kept_tokens = 0

    def __call__(self, text: str) -> int:
        if len(text) < 256:  # hashing is not worth it for short strings
            return self.tokenizer.count(text)
        n = self.memo.get(text)
        if n is None:
            n = self._with_ids(text)
            if n is None:
                n = estimate_tokens(text, self.tokenizer, self.estimate_above)
            self.memo[text] = n
        return n

    def _with_ids(self, text: str) -> int | None:
        """The exact count of `text`, keeping its token ids; None when they are not kept."""
        tokenizer = self.tokenizer
        if (
            self.ids is None
            or len(text) < _IDS_MIN_CHARS
            or tokenizer.encoding_name not in _EDIT_SAFE_ENCODINGS
            or self.kept_tokens > _IDS_MAX_TOKENS
            or (self.estimate_above is not None and is_oversize(text, self.estimate_above))
        ):
            return None
        # What `Tokenizer.count` counts (chunk by chunk above its chunk size), kept.
        if len(text) <= _tokenizer._CHUNK_CHARS:
            ids = array("I", tokenizer.encode(text))
        else:
            ids = array("I")
            for chunk in _chunks(text):
                ids.extend(tokenizer.encode(chunk))
        self.ids[(tokenizer.encoding_name, text)] = ids
        self.kept_tokens += len(ids)
        return len(ids) if tokenizer.factor == 1.0 else round(len(ids) * tokenizer.factor)


def _content_tokens(content: Any, count: Any, model: str, nested: bool = False) -> int:
    if isinstance(content, str):
        return count(content)
    total = 0
    if isinstance(content, list):
        for block in content:
            if isinstance(block, Mapping) and _is_image(block):
                total += image_tokens(block, model, count.image_provider)
            elif isinstance(block, Mapping) and block.get("type") == "tool_result" and not nested:
                total += _content_tokens(block.get("content"), count, model, nested=True)
            else:
                total += sum(count(t) for t in _block_text(block))
    return total


def count_message_tokens(
    message: Mapping[str, Any],
    model: str = DEFAULT_MODEL,
    *,
    memo: dict[str, int] | None = None,
    image_provider: str | None = None,
    estimate_above: int | None = None,
) -> int:
    """Tokens of one message: overhead, content (text, tool results, images), tool calls.

    `estimate_above` (what `compress()` passes: `max_input_bytes`) estimates larger texts."""
    return _message_tokens(
        message, _Counter(get_tokenizer(model), memo, image_provider, estimate_above), model
    )


def _message_tokens(message: Mapping[str, Any], count: _Counter, model: str) -> int:
    total = MESSAGE_OVERHEAD + _content_tokens(message.get("content"), count, model)
    for name, arguments in tool_call_texts(message):
        total += count(name) + count(arguments)
    if isinstance(message.get("name"), str):
        total += count(message["name"])
    return total


def count_tokens(
    text_or_messages: str | Sequence[Mapping[str, Any]],
    model: str = DEFAULT_MODEL,
    *,
    memo: dict[str, int] | None = None,
    image_provider: str | None = None,
    estimate_above: int | None = None,
) -> int:
    """Tokens in a string, or in a whole conversation (with per-message overhead).

    Images are priced for `image_provider` ('openai', 'anthropic', 'gemini'); None infers
    it from the model name.

    `memo` (text -> count) lets a caller that counts the same long strings again (the
    pipeline: before, per slot, after) pay for each encode once.
    """
    if isinstance(text_or_messages, str):
        return get_tokenizer(model).count(text_or_messages)
    if isinstance(text_or_messages, (bytes, bytearray)):
        raise TypeError("count_tokens() takes text (str) or a list of messages, not bytes")
    if not isinstance(text_or_messages, Sequence):
        raise TypeError(
            f"count_tokens() expected a str or a list of message dicts, got {type(text_or_messages).__name__}"
        )
    if not text_or_messages:
        return 0
    messages: list[Mapping[str, Any]] = []
    for i, message in enumerate(text_or_messages):
        if not isinstance(message, Mapping):
            raise TypeError(f"message {i} should be a dict, got {type(message).__name__}")
        messages.append(message)
    count = _Counter(get_tokenizer(model), memo, image_provider, estimate_above)
    if memo is not None:
        # The pipeline's count (with its memo): keep large texts' token ids for the
        # compressors that run next; a later count with the memo replaces (releases) them.
        count.ids = {}
    total = REPLY_PRIMING + sum(_message_tokens(m, count, model) for m in messages)
    if count.ids is not None:
        _token_ids.set(count.ids or None)
    return total
