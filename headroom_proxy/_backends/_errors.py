"""Cloud errors, rewritten in the client's provider format with the backend and the cause named.

Bedrock says `ThrottlingException` in a header, Vertex says `RESOURCE_EXHAUSTED` in a Google
error (sometimes inside a list), Azure and OpenRouter use OpenAI's shape with their own codes.
The client's SDK should raise its usual exception for the status (RateLimitError on 429 and so
on) with a message a person can act on, and no credential may leak through the text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from headroom_proxy._backends._base import ANTHROPIC

_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_exceeded",
}
_HINTS = {
    400: "the cloud rejected the request: for an invalid model id, map the model with --model-map",
    401: "the backend rejected the credentials",
    403: "access denied: check the credentials' permissions and that the model is enabled for "
    "this account and region",
    404: "not found: check the model id (or deployment) and the region",
    429: "throttled: too many requests or tokens for the account's quota; retry later",
}
_MAX_MESSAGE = 1000


def parse_cloud_error(body: bytes, error_type_header: str | None = None) -> tuple[str | None, str]:
    """(cause, message) from a cloud's error body, whichever of the known shapes it has."""
    cause: str | None = None
    if error_type_header:  # Bedrock: "ThrottlingException:http://internal.amazon.com/..."
        cause = error_type_header.split(":", 1)[0].strip() or None
    try:
        doc: Any = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        doc = None
    if isinstance(doc, list) and doc and isinstance(doc[0], dict):  # Vertex wraps some in a list
        doc = doc[0]
    message = ""
    if isinstance(doc, dict):
        inner = doc.get("error")
        if isinstance(inner, dict):
            message = str(inner.get("message") or "")
            if cause is None:
                cause = _cause_of(inner)
        elif isinstance(inner, str):
            message = inner
        message = message or str(doc.get("message") or doc.get("Message") or "")
        if cause is None and doc.get("__type"):
            cause = str(doc["__type"]).rsplit("#", 1)[-1]
    elif body:
        message = body.decode("utf-8", "replace").strip()
    return cause, message


def _cause_of(error: dict[str, Any]) -> str | None:
    """A named cause beats a number: Azure's code 'content_filter', Google's status
    'RESOURCE_EXHAUSTED' (its code is the HTTP status), else whatever code there is."""
    values = [error.get(key) for key in ("code", "status", "type")]
    present = [str(v) for v in values if v not in (None, "")]
    named = [v for v in present if not v.isdigit()]
    chosen = named or present
    return chosen[0] if chosen else None


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 8 and secret in text:
            text = text.replace(secret, "[redacted]")
    return text


def error_message(label: str, status: int, cause: str | None, message: str, secrets: Iterable[str]) -> str:
    """'AWS Bedrock (ThrottlingException): Too many requests... (throttled: ...)'."""
    head = f"{label} ({cause})" if cause else f"{label} (HTTP {status})"
    text = message.strip() or "no message"
    hint = _HINTS.get(status)
    out = f"{head}: {text}" + (f" [{hint}]" if hint else "")
    out = redact(out, secrets)
    return out if len(out) <= _MAX_MESSAGE else out[: _MAX_MESSAGE - 3] + "..."


def error_body(provider: str, status: int, message: str, code: str | None = None) -> dict[str, Any]:
    """An error in the client's provider shape, so its SDK raises its usual exception."""
    if provider == ANTHROPIC:
        kind = _ANTHROPIC_TYPES.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
    kind = _OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def error_event(provider: str, status: int, message: str, code: str | None = None) -> bytes:
    """The same error as one server-sent event, for an error in the middle of a stream."""
    body = orjson.dumps(error_body(provider, status, message, code))
    if provider == ANTHROPIC:
        return b"event: error\ndata: " + body + b"\n\n"
    return b"data: " + body + b"\n\n"
