"""The MCP server: Headroom's compress, retrieve and stats tools for MCP clients.

Built on the official `mcp` SDK, 2.x line (`mcp.server.mcpserver.MCPServer`; in 1.x the
same class was `FastMCP`). The tools are thin: compression is `headroom_core.compress_text`,
retrieval is `headroom_core.retrieval_answer`, and both read and write the same CCR store
as the SDK and the proxy (`HeadroomConfig()`'s default directory unless told otherwise),
so a marker from either is retrievable here and the other way round.

The event loop never does the work: compression and retrieval run in worker threads under
a timeout. A compression that times out or fails returns the content unchanged with a note
(fail open); arguments the model got wrong are tool errors with a sentence saying what to
send instead.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import anyio
import anyio.to_thread
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from headroom_core import (
    DEFAULT_MODEL,
    RETRIEVE_TOOL_DESCRIPTION,
    RETRIEVE_TOOL_NAME,
    RETRIEVE_TOOL_PARAMETERS,
    HeadroomConfig,
    compress_text,
    retrieval_answer,
)
from headroom_core._answer import DEFAULT_ANSWER_MAX_TOKENS
from headroom_core._usage import record_usage, summarize, usage_path
from headroom_core._version import __version__

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = [
    "COMPRESS_TOOL_DESCRIPTION",
    "COMPRESS_TOOL_NAME",
    "SERVER_NAME",
    "STATS_TOOL_DESCRIPTION",
    "STATS_TOOL_NAME",
    "MCPSettings",
    "create_server",
    "http_app",
]

log = logging.getLogger("headroom.mcp")

SERVER_NAME = "headroom"
"""Clients show the tools as `mcp__headroom__headroom_retrieve` and so on."""
COMPRESS_TOOL_NAME = "headroom_compress"
STATS_TOOL_NAME = "headroom_stats"
USAGE_SOURCE = "mcp"

KINDS = ("auto", "json", "code", "log", "search", "test", "diff", "text")
"""The `kind` keywords; anything else is read as a file path or the command that produced the content."""

COMPRESS_TOOL_DESCRIPTION = (
    "Shrink a large piece of text you hold (a tool output, a file, a log, a JSON document, "
    "search or test results) before you keep it in your context or pass it on. Call it when "
    "a text is long (thousands of tokens) and you need only part of it; do not call it on "
    "short texts or on text you must reproduce exactly. Headroom keeps what matters (errors, "
    "what matches `query`, structure) and replaces what it drops with markers like "
    '[headroom: 1,843 items omitted; retrieve with headroom_retrieve(key="3f9a0c5e1b2d4a6c8e0f1a2b")]; '
    f"nothing is lost: call {RETRIEVE_TOOL_NAME} with that key to get the original or the part "
    "you need. Arguments: `content` (required) is the text itself; `kind` (optional) says what "
    "it is: one of log, search, test, code, json, diff, text, auto (default), or the file path "
    'or shell command it came from (e.g. "app/server.log", "pytest -q", "grep -rn TODO src"); '
    "`query` (optional) is what you are looking for, so the matching parts are kept; `model` "
    "(optional) is the model whose tokenizer counts tokens (default gpt-4o). Returns the "
    "compressed text, then a line with the tokens before and after and the keys to retrieve. "
    'Example: headroom_compress(content="<12,000 lines of CI log>", kind="log", query="OOMKilled").'
)

STATS_TOOL_DESCRIPTION = (
    "Report how many tokens Headroom saved: in this session (this server process), overall "
    "(every headroom_compress call recorded in the shared usage log, across sessions), and by the "
    "Headroom proxy when one runs on this machine (from its request log). Takes no arguments. "
    "Call it when the user asks what Headroom saved; it is never needed to do work. "
    "Example: headroom_stats()."
)

_MB = 1024 * 1024
_KIND_HELP = (
    f"What the content is: one of {', '.join(KINDS)}, or the file path or shell command it came "
    'from (e.g. "app/server.log", "pytest -q"). Default: auto (detected from the content).'
)
_RETRIEVE_ARGS = {name: spec["description"] for name, spec in RETRIEVE_TOOL_PARAMETERS["properties"].items()}


@dataclass(frozen=True)
class MCPSettings:
    """What `headroom mcp` can be told. Validates itself."""

    config: HeadroomConfig = field(default_factory=HeadroomConfig)
    """Which CCR store to use and how to compress. The default config means the same store
    directory as the SDK and the proxy (`$HEADROOM_CCR_DIR` or the user cache dir)."""
    answer_max_tokens: int = DEFAULT_ANSWER_MAX_TOKENS
    """Cap on one `headroom_retrieve` answer, in tokens."""
    compress_timeout_seconds: float = 30.0
    """A compression running longer returns the content unchanged (with a note)."""
    retrieve_timeout_seconds: float = 30.0
    max_content_bytes: int = 16 * _MB
    """Larger `content` is refused with a tool error (UTF-8 bytes)."""
    default_model: str = DEFAULT_MODEL
    worker_threads: int = 4
    """At most this many compressions/retrievals run at once; more wait (inside their timeout)."""
    record_usage: bool = True
    """Append each compression to the shared usage log (numbers only, never content)."""

    def __post_init__(self) -> None:
        if not isinstance(self.config, HeadroomConfig):
            raise TypeError(f"MCPSettings.config must be a HeadroomConfig, got {type(self.config).__name__}")
        for name in ("answer_max_tokens", "max_content_bytes", "worker_threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"MCPSettings.{name} must be a positive int, got {value!r}")
        for name in ("compress_timeout_seconds", "retrieve_timeout_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"MCPSettings.{name} must be a positive number of seconds, got {value!r}")
        if not isinstance(self.default_model, str) or not self.default_model:
            raise ValueError(f"MCPSettings.default_model must be a model name, got {self.default_model!r}")


# --------------------------------------------------------------------------- arguments

_ARGUMENTS: dict[str, dict[str, tuple[type, bool, str]]] = {
    # name -> argument -> (type, required, what to send)
    COMPRESS_TOOL_NAME: {
        "content": (str, True, "the text to compress"),
        "kind": (str, False, f"one of {', '.join(KINDS)}, or a file path or command"),
        "query": (str, False, "a few words saying what you are looking for"),
        "model": (str, False, 'a model name such as "gpt-4o" or "claude-sonnet-4-5"'),
    },
    RETRIEVE_TOOL_NAME: {
        "key": (str, True, "the key copied from a Headroom marker"),
        "query": (str, False, "a few words, names, ids or values to look for"),
        "limit": (int, False, "a whole number of items or lines, at least 1"),
    },
    STATS_TOOL_NAME: {},
}
_MAX_CHARS = {"kind": 1_000, "model": 200, "query": 20_000, "key": 10_000}
"""Longest accepted text per argument (`content` has its own limit in bytes)."""
_ECHO_NAMES = 5

_TYPE_WORDS = {str: "text (a string)", int: "a whole number"}


def _type_name(value: Any) -> str:
    return {str: "a string", int: "a number", float: "a number", bool: "true/false", list: "a list"}.get(
        type(value), "an object" if isinstance(value, dict) else type(value).__name__
    )


def check_arguments(tool: str, arguments: dict[str, Any], settings: MCPSettings) -> dict[str, Any]:
    """The arguments with numbers-as-text repaired, or `ToolError` with a sentence the model can act on."""
    spec = _ARGUMENTS.get(tool)
    if spec is None:
        return arguments  # not ours: the SDK answers "Unknown tool"
    unknown = sorted(str(k)[:40] for k in arguments if k not in spec)
    if unknown:
        allowed = ", ".join(spec) or "none"
        more = f" and {len(unknown) - _ECHO_NAMES:,} more" if len(unknown) > _ECHO_NAMES else ""
        raise ToolError(
            f"{tool} got unknown argument(s) {', '.join(unknown[:_ECHO_NAMES])}{more}; it takes: {allowed}."
        )
    fixed = dict(arguments)
    for name, (kind, required, what) in spec.items():
        value = arguments.get(name)
        if value is None:
            if required:
                raise ToolError(f"{tool} needs `{name}`: {what}.")
            fixed.pop(name, None)  # an explicit null means "not given"
            continue
        digits = value.strip() if kind is int and isinstance(value, str) else ""
        if 0 < len(digits) <= 9 and digits.isascii() and digits.isdigit():
            value = fixed[name] = int(digits)  # models sometimes quote numbers
        if kind is int and isinstance(value, float) and value.is_integer():
            value = fixed[name] = int(value)
        if isinstance(value, bool) or not isinstance(value, kind):
            raise ToolError(
                f"{tool}: `{name}` must be {_TYPE_WORDS[kind]}, got {_type_name(value)}; send {what}."
            )
        if kind is int and isinstance(value, int) and value < 1:
            raise ToolError(f"{tool}: `{name}` must be at least 1, got {value}.")
        if kind is str and isinstance(value, str) and len(value) > _MAX_CHARS.get(name, len(value)):
            raise ToolError(
                f"{tool}: `{name}` is {len(value):,} characters, longer than the {_MAX_CHARS[name]:,} "
                f"accepted; send {what}."
            )
    content = fixed.get("content")
    if tool == COMPRESS_TOOL_NAME and isinstance(content, str):
        size = _utf8_size(content, settings.max_content_bytes)
        if size > settings.max_content_bytes:
            raise ToolError(
                f"{tool}: `content` is {size / _MB:,.1f} MB, over this server's "
                f"{settings.max_content_bytes / _MB:,.1f} MB limit. Compress it in parts of at most "
                "that size, or read only the part you need (e.g. with head, tail or grep) first."
            )
        if not content.strip():
            raise ToolError(f"{tool}: `content` is empty; send the text to compress.")
    return fixed


def _utf8_size(text: str, limit: int) -> int:
    """The UTF-8 size of `text`, computed exactly only when it could be near `limit`."""
    if len(text) > limit:  # at least one byte per character: over for sure
        return len(text)
    if len(text) * 4 <= limit:  # at most four bytes per character: under for sure
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def _route_hints(kind: str | None) -> tuple[str | None, dict[str, str] | None, bool]:
    """(tool_name, tool_args, hints_are_synthetic) telling the router what `kind` says."""
    if kind is None:
        return None, None, False
    word = kind.strip().lower()
    if word in ("", "auto", "json", "code", "diff", "text"):
        return None, None, False  # recognised by shape; a hint would add nothing
    if word in ("log", "logs"):
        return None, {"path": "content.log"}, True
    if word in ("search", "search_results", "grep"):
        return "search", None, True
    if word in ("test", "tests", "test_output"):
        return None, {"command": "pytest"}, True
    text = kind.strip()[:1000]
    if not any(c.isspace() for c in text) and ("/" in text or "." in text):
        return None, {"path": text}, False
    return None, {"command": text}, False


# --------------------------------------------------------------------------- session counters


class _Busy(Exception):
    """Too many worker threads are still running (some abandoned after a timeout)."""


@dataclass
class _Session:
    started: float = field(default_factory=time.time)
    compressions: int = 0
    retrievals: int = 0
    tokens_before: int = 0
    tokens_after: int = 0


class HeadroomMCPServer(MCPServer):
    """`MCPServer` that checks arguments itself, so a wrong call gets a plain sentence
    (not a validation dump) and never reaches the tool body."""

    def __init__(self, settings: MCPSettings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.headroom_settings = settings

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        if not isinstance(arguments, dict):
            raise ToolError(f"{name}: arguments must be an object of named values.")
        checked = check_arguments(name, arguments, self.headroom_settings)
        return await super().call_tool(name, checked, context)


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def _pct(part: int, whole: int) -> str:
    """Rounded down: 99.6% saved is not "100% saved"."""
    return f"{part * 100 // whole}%" if whole else "0%"


def _footer(before: int, after: int, keys: tuple[str, ...], note: str) -> str:
    saved = before - after
    pct = f" ({_pct(saved, before)} saved)" if before and saved > 0 else ""
    parts = [f"[headroom: {before:,} -> {after:,} tokens{pct}"]
    if keys:
        shown = ", ".join(f'"{k}"' for k in keys[:20])
        more = f" and {len(keys) - 20:,} more" if len(keys) > 20 else ""
        parts.append(f"; retrieve what was omitted with {RETRIEVE_TOOL_NAME}(key=...) using {shown}{more}")
    if note:
        parts.append(f"; {note}")
    return "".join(parts) + "]"


def create_server(settings: MCPSettings | None = None) -> HeadroomMCPServer:
    """The `headroom` MCP server with its three tools (not yet running)."""
    settings = settings or MCPSettings()
    config = settings.config
    session = _Session()
    limiter = anyio.CapacityLimiter(settings.worker_threads)

    server = HeadroomMCPServer(
        settings,
        name=SERVER_NAME,
        title="Headroom",
        version=__version__,
        instructions=(
            "Headroom compresses long texts and gives back what it omitted. When a text contains "
            f'a marker like [headroom: ...; retrieve with {RETRIEVE_TOOL_NAME}(key="...")], call '
            f"{RETRIEVE_TOOL_NAME} with that key if you need the omitted part."
        ),
        log_level="WARNING",
    )

    running = [0]  # threads at work, abandoned ones included
    running_lock = threading.Lock()

    def counted(fn: Any) -> Any:
        with running_lock:
            running[0] += 1
        try:
            return fn()
        finally:
            with running_lock:
                running[0] -= 1

    async def in_thread(fn: Any, timeout: float) -> tuple[bool, Any]:
        """(finished, result) of `fn()` in a worker thread; (False, None) after `timeout`.

        A thread that overruns is abandoned, not killed (Python cannot): it finishes in the
        background and frees its limiter slot at once. So that abandoned threads cannot pile
        up, no new work starts while twice `worker_threads` are still running (`_Busy`)."""
        if running[0] >= 2 * settings.worker_threads:
            raise _Busy
        with anyio.move_on_after(timeout):
            return True, await anyio.to_thread.run_sync(counted, fn, abandon_on_cancel=True, limiter=limiter)
        return False, None

    def usage(event: str, **fields: Any) -> None:
        if settings.record_usage:
            record_usage(USAGE_SOURCE, event, config=config, **fields)

    async def headroom_compress(
        content: Annotated[
            str, Field(description="The text to compress (a tool output, file, log or JSON).")
        ],
        kind: Annotated[str, Field(description=_KIND_HELP)] = "",
        query: Annotated[str, Field(description="What you are looking for; matching parts are kept.")] = "",
        model: Annotated[
            str, Field(description="Model whose tokenizer counts tokens (default gpt-4o).")
        ] = "",
    ) -> CallToolResult:
        model = model or settings.default_model
        tool_name, tool_args, synthetic = _route_hints(kind)
        abandoned = threading.Event()  # set on timeout: the late result is not the agent's, do not count it

        def work() -> Any:
            result = compress_text(
                content,
                model=model,
                query=query or ("" if synthetic else None),
                config=config,
                tool_name=tool_name,
                tool_args=tool_args,
            )
            if abandoned.is_set():
                return result
            usage(
                "compress",
                tokens_before=result.tokens_before,
                tokens_after=result.tokens_after,
                ccr_keys=len(result.ccr_keys),
                model=model,
                kind=result.route,
            )
            return result

        try:
            finished, result = await in_thread(work, settings.compress_timeout_seconds)
        except _Busy:
            log.warning(
                "headroom_compress: too many compressions still running; returning the content unchanged"
            )
            return _unchanged(content, "not compressed: the server is busy; this is the original", "busy")
        except Exception as exc:  # fail open: a compressor bug must not cost the agent its text
            log.warning(
                "headroom_compress failed (%s: %s); returning the content unchanged", type(exc).__name__, exc
            )
            note = f"not compressed: Headroom failed ({type(exc).__name__}); this is the original"
            return _unchanged(content, note, "error")
        if not finished:
            abandoned.set()
            log.warning(
                "headroom_compress timed out after %ss on %s chars; returning the content unchanged",
                settings.compress_timeout_seconds,
                f"{len(content):,}",
            )
            note = (
                f"not compressed: it took over {settings.compress_timeout_seconds:g}s; this is the original"
            )
            return _unchanged(content, note, "timeout")
        session.compressions += 1
        session.tokens_before += result.tokens_before
        session.tokens_after += result.tokens_after
        note = ""
        if result.text == content:
            note = (
                f"under {config.min_tokens:,} tokens: left as it is"
                if result.tokens_before < config.min_tokens
                else "nothing worth dropping: left as it is"
            )
        structured = {
            "tokens_before": result.tokens_before,
            "tokens_after": result.tokens_after,
            "tokens_saved": result.tokens_saved,
            "ccr_keys": list(result.ccr_keys),
            "route": result.route,
            "compressor": result.compressor,
            "summary": result.summary,
            "status": "compressed" if result.text != content else "unchanged",
        }
        footer = _footer(result.tokens_before, result.tokens_after, result.ccr_keys, note)
        return CallToolResult(
            content=[TextContent(type="text", text=result.text), TextContent(type="text", text=footer)],
            structured_content=structured,
        )

    async def headroom_retrieve(
        key: Annotated[str, Field(description=_RETRIEVE_ARGS["key"])],
        query: Annotated[str, Field(description=_RETRIEVE_ARGS["query"])] = "",
        limit: Annotated[int | None, Field(description=_RETRIEVE_ARGS["limit"])] = None,
    ) -> str:
        def work() -> str:
            answer = retrieval_answer(
                key, query or None, limit, max_tokens=settings.answer_max_tokens, config=config
            )
            usage("retrieve")
            return answer

        try:
            finished, answer = await in_thread(work, settings.retrieve_timeout_seconds)
        except _Busy:
            raise ToolError(
                f"{RETRIEVE_TOOL_NAME}: the server is busy; call again in a few seconds."
            ) from None
        except Exception as exc:  # retrieval_answer does not raise for bad keys; this is a bug or a crash
            log.warning("headroom_retrieve failed (%s: %s)", type(exc).__name__, exc)
            raise ToolError(
                f"{RETRIEVE_TOOL_NAME} failed ({type(exc).__name__}). Re-run the tool that produced "
                "that output if you need its full content."
            ) from None
        if not finished:
            raise ToolError(
                f"{RETRIEVE_TOOL_NAME} took over {settings.retrieve_timeout_seconds:g}s (the store is slow "
                "or busy). Try again with a `query` and a small `limit`, or re-run the tool that "
                "produced that output."
            )
        session.retrievals += 1
        return answer

    async def headroom_stats() -> CallToolResult:
        try:
            finished, overall = await in_thread(
                lambda: summarize(config=config), settings.retrieve_timeout_seconds
            )
        except Exception as exc:  # a broken log must not break the tool
            log.warning("headroom_stats could not read the usage log (%s: %s)", type(exc).__name__, exc)
            finished, overall = False, None
        saved = session.tokens_before - session.tokens_after
        pct = f" ({_pct(saved, session.tokens_before)})" if session.tokens_before else ""
        lines = [
            f"This session: {_n(session.compressions, 'compression')}, {session.tokens_before:,} -> "
            f"{session.tokens_after:,} tokens, {saved:,} tokens saved{pct}; {_n(session.retrievals, 'retrieval')}."
        ]
        structured: dict[str, Any] = {
            "session": {
                "compressions": session.compressions,
                "retrievals": session.retrievals,
                "tokens_before": session.tokens_before,
                "tokens_after": session.tokens_after,
                "tokens_saved": saved,
                "started": session.started,
            },
            "overall": None,
            "usage_log": usage_path(config),
        }
        if finished and overall is not None:
            since = (
                time.strftime(" since %Y-%m-%d", time.gmtime(overall.first_ts)) if overall.first_ts else ""
            )
            lines.append(
                f"Overall{since} (shared usage log): {_n(overall.compressions, 'compression')}, "
                f"{overall.tokens_before:,} -> {overall.tokens_after:,} tokens, "
                f"{overall.tokens_saved:,} tokens saved ({_pct(overall.tokens_saved, overall.tokens_before)}); "
                f"{_n(overall.retrievals, 'retrieval')}."
            )
            structured["overall"] = {
                "compressions": overall.compressions,
                "retrievals": overall.retrievals,
                "tokens_before": overall.tokens_before,
                "tokens_after": overall.tokens_after,
                "tokens_saved": overall.tokens_saved,
                "since": overall.first_ts,
                "tokens_saved_by_source": overall.by_source,
            }
        else:
            lines.append("Overall: the shared usage log could not be read.")
        try:
            finished, proxy = await in_thread(_proxy_totals, settings.retrieve_timeout_seconds)
        except Exception as exc:  # the proxy's log is optional here
            log.warning(
                "headroom_stats could not read the proxy's request log (%s: %s)", type(exc).__name__, exc
            )
            finished, proxy = False, None
        structured["proxy"] = proxy if finished else None
        if finished and proxy:
            lines.append(
                f"Proxy (request log): {_n(proxy['requests'], 'request')}, {proxy['tokens_before']:,} -> "
                f"{proxy['tokens_after']:,} tokens, {proxy['tokens_saved']:,} tokens saved "
                f"({_pct(proxy['tokens_saved'], proxy['tokens_before'])})."
            )
        return CallToolResult(
            content=[TextContent(type="text", text="\n".join(lines))], structured_content=structured
        )

    server.add_tool(
        headroom_compress,
        name=COMPRESS_TOOL_NAME,
        title="Compress a long text",
        description=COMPRESS_TOOL_DESCRIPTION,
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True),
    )
    server.add_tool(
        headroom_retrieve,
        name=RETRIEVE_TOOL_NAME,
        title="Retrieve what Headroom omitted",
        description=RETRIEVE_TOOL_DESCRIPTION,
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True),
        structured_output=False,
    )
    server.add_tool(
        headroom_stats,
        name=STATS_TOOL_NAME,
        title="Tokens saved",
        description=STATS_TOOL_DESCRIPTION,
        annotations=ToolAnnotations(read_only_hint=True),
    )
    return server


def _proxy_totals() -> dict[str, Any] | None:
    """Totals of the proxy's request log (`headroom_core._requestlog`, its default path), or
    None when there is no such log. Kept apart from the usage log's totals: the proxy counts
    requests, this server counts compressions."""
    from headroom_core import _requestlog

    path = _requestlog.default_log_path()
    if not _requestlog.log_files(path):
        return None
    total = _requestlog.summarize(_requestlog.read_entries(path))
    row = total["total"]
    return {
        "requests": row["requests"],
        "tokens_before": row["tokens_before"],
        "tokens_after": row["tokens_after"],
        "tokens_saved": row["tokens_saved"],
        "since": total.get("first_ts"),
        "request_log": path,
    }


def _unchanged(content: str, note: str, status: str) -> CallToolResult:
    return CallToolResult(
        content=[
            TextContent(type="text", text=content),
            TextContent(type="text", text=f"[headroom: {note}]"),
        ],
        structured_content={"status": status, "note": note, "ccr_keys": []},
    )


def http_app(server: HeadroomMCPServer, *, host: str = "127.0.0.1", path: str = "/mcp") -> Starlette:
    """The streamable-HTTP ASGI app for `server`, with a request-body limit that lets an
    oversized `content` reach the tool (and get a clear tool error) instead of a bare 413."""
    limit = max(4 * _MB, 4 * server.headroom_settings.max_content_bytes)
    return server.streamable_http_app(streamable_http_path=path, max_request_body_size=limit, host=host)
