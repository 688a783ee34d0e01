"""What every upstream backend does: build the upstream request, adapt the upstream answer.

The proxy compresses in the client's format (Anthropic Messages or OpenAI); a backend only
translates the transport: URL, authentication, small body envelope changes, the streaming
framing and the error shape. It never compresses or retrieves.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import orjson

from headroom_proxy._settings import ProxyConfigError

log = logging.getLogger("headroom.proxy")

ANTHROPIC = "anthropic"
OPENAI = "openai"
MAX_ERROR_BYTES = 64 * 1024
"""Cloud error bodies are read up to this size before they are rewritten for the client."""


@dataclass
class UpstreamCall:
    """One request to send upstream, as the client made it (after compression)."""

    provider: str
    """The client's format: 'anthropic' or 'openai'."""
    method: str
    path: str
    """The client's path as it encoded it, always starting with `/v1/`."""
    query: str
    headers: list[tuple[str, str]]
    content: Any
    """bytes for the LLM endpoints; a byte stream (or None) for pass-through requests."""
    llm: bool = False
    """True for /v1/messages, /v1/chat/completions and /v1/responses (JSON body in `content`)."""


class BackendError(Exception):
    """A request this backend cannot send (unknown model, unsupported endpoint): answered
    to the client in its own error format with `status`, never sent upstream."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Backend:
    """The direct upstreams (api.anthropic.com, api.openai.com or any compatible URL)."""

    name = "direct"
    label = "upstream"
    providers: frozenset[str] = frozenset({ANTHROPIC, OPENAI})
    reads_passthrough_bodies = False
    """True: pass-through requests reach `build` with their body read (a cloud rewrites it)."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    _started = False

    def check(self) -> None:
        """At start-up: credentials and required settings present, else `ProxyConfigError`.
        May block (a credential chain can ask a metadata service): not on the event loop."""

    def start(self) -> None:
        """`check`, once (`serve()` runs it before listening, through `Proxy.check_backends`)."""
        if not self._started:
            self.check()
            self._started = True

    async def ensure_started(self) -> None:
        """Before a request of an app built without `serve()`: `start` in a worker thread; a
        setting or credential missing then answers the request (500, in its format)."""
        if self._started:
            return
        try:
            await anyio.to_thread.run_sync(self.start)
        except ProxyConfigError as exc:
            raise BackendError(500, f"Headroom proxy: {exc}") from None

    def origin(self, provider: str) -> str:
        """Where requests for `provider` go (no credentials in it): for logs and /readyz."""
        return str(self.settings.upstream_base(provider))

    def probe_url(self, provider: str) -> str | None:
        """What /readyz GETs to see the upstream answer; None: nothing to probe."""
        return self.origin(provider)

    def secrets(self) -> Iterable[str]:
        """Credential values to scrub from any upstream text shown to the client."""
        return ()

    async def build(self, client: httpx.AsyncClient, call: UpstreamCall) -> httpx.Request:
        url = self.settings.upstream_base(call.provider) + call.path
        if call.query:
            url += "?" + call.query
        return client.build_request(call.method, url, headers=call.headers, content=call.content)

    async def send(self, client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
        """Send a request `build` made (streamed); a library backend answers it in-process."""
        return await client.send(request, stream=True)

    async def adapt(self, response: httpx.Response, provider: str) -> httpx.Response:
        """The upstream answer in the client's wire format (direct: as it is)."""
        return response


def json_body(call: UpstreamCall) -> dict[str, Any]:
    """The request JSON of an LLM call (the proxy already parsed it once; a non-JSON body is
    the client's error, answered here rather than by a cloud with a confusing message)."""
    try:
        doc = orjson.loads(call.content)
    except (orjson.JSONDecodeError, TypeError):
        raise BackendError(400, "the request body is not a JSON object") from None
    if not isinstance(doc, dict):
        raise BackendError(400, "the request body is not a JSON object")
    return doc


def header(headers: list[tuple[str, str]], name: str) -> str | None:
    name = name.lower()
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def without(headers: list[tuple[str, str]], *names: str) -> list[tuple[str, str]]:
    drop = {n.lower() for n in names}
    return [(k, v) for k, v in headers if k.lower() not in drop]


class BytesStream(httpx.AsyncByteStream):
    """An httpx response body made of our own bytes (a rewritten error, a translated stream);
    closing it closes the upstream response it came from."""

    def __init__(self, chunks: AsyncIterator[bytes], upstream: httpx.Response | None = None) -> None:
        self._chunks = chunks
        self._upstream = upstream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            yield chunk

    async def aclose(self) -> None:
        aclose = getattr(self._chunks, "aclose", None)
        if aclose is not None:
            await aclose()
        if self._upstream is not None:
            await self._upstream.aclose()


async def single_chunk(data: bytes) -> AsyncIterator[bytes]:
    """A body of one chunk, for `BytesStream`."""
    yield data


def replaced_body(
    response: httpx.Response,
    body: bytes,
    content_type: str = "application/json",
    keep: tuple[str, ...] = ("retry-after", "x-request-id", "request-id", "x-amzn-requestid"),
) -> httpx.Response:
    """A response with the upstream's status and a body of ours (the upstream one is read)."""
    headers = [(k, v) for k, v in response.headers.items() if k.lower() in keep]
    headers += [("content-type", content_type), ("content-length", str(len(body)))]
    return httpx.Response(
        response.status_code,
        headers=headers,
        stream=BytesStream(single_chunk(body)),
        request=response.request,
    )


async def read_capped(response: httpx.Response, limit: int = MAX_ERROR_BYTES) -> bytes:
    """Up to `limit` bytes of an (error) body, decoded; the response is closed afterwards."""
    parts: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            parts.append(chunk)
            size += len(chunk)
            if size >= limit:
                break
    except httpx.HTTPError:
        pass  # a broken error body still gets an error answer
    finally:
        await response.aclose()
    return b"".join(parts)[:limit]
