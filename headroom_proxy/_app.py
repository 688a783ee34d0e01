"""The ASGI app: Starlette routes, one shared httpx client, compression off the event loop.

Request path for the LLM endpoints: read body -> compress its messages in a worker thread
(timeout; any failure forwards the original) -> maybe add the `headroom_retrieve` tool ->
send upstream -> stream the answer back as it arrives (or run the CCR loop).

Extension points (kept small on purpose, for the operations, backends and Redis work):
- `ProxyHooks.gates`: async callables run before a request goes upstream; one may return a
  Starlette `Response` to answer instead (budgets, rate limits).
- `ProxyHooks.observers`: callables given a `RequestRecord` when a request ends (metrics,
  request log).
- `ProxyHooks.routes`: extra Starlette routes (`/metrics`, `/stats`, `/dashboard`).
- `Proxy.upstream_request()` / `Proxy._send()`: the one place an upstream request is built and
  sent; each client format's `Backend` (direct or a cloud, `_backends/`) supplies the URL, the
  auth and the answer's translation.
- `ProxySettings.headroom_config()`: where the CCR store comes from; `Proxy.config_for(request)`
  picks the config per request (a tenant's own store).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from headroom_proxy import _adapter
from headroom_proxy._adapter import ANTHROPIC, OPENAI_CHAT, OPENAI_RESPONSES, Outcome
from headroom_proxy._backends import Backend, BackendError, UpstreamCall, backends_for
from headroom_proxy._backends import error_body as _error_body
from headroom_proxy._retrieval import Reply, Retriever, StreamLoop, add_retrieve_tool, run_rounds
from headroom_proxy._settings import ProxySettings
from headroom_proxy._usage_tap import StreamTap, usage_of_body

log = logging.getLogger("headroom.proxy")

# Hop-by-hop headers (RFC 9110 7.6.1) and the ones httpx recomputes for the upstream.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
_BYPASS_HEADER = "x-headroom-bypass"


@dataclass
class RequestRecord:
    """What observers get when a request ends. Never holds content or credentials."""

    provider: str
    endpoint: str
    model: str | None
    status: int
    stream: bool
    compression: str
    tokens_before: int | None
    tokens_after: int | None
    ccr_rounds: int
    seconds: float
    overhead_seconds: float
    usage: Any = None
    """The provider's billed usage (`headroom_core._accounting.Usage`), when it reported one."""
    first_byte_seconds: float | None = None
    """Streams: time from the request to the first byte of the answer."""
    notes: dict[str, Any] = field(default_factory=dict)
    """The same dict the gates got in `RequestInfo.notes` (hook-private data)."""


@dataclass
class RequestInfo:
    """What gates see before a request goes upstream (headers for hashing, never logging)."""

    provider: str
    endpoint: str
    model: str | None
    headers: Any
    outcome: Outcome
    payload: Any = None
    """The parsed request JSON (for estimates; never logged unless content logging is on)."""
    notes: dict[str, Any] = field(default_factory=dict)
    """Scratch space shared by gates and observers for one request. `response_headers`: a list
    of (bytes, bytes) added to the answer."""


@dataclass
class ProxyHooks:
    gates: list[Callable[[RequestInfo], Awaitable[Response | None]]] = field(default_factory=list)
    observers: list[Callable[[RequestRecord], None]] = field(default_factory=list)
    routes: list[BaseRoute] = field(default_factory=list)
    retrieval_observers: list[Callable[[str, str], None]] = field(default_factory=list)
    """Called with (provider, answer text) for each `headroom_retrieve` the proxy answers."""


def _request_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The client's headers minus hop-by-hop ones and Headroom's own `x-headroom-*` controls."""
    return [
        (k, v) for k, v in headers if k.lower() not in _HOP_BY_HOP and not k.lower().startswith("x-headroom-")
    ]


def _response_headers(response: httpx.Response, decoded: bool) -> list[tuple[bytes, bytes]]:
    drop = _HOP_BY_HOP | ({"content-encoding"} if decoded else frozenset())
    keep_length = not decoded
    out = []
    for k, v in response.headers.raw:
        name = k.lower()
        if (name == b"content-length" and keep_length) or name.decode("latin-1") not in drop:
            out.append((name, v))
    return out


class UpstreamStream(StreamingResponse):
    """A streamed answer that notices a client disconnect at once (whatever the ASGI version)
    and always closes the upstream response, so an abandoned generation stops upstream too."""

    def __init__(self, content: AsyncIterator[bytes], status: int, headers: list, on_close: Any) -> None:
        super().__init__(content, status_code=status)
        self.raw_headers = headers
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as group:

                async def stream() -> None:
                    with contextlib.suppress(OSError):  # client went away while we wrote
                        await self.stream_response(send)
                    group.cancel_scope.cancel()

                group.start_soon(stream)
                await self.listen_for_disconnect(receive)
                group.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                aclose = getattr(self.body_iterator, "aclose", None)
                if aclose is not None:
                    with contextlib.suppress(Exception):
                        await aclose()
                with contextlib.suppress(Exception):
                    await self._on_close()


class Proxy:
    """The proxy's state for one app: settings, the shared client, the compression threads."""

    def __init__(self, settings: ProxySettings | None = None, hooks: ProxyHooks | None = None) -> None:
        self.settings = settings or ProxySettings()
        self.hooks = hooks or ProxyHooks()
        self.operations: Any = None
        if hooks is None:  # metrics, request log, budgets, rate limits, /stats, /dashboard
            from headroom_proxy._ops import operations_for

            self.operations = operations_for(self.settings)
            self.operations.install(self.hooks)
        self.config = self.settings.headroom_config()
        self.backends: dict[str, Backend] = backends_for(self.settings)
        self._tenant_configs: dict[str, Any] = {}
        self.client: httpx.AsyncClient | None = None
        self.executor: ThreadPoolExecutor | None = None
        self._warm_up: asyncio.Future | None = None

    # -- lifecycle ---------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        s = self.settings
        self.executor = ThreadPoolExecutor(
            max_workers=s.compress_threads, thread_name_prefix="headroom-compress"
        )
        self.client = httpx.AsyncClient(
            http2=_h2_available(),
            timeout=httpx.Timeout(connect=s.connect_timeout, read=s.read_timeout, write=60.0, pool=60.0),
            limits=httpx.Limits(
                max_connections=s.max_connections, max_keepalive_connections=s.max_connections
            ),
            follow_redirects=False,
            trust_env=s.trust_env,
        )
        # Load both vocabularies in the background, so the first request does not wait for them
        # and small requests may be compressed inline (see _compress).
        self._warm_up = asyncio.get_running_loop().run_in_executor(self.executor, _warm_tokenizers)
        log.info(
            "headroom proxy ready: anthropic -> %s, openai -> %s",
            self._where(ANTHROPIC),
            self._where("openai"),
        )
        try:
            yield
        finally:
            await self.client.aclose()
            self.executor.shutdown(wait=False, cancel_futures=True)

    def app(self) -> Starlette:
        routes: list[BaseRoute] = [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            *self.hooks.routes,
            Route("/v1/messages", self.anthropic_messages, methods=["POST"]),
            Route("/v1/chat/completions", self.openai_chat, methods=["POST"]),
            Route("/v1/responses", self.openai_responses, methods=["POST"]),
            # For OpenAI clients configured with a base URL that lacks `/v1`.
            Route("/chat/completions", self.openai_chat, methods=["POST"]),
            Route("/responses", self.openai_responses, methods=["POST"]),
            Route(
                "/v1/{path:path}",
                self.passthrough,
                methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
            ),
        ]
        return Starlette(routes=routes, lifespan=self.lifespan)

    # -- health ------------------------------------------------------------------

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        """Ready when each upstream answers HTTP at all and the CCR store takes a write."""
        checks: dict[str, str] = {}
        for provider in (ANTHROPIC, "openai"):
            probe = self.backends[provider].probe_url(provider)
            if probe is None:  # a library backend (LiteLLM) with no endpoint of its own
                continue
            try:
                assert self.client is not None
                await self.client.get(probe + "/", timeout=3.0)
                checks[f"upstream_{provider}"] = "ok"
            except httpx.HTTPError as exc:
                checks[f"upstream_{provider}"] = f"unreachable ({type(exc).__name__})"
        try:
            await asyncio.get_running_loop().run_in_executor(self.executor, self._probe_store)
            checks["ccr_store"] = "ok"
        except Exception as exc:
            checks["ccr_store"] = f"not writable ({type(exc).__name__})"
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503
        )

    def _probe_store(self) -> None:
        from headroom_core._ccr import store_for

        store = store_for(self.config)
        probe = b"headroom readiness probe"
        store.put("readyz-probe", probe)
        if store.get("readyz-probe") != probe:
            raise OSError("read back differs")

    # -- upstream ----------------------------------------------------------------

    def check_backends(self) -> None:
        """Start-up: each cloud backend finds its credentials and settings (may block on a
        credential chain), else a one-line `ProxyConfigError`."""
        for backend in {id(b): b for b in self.backends.values()}.values():
            backend.start()

    def _where(self, provider: str) -> str:
        backend = self.backends[provider]
        origin = backend.origin(provider)
        return origin if backend.name == "direct" else f"{backend.label} ({origin})"

    async def upstream_request(
        self, provider: str, request: Request, headers: list[tuple[str, str]], content: Any, llm: bool = False
    ) -> httpx.Request:
        """The request to the upstream, built by the provider's backend (URL, auth, signing).
        Raises `BackendError` for a request the backend cannot send."""
        assert self.client is not None
        raw_path = request.scope.get("raw_path")  # as the client encoded it, not decoded
        path = raw_path.decode("latin-1") if raw_path else request.url.path
        if not path.startswith("/v1/"):
            path = "/v1" + path
        call = UpstreamCall(provider, request.method, path, request.url.query, headers, content, llm)
        return await self.backends[provider].build(self.client, call)

    async def _send(self, provider: str, req: httpx.Request) -> httpx.Response:
        assert self.client is not None
        response = await self.backends[provider].send(self.client, req)
        try:
            return await self.backends[provider].adapt(response, provider)
        except BaseException:
            await response.aclose()
            raise

    def _upstream_failure(self, provider: str, exc: Exception) -> Response:
        if isinstance(exc, httpx.TimeoutException):
            status, what = 504, "timed out"
        else:
            status, what = 502, "could not be reached"
        base = self._where(provider)
        log.warning("upstream %s %s (%s)", base, what, type(exc).__name__)
        message = f"Headroom proxy: the upstream {base} {what} ({type(exc).__name__})."
        return JSONResponse(_error_body(provider, status, message), status_code=status)

    def _backend_refusal(self, provider: str, exc: BackendError) -> Response:
        log.info("request not sent upstream: %s", exc.message)
        return JSONResponse(_error_body(provider, exc.status, exc.message), status_code=exc.status)

    # -- pass-through --------------------------------------------------------------

    async def passthrough(self, request: Request) -> Response:
        """Anything else under /v1: method, headers and body forwarded as they are, both ways."""
        provider = _provider_of(request)
        headers = _request_headers(request.headers.items())
        # The body streams through without being buffered (file uploads). Keep its framing: a
        # declared length stays declared, and a request without a body (GET) gets none.
        content: Any = None
        if self.backends[provider].reads_passthrough_bodies:  # a cloud may rewrite the body
            content = await request.body() if request.method not in ("GET", "HEAD") else None
        elif "content-length" in request.headers:
            headers.append(("content-length", request.headers["content-length"]))
            content = request.stream()
        elif "transfer-encoding" in request.headers:
            content = request.stream()
        try:
            req = await self.upstream_request(provider, request, headers, content)
            resp = await self._send(provider, req)
        except BackendError as exc:
            return self._backend_refusal(provider, exc)
        except httpx.HTTPError as exc:
            return self._upstream_failure(provider, exc)
        return UpstreamStream(
            _raw(resp), resp.status_code, _response_headers(resp, decoded=False), resp.aclose
        )

    # -- LLM endpoints ----------------------------------------------------------------

    async def anthropic_messages(self, request: Request) -> Response:
        return await self._llm(request, ANTHROPIC)

    async def openai_chat(self, request: Request) -> Response:
        return await self._llm(request, OPENAI_CHAT)

    async def openai_responses(self, request: Request) -> Response:
        return await self._llm(request, OPENAI_RESPONSES)

    def config_for(self, request: Request) -> Any:
        """The `HeadroomConfig` for one request: the request's tenant (`tenant_from`) sees only
        its own CCR records (issue 17, docs/deploying.md)."""
        tenant = self.settings.tenant_of(request.headers)
        if tenant is None:
            return self.config
        config = self._tenant_configs.get(tenant)
        if config is None:
            if len(self._tenant_configs) >= 4096:  # bounded: forget the oldest tenant
                self._tenant_configs.pop(next(iter(self._tenant_configs)))
            config = self._tenant_configs[tenant] = self.config.with_(tenant=tenant)
        return config

    async def _compress(self, kind: str, payload: dict[str, Any], size: int, config: Any) -> Outcome:
        if size <= _INLINE_BYTES and self._warm_up is not None and self._warm_up.done():
            # A few KB compress in well under a millisecond (linear time); two thread hand-offs
            # would cost more than that on a busy machine.
            try:
                return prepare_request(kind, payload, config, self.settings.retrieve_tool)
            except Exception as exc:
                log.warning(
                    "compression failed (%s: %s); forwarding the original request", type(exc).__name__, exc
                )
                return Outcome("failed-open")
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(
                loop.run_in_executor(
                    self.executor, prepare_request, kind, payload, config, self.settings.retrieve_tool
                ),
                self.settings.compress_timeout,
            )
        except asyncio.TimeoutError:
            log.warning(
                "compression took over %.1fs; forwarding the original request", self.settings.compress_timeout
            )
            return Outcome("timeout")
        except Exception as exc:
            log.warning(
                "compression failed (%s: %s); forwarding the original request", type(exc).__name__, exc
            )
            return Outcome("failed-open")

    async def _llm(self, request: Request, kind: str) -> Response:
        started = time.perf_counter()
        provider = ANTHROPIC if kind == ANTHROPIC else "openai"
        body = await request.body()
        payload = _adapter.loads(body)
        headers = _request_headers(request.headers.items())
        config = self.config_for(request)
        if payload is None:  # not JSON: the upstream will say what is wrong with it
            outcome = Outcome("unchanged")
        elif request.headers.get(_BYPASS_HEADER, "").strip().lower() in ("1", "true", "yes"):
            outcome = Outcome("bypass")
        elif not self.settings.compress:
            outcome = Outcome("off")
        else:
            outcome = await self._compress(kind, payload, len(body), config)
        overhead = time.perf_counter() - started
        model = payload.get("model") if payload is not None else None
        stream = bool(payload is not None and payload.get("stream") is True)

        notes: dict[str, Any] = {"request_bytes": len(body)}
        info = RequestInfo(provider, request.url.path, model, request.headers, outcome, payload, notes)
        for gate in self.hooks.gates:
            answer = await gate(info)
            if answer is not None:
                return answer

        send_payload = outcome.payload
        intercept = outcome.intercept
        content = body if outcome.body is None else outcome.body
        if intercept:
            # The CCR loop reads the answer, so ask for bytes it can parse as they come.
            headers = [(k, v) for k, v in headers if k.lower() != "accept-encoding"]
            headers.append(("accept-encoding", "identity"))

        extra = [(b"x-headroom-compression", outcome.status.encode())]
        if outcome.tokens_before is not None:
            extra.append((b"x-headroom-tokens-before", str(outcome.tokens_before).encode()))
            extra.append((b"x-headroom-tokens-after", str(outcome.tokens_after).encode()))
        extra.extend(notes.get("response_headers", ()))

        def record(status: int, rounds: int, usage: Any = None, first_byte: float | None = None) -> None:
            self._observe(
                RequestRecord(
                    provider,
                    request.url.path,
                    model if isinstance(model, str) else None,
                    status,
                    stream,
                    outcome.status,
                    outcome.tokens_before,
                    outcome.tokens_after,
                    rounds,
                    time.perf_counter() - started,
                    overhead,
                    usage,
                    first_byte,
                    notes,
                )
            )

        try:
            req = await self.upstream_request(provider, request, headers, content, llm=True)
            resp = await self._send(provider, req)
        except BackendError as exc:
            refusal = self._backend_refusal(provider, exc)
            record(refusal.status_code, 0)
            return refusal
        except httpx.HTTPError as exc:
            failure = self._upstream_failure(provider, exc)
            record(failure.status_code, 0)
            return failure

        if not intercept or resp.status_code != 200:
            if not stream and "text/event-stream" not in resp.headers.get("content-type", ""):
                # One JSON answer: read it whole (raw, still encoded) and answer in one piece,
                # cheaper than a streamed response.
                try:
                    raw = b"".join([chunk async for chunk in resp.aiter_raw()])
                except httpx.HTTPError as exc:
                    return self._upstream_failure(provider, exc)
                finally:
                    await resp.aclose()
                encoding = resp.headers.get("content-encoding")
                if "request_content" in notes:
                    notes["response_text"] = raw if not encoding else None
                record(resp.status_code, 0, usage_of_body(raw, encoding))
                out = Response(raw, status_code=resp.status_code)
                headers_out = _response_headers(resp, decoded=False)
                if not any(name == b"content-length" for name, _ in headers_out):
                    headers_out.append((b"content-length", str(len(raw)).encode()))
                out.raw_headers = [*headers_out, *extra, (b"x-headroom-ccr-rounds", b"0")]
                return out

            tap = StreamTap(resp.headers.get("content-encoding"), started)

            async def forward() -> AsyncIterator[bytes]:
                try:
                    async for chunk in _raw(resp):
                        tap.feed(chunk)
                        yield chunk
                finally:
                    record(resp.status_code, 0, tap.usage(), tap.first_byte_seconds)

            return UpstreamStream(
                forward(), resp.status_code, _response_headers(resp, decoded=False) + extra, resp.aclose
            )

        assert self.executor is not None
        retriever = Retriever(config, self.executor, self.settings.compress_timeout)
        if self.hooks.retrieval_observers:
            retriever.on_answer = lambda text: self._observe_retrieval(provider, text)
        rounds_max = self.settings.max_ccr_rounds
        assert send_payload is not None
        if not stream:
            first = Reply(resp.status_code, _response_headers(resp, decoded=True), await _read(resp))

            async def send_again(next_payload: dict[str, Any]) -> Reply:
                r = await self._send(
                    provider,
                    await self.upstream_request(
                        provider, request, headers, _adapter.dumps(next_payload), True
                    ),
                )
                return Reply(r.status_code, _response_headers(r, decoded=True), await _read(r))

            try:
                reply, rounds = await run_rounds(kind, send_payload, first, send_again, retriever, rounds_max)
            except BackendError as exc:  # e.g. a cloud token that could not be refreshed mid-loop
                return self._backend_refusal(provider, exc)
            except httpx.HTTPError as exc:
                return self._upstream_failure(provider, exc)
            record(reply.status, rounds, usage_of_body(reply.body))
            out = Response(reply.body, status_code=reply.status)
            out.raw_headers = [
                *reply.headers,
                (b"content-length", str(len(reply.body)).encode()),
                *extra,
                (b"x-headroom-ccr-rounds", str(rounds).encode()),
            ]
            return out

        async def open_stream(next_payload: dict[str, Any]) -> httpx.Response:
            return await self._send(
                provider,
                await self.upstream_request(provider, request, headers, _adapter.dumps(next_payload), True),
            )

        loop_ = StreamLoop(kind, send_payload, open_stream, retriever, rounds_max)

        stream_tap = StreamTap(None, started)

        async def events() -> AsyncIterator[bytes]:
            try:
                async for chunk in loop_.run(resp):
                    stream_tap.feed(chunk)
                    yield chunk
            except (httpx.HTTPError, BackendError) as exc:
                log.warning("upstream stream broke during a CCR round (%s)", type(exc).__name__)
            finally:
                record(200, loop_.rounds, stream_tap.usage(), stream_tap.first_byte_seconds)

        return UpstreamStream(events(), 200, _response_headers(resp, decoded=True) + extra, loop_.aclose)

    def _observe(self, record: RequestRecord) -> None:
        if log.isEnabledFor(logging.INFO):
            tokens = ""
            if record.tokens_before is not None:
                tokens = f", tokens {record.tokens_before:,} -> {record.tokens_after:,}"
            log.info(
                "%s %s%s: %s%s, %d CCR round(s), %.0f ms (Headroom %.1f ms)",
                record.endpoint,
                record.status,
                " stream" if record.stream else "",
                record.compression,
                tokens,
                record.ccr_rounds,
                record.seconds * 1000,
                record.overhead_seconds * 1000,
            )
        for observer in self.hooks.observers:
            try:
                observer(record)
            except Exception as exc:  # an observer must never fail a request
                log.warning("request observer failed: %s", type(exc).__name__)

    def _observe_retrieval(self, provider: str, answer: str) -> None:
        for observer in self.hooks.retrieval_observers:
            try:
                observer(provider, answer)
            except Exception as exc:  # an observer must never fail a request
                log.warning("retrieval observer failed: %s", type(exc).__name__)


_INLINE_BYTES = 4096


def _warm_tokenizers() -> None:
    from headroom_core._tokenizer import get_encoding

    for name in ("o200k_base", "cl100k_base"):
        try:
            get_encoding(name)
        except Exception as exc:  # counted lazily later, or fails open then
            log.warning("could not preload the %s vocabulary: %s", name, exc)


def prepare_request(kind: str, payload: dict[str, Any], config: Any, retrieve_tool_mode: str) -> Outcome:
    """In a worker thread: compress, add `headroom_retrieve` when markers call for it, serialise.
    Everything that costs time proportional to the request happens here, off the event loop."""
    outcome = _adapter.compress_request(kind, payload, config)
    if outcome.status != "compressed" or outcome.payload is None:
        return outcome
    new = outcome.payload
    if retrieve_tool_mode != "never":
        wants_tool = (
            retrieve_tool_mode == "always"
            or bool(outcome.ccr_keys)
            or _adapter.carries_markers(_adapter.dumps(new.get("messages") or new.get("input") or []))
        )
        if wants_tool and add_retrieve_tool(kind, new):
            outcome.intercept = True
    outcome.body = _adapter.dumps(new)
    return outcome


async def _raw(resp: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in resp.aiter_raw():
            yield chunk
    finally:
        with anyio.CancelScope(shield=True):
            await resp.aclose()


async def _read(resp: httpx.Response) -> bytes:
    try:
        return await resp.aread()
    finally:
        await resp.aclose()


def _provider_of(request: Request) -> str:
    """Anthropic's SDKs always send `anthropic-version`; everything else is OpenAI-shaped."""
    if "anthropic-version" in request.headers or request.url.path.startswith(
        ("/v1/messages", "/v1/complete")
    ):
        return ANTHROPIC
    return "openai"


def _h2_available() -> bool:
    try:
        import h2  # noqa: F401
    except ImportError:
        return False
    return True


def create_app(settings: ProxySettings | None = None, hooks: ProxyHooks | None = None) -> Starlette:
    """The proxy as an ASGI app (`uvicorn.run(create_app(), ...)`)."""
    return Proxy(settings, hooks).app()
