"""Accounting for one LLM call: tokens before/after compression, the provider's usage, cost in USD.

One module that the SDK, the framework adapters and the proxy all call, so that each reports
the same numbers for the same call:

    >>> from headroom_core import account_call, parse_usage
    >>> usage = parse_usage({"input_tokens": 1200, "output_tokens": 80, "cache_read_input_tokens": 4000})
    >>> account = account_call("claude-sonnet-4-5", usage, tokens_before=9000, tokens_after=5200)
    >>> account.cost_usd, account.saved_usd
    (0.006, 0.0114)

Prices come from `headroom_core/data/prices.json` (USD per million tokens; its `taken` date and
`source` say where the numbers are from), extended or overridden by a user file given with
`load_prices(path)` or `$HEADROOM_PRICES` (TOML or JSON, same shape). A model the table does not
know is "unpriced": its cost is None, never another model's price. Matching is by exact id after
removing what only names a deployment (a `provider/` prefix, Bedrock's region and `-v1:0`, Vertex's
`@date`, a dated snapshot suffix); a dated id with a price of its own keeps it.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from headroom_core._errors import PriceFileError

log = logging.getLogger("headroom.accounting")

PRICES_ENV = "HEADROOM_PRICES"
"""A TOML or JSON price file that extends or overrides the shipped table."""

UNPRICED = "unpriced"
PRICED = "priced"

_DATA_FILE = Path(__file__).parent / "data" / "prices.json"


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float
    cache_read: float
    cache_write: float
    provider: str | None = None

    def cost(self, usage: Usage) -> float:
        return (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_read_tokens * self.cache_read
            + usage.cache_write_tokens * self.cache_write
        ) / 1e6


@dataclass(frozen=True)
class Usage:
    """Tokens the provider billed for one call, in disjoint buckets.

    `input_tokens` is the uncached input only: OpenAI's `prompt_tokens` includes its cached
    tokens, so the parser subtracts them; Anthropic already reports them apart.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def prompt_tokens(self) -> int:
        """All input tokens, cached or not."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
        )

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class CallAccount:
    """The figures for one call, as every Headroom surface reports them."""

    model: str | None
    usage: Usage | None
    tokens_before: int | None
    tokens_after: int | None
    cost_usd: float | None
    """None when the model is unpriced or the provider reported no usage."""
    saved_usd: float | None
    """What the removed tokens would have cost at the model's input price (None: unpriced)."""
    pricing: str
    """`PRICED` or `UNPRICED`."""

    @property
    def tokens_saved(self) -> int:
        if self.tokens_before is None or self.tokens_after is None:
            return 0
        return max(0, self.tokens_before - self.tokens_after)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "usage": self.usage.as_dict() if self.usage is not None else None,
            "tokens_before": self.tokens_before,
            "tokens_after": self.tokens_after,
            "tokens_saved": self.tokens_saved,
            "cost_usd": self.cost_usd,
            "saved_usd": self.saved_usd,
            "pricing": self.pricing,
        }


# --------------------------------------------------------------------------- usage parsing


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(0, value)
    if isinstance(value, float) and value == value:  # not NaN
        return max(0, int(value))
    return 0


def parse_usage(block: Any) -> Usage | None:
    """A provider's `usage` block as `Usage`; None when it is not one.

    Reads Anthropic Messages (`input_tokens`, `cache_read_input_tokens`,
    `cache_creation_input_tokens`), OpenAI Chat Completions (`prompt_tokens`,
    `prompt_tokens_details.cached_tokens`), OpenAI Responses (`input_tokens`,
    `input_tokens_details.cached_tokens`), Google (`promptTokenCount`,
    `cachedContentTokenCount`, `candidatesTokenCount`) and LangChain's `usage_metadata`
    (`input_token_details.cache_read` / `cache_creation`).
    """
    if not isinstance(block, Mapping):
        return None
    if "promptTokenCount" in block or "candidatesTokenCount" in block:  # Google
        cached = _int(block.get("cachedContentTokenCount"))
        prompt = _int(block.get("promptTokenCount"))
        output = _int(block.get("candidatesTokenCount")) + _int(block.get("thoughtsTokenCount"))
        return Usage(max(0, prompt - cached), output, cached, 0)
    if "prompt_tokens" in block or "completion_tokens" in block:  # OpenAI Chat Completions
        details = block.get("prompt_tokens_details")
        cached = _int(details.get("cached_tokens")) if isinstance(details, Mapping) else 0
        prompt = _int(block.get("prompt_tokens"))
        return Usage(max(0, prompt - cached), _int(block.get("completion_tokens")), cached, 0)
    if "input_tokens" not in block and "output_tokens" not in block:
        return None
    if "cache_read_input_tokens" in block or "cache_creation_input_tokens" in block:  # Anthropic
        return Usage(
            _int(block.get("input_tokens")),
            _int(block.get("output_tokens")),
            _int(block.get("cache_read_input_tokens")),
            _int(block.get("cache_creation_input_tokens")),
        )
    lc_details = block.get("input_token_details")
    if isinstance(lc_details, Mapping):  # LangChain usage_metadata: input_tokens includes the cache
        read = _int(lc_details.get("cache_read"))
        write = _int(lc_details.get("cache_creation"))
        prompt = _int(block.get("input_tokens"))
        return Usage(max(0, prompt - read - write), _int(block.get("output_tokens")), read, write)
    details = block.get("input_tokens_details")
    if isinstance(details, Mapping):  # OpenAI Responses: input_tokens includes cached_tokens
        cached = _int(details.get("cached_tokens"))
        prompt = _int(block.get("input_tokens"))
        return Usage(max(0, prompt - cached), _int(block.get("output_tokens")), cached, 0)
    # Anthropic without cache fields, or any plain {input_tokens, output_tokens}.
    return Usage(_int(block.get("input_tokens")), _int(block.get("output_tokens")))


def usage_from_response(body: Any) -> Usage | None:
    """The usage of a whole (non-streamed) response body of any supported provider."""
    if not isinstance(body, Mapping):
        return None
    usage = body.get("usage")
    if usage is None:
        usage = body.get("usageMetadata")  # Google
    if usage is None and isinstance(body.get("response"), Mapping):  # Responses API event
        usage = body["response"].get("usage")
    return parse_usage(usage)


class StreamUsage:
    """Collects usage from a provider's streamed events (each event's JSON `data`).

    Anthropic sends input and cache tokens in `message_start` and the running output count in
    `message_delta`; OpenAI Chat sends one chunk with `usage` when the client asked for
    `stream_options.include_usage`; the Responses API puts it on `response.completed`.
    """

    def __init__(self) -> None:
        self._input: Usage | None = None
        self._output: int | None = None
        self._whole: Usage | None = None

    def feed(self, event: Any) -> None:
        if not isinstance(event, Mapping):
            return
        kind = event.get("type")
        if kind == "message_start" and isinstance(event.get("message"), Mapping):
            self._input = parse_usage(event["message"].get("usage"))
        elif kind == "message_delta":
            usage = event.get("usage")
            if isinstance(usage, Mapping) and "output_tokens" in usage:
                self._output = _int(usage.get("output_tokens"))
                # Some gateways report input here too (and only here).
                if self._input is None and "input_tokens" in usage:
                    self._input = parse_usage(usage)
        else:
            whole = usage_from_response(event)
            if whole is not None:
                self._whole = whole

    def result(self) -> Usage | None:
        if self._whole is not None:
            return self._whole
        if self._input is None and self._output is None:
            return None
        base = self._input or Usage()
        output = self._output if self._output is not None else base.output_tokens
        return Usage(base.input_tokens, output, base.cache_read_tokens, base.cache_write_tokens)


# --------------------------------------------------------------------------- prices

_DATE_SUFFIX = re.compile(r"(?:-\d{4}-\d{2}-\d{2}|-\d{8}|-latest)$")
_BEDROCK_VERSION = re.compile(r"-v\d+(?::\d+)?$")
_BEDROCK_REGION = ("us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.")
_VENDOR_PREFIX = ("anthropic.", "openai.", "google.")


def _candidates(model: str) -> list[str]:
    """Ids to try, most specific first. Each step drops only what names a deployment or a
    dated snapshot, never part of the model's own name (`gpt-4o-mini` never becomes `gpt-4o`)."""
    name = model.strip().lower()
    out = [name]
    if "/" in name:  # "anthropic/claude-...", "models/gemini-...", "publishers/google/models/..."
        name = name.rsplit("/", 1)[1]
        out.append(name)
    if "@" in name:  # Vertex: "claude-sonnet-4-5@20250929"
        name = name.split("@", 1)[0]
        out.append(name)
    for prefix in _BEDROCK_REGION:
        if name.startswith(prefix):
            name = name[len(prefix) :]
            out.append(name)
            break
    for prefix in _VENDOR_PREFIX:
        if name.startswith(prefix):
            name = name[len(prefix) :]
            out.append(name)
            break
    stripped = _BEDROCK_VERSION.sub("", name)
    if stripped != name:
        name = stripped
        out.append(name)
    stripped = _DATE_SUFFIX.sub("", name)
    if stripped != name and stripped:
        out.append(stripped)
    return out


class PriceTable:
    """Model id -> `Price`. Build with `default_prices()` or `load_prices(...)`."""

    def __init__(self, prices: Mapping[str, Price], *, taken: str | None = None, source: str | None = None):
        self._prices = {k.lower(): v for k, v in prices.items()}
        self.taken = taken
        self.source = source
        self._cache: dict[str, Price | None] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._prices)

    def __contains__(self, model: object) -> bool:
        return isinstance(model, str) and self.lookup(model) is not None

    def models(self) -> list[str]:
        return sorted(self._prices)

    def lookup(self, model: str | None) -> Price | None:
        """The price for `model`, or None when the table does not know it (unpriced)."""
        if not isinstance(model, str) or not model:
            return None
        hit = self._cache.get(model, _MISS)
        if hit is not _MISS:
            return hit  # type: ignore[return-value]
        price = None
        for name in _candidates(model):
            price = self._prices.get(name)
            if price is not None:
                break
        with self._lock:
            if len(self._cache) > 4096:  # model names come from clients: keep the memo bounded
                self._cache.clear()
            self._cache[model] = price
        return price

    def merged(self, other: PriceTable) -> PriceTable:
        """This table with `other`'s entries added or replacing ours."""
        prices = dict(self._prices)
        prices.update(other._prices)
        return PriceTable(prices, taken=other.taken or self.taken, source=other.source or self.source)


_MISS = object()


def _price_from(name: str, entry: Any, where: str) -> Price:
    if not isinstance(entry, Mapping):
        raise PriceFileError(f"{where}: model {name!r} must be a table of prices")
    values: dict[str, float] = {}
    for field_name in ("input", "output", "cache_read", "cache_write"):
        value = entry.get(field_name)
        if value is None and field_name in ("cache_read", "cache_write"):
            value = entry.get("input")  # no cache pricing: cached tokens bill as input
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != value:
            raise PriceFileError(
                f"{where}: model {name!r} needs a non-negative number for {field_name!r}, got {value!r}"
            )
        values[field_name] = float(value)
    provider = entry.get("provider")
    return Price(**values, provider=provider if isinstance(provider, str) else None)


def parse_price_document(doc: Any, where: str = "price file") -> PriceTable:
    """A price table from a decoded TOML/JSON document: `{"taken", "source", "models": {id: {...}}}`."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("models"), Mapping):
        raise PriceFileError(f"{where}: needs a `models` table of model id -> prices")
    prices = {str(name): _price_from(str(name), entry, where) for name, entry in doc["models"].items()}
    taken = doc.get("taken")
    source = doc.get("source")
    return PriceTable(prices, taken=str(taken) if taken else None, source=str(source) if source else None)


def read_price_file(path: str | os.PathLike[str]) -> PriceTable:
    """A user price file, TOML (`.toml`) or JSON (anything else)."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise PriceFileError(f"cannot read price file {path}: {exc.strerror or exc}") from None
    if path.endswith(".toml"):
        try:
            toml = importlib.import_module("tomllib")
        except ModuleNotFoundError:  # Python 3.10 (the [proxy] extra installs tomli there)
            toml = importlib.import_module("tomli")
        try:
            doc = toml.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:  # TOMLDecodeError is a ValueError
            raise PriceFileError(f"price file {path} is not valid TOML: {exc}") from None
    else:
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PriceFileError(f"price file {path} is not valid JSON: {exc}") from None
    return parse_price_document(doc, f"price file {path}")


_default_lock = threading.Lock()
_default: PriceTable | None = None


def shipped_prices() -> PriceTable:
    """The table shipped in the package (see its `taken` and `source`)."""
    global _default
    with _default_lock:
        if _default is None:
            with open(_DATA_FILE, "rb") as fh:
                _default = parse_price_document(json.loads(fh.read()), str(_DATA_FILE))
        return _default


def load_prices(path: str | os.PathLike[str] | None = None) -> PriceTable:
    """The shipped table extended/overridden by `path` (or `$HEADROOM_PRICES` when path is None)."""
    table = shipped_prices()
    path = path if path is not None else (os.environ.get(PRICES_ENV) or None)
    if path:
        table = table.merged(read_price_file(path))
    return table


def default_prices() -> PriceTable:
    """`load_prices()` memoised per `$HEADROOM_PRICES` value. A broken user file is logged once
    and ignored (the shipped table stays in use): accounting never fails a call."""
    env = os.environ.get(PRICES_ENV) or None
    with _env_lock:
        cached = _env_tables.get(env)
    if cached is not None:
        return cached
    try:
        table = load_prices(env)
    except PriceFileError as exc:
        log.warning("%s; using the shipped prices", exc)
        table = shipped_prices()
    with _env_lock:
        _env_tables[env] = table
    return table


_env_lock = threading.Lock()
_env_tables: dict[str | None, PriceTable] = {}


# --------------------------------------------------------------------------- one call


def account_call(
    model: str | None,
    usage: Usage | Mapping[str, Any] | None,
    *,
    tokens_before: int | None = None,
    tokens_after: int | None = None,
    prices: PriceTable | None = None,
) -> CallAccount:
    """Cost and savings of one call. `usage` may be a `Usage` or a raw provider block.

    Without usage (the provider sent none, or the call failed) the cost is None; the savings
    are still priced from the compression's own token counts.
    """
    if usage is not None and not isinstance(usage, Usage):
        usage = parse_usage(usage)
    table = prices if prices is not None else default_prices()
    price = table.lookup(model)
    cost = saved = None
    if price is not None:
        if usage is not None:
            cost = round(price.cost(usage), 10)
        if tokens_before is not None and tokens_after is not None:
            saved = round(max(0, tokens_before - tokens_after) * price.input / 1e6, 10)
    return CallAccount(
        model, usage, tokens_before, tokens_after, cost, saved, PRICED if price is not None else UNPRICED
    )
