"""Loopback fakes of the cloud endpoints behind the proxy's cloud backends: AWS Bedrock runtime,
Google's OAuth token endpoint + Vertex AI, Azure OpenAI and OpenRouter.

Each fake checks what the real service checks (Bedrock recomputes the SigV4 signature with
botocore's signer over the exact bytes received; Vertex accepts only tokens issued by the token
fake for a JWT signed by a trusted service-account key; Azure checks api-key and api-version),
answers in the real wire format (Bedrock's binary event stream included) and records every
request in `.requests`. The proxy does not forward client headers to a cloud, so tests choose
the behaviour by setting `.scenario`: "text" (default), "tool", "retrieve", or an error
scenario listed on each class.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import itertools
import json
import re
import struct
import zlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.proxy.conftest import ServerThread
from tests.proxy.fake_upstream import (
    MARKER_KEY,
    RETRIEVE,
    TOOL_ARGS,
    Recorded,
    _anthropic_events,
    _call_item,
    _message_item,
    _pieces,
    _responses_events,
    responses_document,
)

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# The anthropic SDK's own Bedrock and Vertex clients (2.x) send this dated version in the body
# instead of the cloud-specific one, so both fakes accept it as well.
SDK_ANTHROPIC_VERSION = "2026-10-21"
# google-auth signs the grant for Google's token endpoint whatever the key file's token_uri says.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
USAGE = {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}

# The clouds' own wording, so the proxy's error translation is tested against real messages.
BAD_SIGNATURE = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
BAD_TOKEN = "The security token included in the request is invalid."
BEDROCK_THROTTLE = "Too many requests, please wait before trying again."
BEDROCK_DENIED = "You don't have access to the model with the specified model ID."
BEDROCK_NOT_FOUND = "Could not resolve the foundation model from the provided model identifier."
MALFORMED = "Malformed input request: #: {}, please reformat your input and try again."
VERTEX_UNAUTHENTICATED = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
VERTEX_QUOTA = "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model with base model: anthropic-{}. Please submit a quota increase request. https://cloud.google.com/vertex-ai/docs/generative-ai/quotas-genai."
VERTEX_DENIED = "Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/{}' (or it may not exist)."
VERTEX_NOT_FOUND = "Publisher Model `{}` was not found or your project does not have access to it. Please ensure you are using a valid model version. For more information, see: https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions"
AZURE_DENIED = "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."
AZURE_NO_DEPLOYMENT = "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again."
AZURE_THROTTLE = "Requests to the {} Operation under Azure OpenAI API version {} have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 6 seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit."
AZURE_FILTERED = "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766"
OPENROUTER_CREDITS = "Insufficient credits. This account never purchased credits. Make sure your key is on the correct account or org, and if so, purchase more at https://openrouter.ai/settings/credits"
OPENROUTER_THROTTLE = "Rate limit exceeded: limit_rpm/anthropic/claude-sonnet-4.5. High demand for this model. Please retry shortly."


def start(app: Any) -> ServerThread:
    """A started uvicorn server for `app` on a free 127.0.0.1 port; call `.stop()` when done."""
    return ServerThread(app).start()


# ---------------------------------------------------------------------- shared answer logic


async def _record(store: list[Recorded], request: Request) -> Recorded:
    body = await request.body()
    try:
        doc = json.loads(body) if body else None
    except ValueError:
        doc = None
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    headers = {k.lower(): v for k, v in request.headers.items()}
    rec = Recorded(
        request.method,
        raw_path.decode("latin-1"),
        request.url.query,
        headers,
        list(request.headers.items()),
        body,
        doc,
    )
    store.append(rec)
    return rec


def _marker_key(value: Any) -> str:
    match = MARKER_KEY.search(json.dumps(value))
    return match.group(1) if match else "0000000000000000"


def anthropic_message(body: dict[str, Any], scenario: str, greeting: str, model: str) -> dict[str, Any]:
    """The Anthropic Messages answer to a request, following the scenario (as fake_upstream does)."""
    messages = body.get("messages") or []
    tools = [t.get("name") for t in body.get("tools") or ()]
    last = messages[-1] if messages else {}
    answered = None
    if last.get("role") == "user" and isinstance(last.get("content"), list):
        for block in last["content"]:
            if block.get("type") == "tool_result" and str(block.get("tool_use_id", "")).startswith(
                "toolu_retr"
            ):
                answered = block.get("content")
    if isinstance(answered, list):  # tool_result content given as text blocks
        answered = "".join(b.get("text", "") for b in answered if isinstance(b, dict))
    content: list[dict[str, Any]] = [{"type": "text", "text": greeting}]
    if answered is not None:
        content = [{"type": "text", "text": "RETRIEVED:" + str(answered)}]
    elif scenario == "retrieve" and RETRIEVE in tools:
        call = {"type": "tool_use", "id": f"toolu_retr{len(messages)}", "name": RETRIEVE}
        content = [
            {"type": "text", "text": "Let me look."},
            {**call, "input": {"key": _marker_key(messages)}},
        ]
    elif scenario == "tool":
        content = [
            {"type": "tool_use", "id": "toolu_client", "name": "get_weather", "input": json.loads(TOOL_ARGS)}
        ]
    return {
        "id": f"msg_fake{len(messages)}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use" if any(b["type"] == "tool_use" for b in content) else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 100, "output_tokens": 10},
    }


def chat_answer(
    body: dict[str, Any], scenario: str, greeting: str
) -> tuple[str | None, list[tuple[str, str, str]]]:
    """(text, [(call id, tool name, JSON arguments)]) answering an OpenAI chat request."""
    messages = body.get("messages") or []
    tools = [(t.get("function") or {}).get("name") for t in body.get("tools") or ()]
    last = messages[-1] if messages else {}
    if last.get("role") == "tool" and str(last.get("tool_call_id", "")).startswith("call_retr"):
        return "RETRIEVED:" + str(last.get("content")), []
    if scenario == "retrieve" and RETRIEVE in tools:
        return None, [("call_retr1", RETRIEVE, json.dumps({"key": _marker_key(messages)}))]
    if scenario == "tool":
        return None, [("call_client", "get_weather", TOOL_ARGS)]
    return greeting, []


def responses_output(body: dict[str, Any], scenario: str, greeting: str) -> list[dict[str, Any]]:
    """The output items answering an OpenAI Responses request."""
    items: list[Any] = body["input"] if isinstance(body.get("input"), list) else []
    tools = [t.get("name") for t in body.get("tools") or ()]
    last, n = (items[-1] if items else {}), len(items)
    if last.get("type") == "function_call_output" and str(last.get("call_id", "")).startswith("call_retr"):
        return [_message_item(f"msg_{n}", "RETRIEVED:" + str(last.get("output")))]
    if scenario == "retrieve" and RETRIEVE in tools:
        key = json.dumps({"key": _marker_key(items)})
        return [_message_item(f"msg_{n}", "Let me look."), _call_item(f"fc_{n}", "call_retr1", RETRIEVE, key)]
    if scenario == "tool":
        return [_call_item(f"fc_{n}", "call_client", "get_weather", TOOL_ARGS)]
    return [_message_item(f"msg_{n}", greeting)]


def _chat_chunks(
    text: str | None, calls: list[tuple[str, str, str]], base: dict[str, Any], choice_extra: dict[str, Any]
) -> list[dict[str, Any]]:
    """chat.completion.chunk documents: role, text pieces or tool-call argument fragments, finish."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None, **choice_extra}
        return {**base, "object": "chat.completion.chunk", "choices": [choice]}

    chunks = [chunk({"role": "assistant", "content": "", "refusal": None})]
    chunks += [chunk({"content": piece}) for piece in _pieces(text, 5)] if text else []
    for n, (call_id, name, args) in enumerate(calls):
        head = {"index": n, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        chunks.append(chunk({"tool_calls": [head]}))
        chunks += [
            chunk({"tool_calls": [{"index": n, "function": {"arguments": p}}]}) for p in _pieces(args, 50)
        ]
    return [*chunks, chunk({}, "tool_calls" if calls else "stop")]


def _chat_choice(text: str | None, calls: list[tuple[str, str, str]], **extra: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if calls:
        message["tool_calls"] = [
            {"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in calls
        ]
    finish = "tool_calls" if calls else "stop"
    return {"index": 0, "message": message, "finish_reason": finish, "logprobs": None, **extra}


def _sse_data(
    docs: Iterable[dict[str, Any]], headers: dict[str, str] | None = None, lead: bytes = b""
) -> Response:
    lines = [b"data: " + json.dumps(doc).encode() + b"\n\n" for doc in docs]
    return _stream(
        [lead, *lines, b"data: [DONE]\n\n"] if lead else [*lines, b"data: [DONE]\n\n"],
        "text/event-stream",
        headers,
    )


def _stream(chunks: list[bytes], media_type: str, headers: dict[str, str] | None = None) -> StreamingResponse:
    async def emit() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    return StreamingResponse(emit(), media_type=media_type, headers=headers)


# ---------------------------------------------------------------------- AWS Bedrock


def event_stream_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message: prelude (total length, headers length, CRC32), string
    headers (type 7), payload, then the CRC32 of everything before it."""
    encoded = b"".join(
        struct.pack(">B", len(k)) + k.encode() + b"\x07" + struct.pack(">H", len(v)) + v.encode()
        for k, v in headers.items()
    )
    prelude = struct.pack(">II", 16 + len(encoded) + len(payload), len(encoded))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def _bedrock_model_name(model_id: str) -> str:
    """The model name Bedrock reports: ...us.anthropic.claude-x-20250929-v1:0 -> claude-x-20250929."""
    name = re.sub(r"^(?:\w+\.)?anthropic\.", "", model_id.rsplit("/", 1)[-1])
    return re.sub(r"-v\d+(?::\d+)?$", "", name)


class FakeBedrock:
    """Bedrock runtime InvokeModel / InvokeModelWithResponseStream for Anthropic models.

    Scenarios: text, tool, retrieve, throttle, denied, not-found, stream-throttle.
    """

    SERVICE = "bedrock"
    ANTHROPIC_VERSIONS = frozenset({"bedrock-2023-05-31", SDK_ANTHROPIC_VERSION})
    FORBIDDEN_KEYS = ("model", "stream")
    MAX_SKEW = datetime.timedelta(minutes=5)

    def __init__(
        self, access_key: str, secret_key: str, region: str, session_token: str | None = None
    ) -> None:
        self.access_key, self.secret_key, self.region = access_key, secret_key, region
        self.session_token = session_token
        self.scenario = "text"
        self.requests: list[Recorded] = []
        self.model_ids: list[str] = []
        self.signature_failures: list[str] = []  # "ExceptionType: message" per rejected signature
        self.counted_bodies: list[dict[str, Any]] = []  # inner InvokeModel bodies given to CountTokens

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self.handle, methods=ALL_METHODS)])

    @staticmethod
    def error(status: int, kind: str, message: str, coral: str = "com.amazon.bedrock") -> Response:
        headers = {
            "x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/{coral}/",
            "x-amzn-RequestId": "00000000-0000-4000-8000-000000000000",
        }
        return JSONResponse({"message": message}, status_code=status, headers=headers)

    def signature_problem(self, request: Request, rec: Recorded) -> tuple[str, str] | None:
        """(exception type, message) when the request's SigV4 signature is not what botocore's
        signer computes for the method, raw path, query, signed headers and body received."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        incomplete, invalid = "IncompleteSignatureException", "InvalidSignatureException"
        header = rec.headers.get("authorization")
        if not header:
            return "MissingAuthenticationTokenException", "Missing Authentication Token"
        algorithm, _, rest = header.partition(" ")
        fields = dict(part.strip().partition("=")[::2] for part in rest.split(","))
        if (
            algorithm != "AWS4-HMAC-SHA256"
            or not {"Credential", "SignedHeaders", "Signature"} <= fields.keys()
        ):
            return incomplete, f"Authorization header is malformed: {header[:40]}"
        scope = fields["Credential"].split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            return incomplete, "Credential is malformed."
        key_id, day, region, service, _ = scope
        amz_date = rec.headers.get("x-amz-date", "")
        if key_id != self.access_key:
            return "UnrecognizedClientException", BAD_TOKEN
        if region != self.region:
            return invalid, "Credential should be scoped to a valid region."
        if service != self.SERVICE:
            return invalid, f"Credential should be scoped to correct service: '{self.SERVICE}'."
        if not amz_date:
            return (
                incomplete,
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
            )
        if day != amz_date[:8]:
            return (
                invalid,
                f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{day}' != '{amz_date[:8]}'",
            )
        try:
            signed_at = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
        except ValueError:
            return incomplete, f"Invalid X-Amz-Date: {amz_date}"
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        if abs(now - signed_at) > self.MAX_SKEW:
            return invalid, f"Signature expired: {amz_date} is outside the 5 minute clock skew allowed."
        if self.session_token is not None and rec.headers.get("x-amz-security-token") != self.session_token:
            return "UnrecognizedClientException", BAD_TOKEN
        content_sha = rec.headers.get("x-amz-content-sha256")
        if content_sha is not None and content_sha != hashlib.sha256(rec.body).hexdigest():
            return invalid, "The provided 'x-amz-content-sha256' header does not match what was computed."
        signed = fields["SignedHeaders"].split(";")
        if "host" not in signed:
            return invalid, "'Host' must be a signed header."
        headers = {
            name: ",".join(request.headers.getlist(name)) for name in signed if name in request.headers
        }
        url = f"http://{rec.headers.get('host', '')}{rec.path}" + (f"?{rec.query}" if rec.query else "")
        aws_request = AWSRequest(method=rec.method, url=url, headers=headers, data=rec.body)
        aws_request.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(self.access_key, self.secret_key, self.session_token), service, region)
        string_to_sign = signer.string_to_sign(aws_request, signer.canonical_request(aws_request))
        if signer.signature(string_to_sign, aws_request) != fields["Signature"]:
            return invalid, BAD_SIGNATURE
        return None

    def body_problem(self, doc: Any) -> str | None:
        """The ValidationException message for a body Bedrock's Claude schema rejects, else None."""
        if not isinstance(doc, dict):
            return MALFORMED.format("expected type: JSONObject")
        for key in self.FORBIDDEN_KEYS:
            if key in doc:
                return MALFORMED.format(f"extraneous key [{key}] is not permitted")
        for key in ("anthropic_version", "max_tokens", "messages"):
            if key not in doc:
                return MALFORMED.format(f"required key [{key}] not found")
        if doc["anthropic_version"] not in self.ANTHROPIC_VERSIONS:
            return MALFORMED.format(
                f"anthropic_version: {doc['anthropic_version']} is not a valid enum value"
            )
        return None

    async def handle(self, request: Request) -> Response:
        rec = await _record(self.requests, request)
        match = re.fullmatch(r"/model/([^/]+)/(invoke|invoke-with-response-stream|count-tokens)", rec.path)
        if rec.method != "POST" or not match:
            return self.error(
                404, "UnknownOperationException", "Unknown operation", "com.amazon.coral.service"
            )
        problem = self.signature_problem(request, rec)
        if problem is not None:
            self.signature_failures.append(": ".join(problem))
            return self.error(403, *problem, coral="com.amazon.coral.service")
        model_id = unquote(match.group(1))
        self.model_ids.append(model_id)
        if match.group(2) == "count-tokens":
            return self.count_tokens(rec)
        invalid = self.body_problem(rec.json)
        if invalid:
            return self.error(400, "ValidationException", invalid)
        failures = {
            "throttle": (429, "ThrottlingException", BEDROCK_THROTTLE),
            "denied": (403, "AccessDeniedException", BEDROCK_DENIED),
            "not-found": (404, "ResourceNotFoundException", BEDROCK_NOT_FOUND),
        }
        if self.scenario in failures:
            return self.error(*failures[self.scenario])
        message = anthropic_message(
            rec.json, self.scenario, "Hello from bedrock", _bedrock_model_name(model_id)
        )
        request_id = {"x-amzn-RequestId": "00000000-0000-4000-8000-000000000001"}
        if match.group(2) == "invoke":
            counts = {"X-Amzn-Bedrock-Input-Token-Count": "100", "X-Amzn-Bedrock-Output-Token-Count": "10"}
            return JSONResponse(
                message, headers={**request_id, **counts, "X-Amzn-Bedrock-Invocation-Latency": "321"}
            )
        headers = {**request_id, "X-Amzn-Bedrock-Content-Type": "application/json"}
        return _stream(self.stream_frames(message), "application/vnd.amazon.eventstream", headers)

    def count_tokens(self, rec: Recorded) -> Response:
        """CountTokens: `{"input": {"invokeModel": {"body": <base64 InvokeModel body>}}}`, the
        inner body validated like InvokeModel's; answers `{"inputTokens": n}`."""
        try:
            inner = json.loads(base64.b64decode(rec.json["input"]["invokeModel"]["body"], validate=True))
        except (KeyError, TypeError, ValueError):
            return self.error(400, "ValidationException", "Malformed input request: input.invokeModel.body")
        invalid = self.body_problem(inner)
        if invalid:
            return self.error(400, "ValidationException", invalid)
        self.counted_bodies.append(inner)
        return JSONResponse({"inputTokens": 7 + len(json.dumps(inner["messages"])) // 4})

    def stream_frames(self, message: dict[str, Any]) -> list[bytes]:
        """One `chunk` event per Anthropic stream event (Bedrock relays no pings), the invocation
        metrics on message_stop; "stream-throttle" cuts after the first delta with an exception."""
        events = []
        for sse in _anthropic_events(message):
            data = next(line for line in sse.decode().splitlines() if line.startswith("data: "))
            events.append(json.loads(data[6:]))
        events = [e for e in events if e["type"] != "ping"]
        metrics = {
            "inputTokenCount": 100,
            "outputTokenCount": 10,
            "invocationLatency": 321,
            "firstByteLatency": 123,
        }
        events[-1]["amazon-bedrock-invocationMetrics"] = metrics
        if self.scenario == "stream-throttle":
            events = events[:3]  # message_start, content_block_start, one delta
        event_headers = {
            ":event-type": "chunk",
            ":content-type": "application/json",
            ":message-type": "event",
        }
        frames = []
        for n, event in enumerate(events):
            # Bedrock pads each chunk with a "p" field of varying length; clients must ignore it.
            padding = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123"[: 4 + n % 40]
            chunk = {"bytes": base64.b64encode(json.dumps(event).encode()).decode(), "p": padding}
            frames.append(event_stream_frame(event_headers, json.dumps(chunk).encode()))
        if self.scenario == "stream-throttle":
            exception_headers = {
                ":exception-type": "throttlingException",
                ":content-type": "application/json",
                ":message-type": "exception",
            }
            frames.append(
                event_stream_frame(exception_headers, json.dumps({"message": BEDROCK_THROTTLE}).encode())
            )
        return frames


# ---------------------------------------------------------------------- Google token + Vertex


def make_service_account_key(path: str | Path, token_uri: str) -> str:
    """Write a service-account key file (fresh RSA key, project test-project) whose token_uri
    points at a FakeGoogleToken; return its path. FakeGoogleToken.trust() makes it accepted."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    key_id = hashlib.sha1(pem.encode()).hexdigest()
    info = {
        "type": "service_account",
        "project_id": "test-project",
        "private_key_id": key_id,
        "private_key": pem,
        "client_email": f"headroom-{key_id[:8]}@test-project.iam.gserviceaccount.com",
        "client_id": str(int(key_id[:15], 16)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    }
    Path(path).write_text(json.dumps(info, indent=2))
    return str(path)


class _OAuthError(Exception):
    """An OAuth error answer: (error code, description)."""


class FakeGoogleToken:
    """Google's OAuth token endpoint (POST /token) for the service-account JWT-bearer grant."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.public_keys: dict[str, str] = {}  # client_email -> public key PEM
        self.issued: list[str] = []
        self.revoked: set[str] = set()
        self.token_requests = 0
        self._counter = itertools.count(1)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/token", self.token, methods=["POST"])])

    def trust(self, key_path: str | Path) -> str:
        """Accept JWTs signed by this service-account key file; returns its client_email."""
        from cryptography.hazmat.primitives import serialization

        info = json.loads(Path(key_path).read_text())
        public = serialization.load_pem_private_key(info["private_key"].encode(), password=None).public_key()
        pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.public_keys[info["client_email"]] = pem.decode()
        return str(info["client_email"])

    def service_account(self, path: str | Path, token_uri: str) -> str:
        """make_service_account_key + trust: a key file this fake accepts; returns its path."""
        self.trust(make_service_account_key(path, token_uri))
        return str(path)

    def is_valid(self, token: str) -> bool:
        return token in self.issued and token not in self.revoked

    def revoke_all(self) -> None:
        """Invalidate every token issued so far (Vertex answers 401 until a new one is fetched)."""
        self.revoked.update(self.issued)

    async def token(self, request: Request) -> Response:
        from google.auth import jwt

        rec = await _record(self.requests, request)
        self.token_requests += 1
        form = {k: v[0] for k, v in parse_qs(rec.body.decode()).items()}
        assertion = form.get("assertion", "")
        try:
            if form.get("grant_type") != JWT_BEARER:
                raise _OAuthError(
                    "unsupported_grant_type", "Invalid grant_type: " + form.get("grant_type", "")
                )
            public_key = self.public_keys.get(str(jwt.decode(assertion, verify=False).get("iss")))
            if public_key is None:
                raise _OAuthError("invalid_grant", "Invalid grant: account not found")
            own_uri = str(request.url.replace(query=""))
            claims = jwt.decode(assertion, certs=public_key, audience=[GOOGLE_TOKEN_AUDIENCE, own_uri])
            if CLOUD_PLATFORM_SCOPE not in str(claims.get("scope", "")).split():
                raise _OAuthError("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        except _OAuthError as exc:
            return JSONResponse({"error": exc.args[0], "error_description": exc.args[1]}, status_code=400)
        except ValueError as exc:  # google.auth.jwt: bad signature, audience, expiry or encoding
            return JSONResponse(
                {"error": "invalid_grant", "error_description": f"Invalid JWT: {exc}"}, status_code=400
            )
        token = f"ya29.fake-{next(self._counter)}"
        self.issued.append(token)
        return JSONResponse({"access_token": token, "expires_in": 3600, "token_type": "Bearer"})


@dataclass
class VertexCall:
    project: str
    region: str
    model: str  # as in the URL, e.g. claude-sonnet-4-5@20250929
    method: str  # rawPredict or streamRawPredict


class FakeVertex:
    """Vertex AI rawPredict / streamRawPredict for publishers/anthropic models.

    Scenarios: text, tool, retrieve, throttle, throttle-list (errors wrapped in a JSON list, as
    Vertex sometimes does), denied, not-found.
    """

    ANTHROPIC_VERSIONS = frozenset({"vertex-2023-10-16", SDK_ANTHROPIC_VERSION})
    PATH = re.compile(
        r"/v1(?:beta1)?/projects/([^/]+)/locations/([^/]+)/publishers/([^/]+)/models/([^/:]+)"
        r":(rawPredict|streamRawPredict)"
    )

    def __init__(self, tokens: FakeGoogleToken) -> None:
        self.tokens = tokens
        self.scenario = "text"
        self.requests: list[Recorded] = []
        self.calls: list[VertexCall] = []

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self.handle, methods=ALL_METHODS)])

    def error(self, code: int, status: str, message: str) -> Response:
        body: Any = {"error": {"code": code, "message": message, "status": status}}
        return JSONResponse([body] if self.scenario == "throttle-list" else body, status_code=code)

    async def handle(self, request: Request) -> Response:
        rec = await _record(self.requests, request)
        match = self.PATH.fullmatch(unquote(rec.path))
        if rec.method != "POST" or not match:
            return self.error(404, "NOT_FOUND", f"The requested URL {rec.path} was not found on this server.")
        project, region, publisher, model, method = match.groups()
        auth = rec.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not self.tokens.is_valid(auth[7:]):
            return self.error(401, "UNAUTHENTICATED", VERTEX_UNAUTHENTICATED)
        self.calls.append(VertexCall(project, region, model, method))
        resource = f"projects/{project}/locations/{region}/publishers/{publisher}/models/{model}"
        if publisher != "anthropic" or self.scenario == "not-found":
            return self.error(404, "NOT_FOUND", VERTEX_NOT_FOUND.format(resource))
        doc = rec.json
        if not isinstance(doc, dict):
            return self.error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        if "model" in doc:
            return self.error(400, "INVALID_ARGUMENT", "model: Extra inputs are not permitted")
        if doc.get("anthropic_version") not in self.ANTHROPIC_VERSIONS:
            return self.error(
                400, "INVALID_ARGUMENT", "anthropic_version: Input should be 'vertex-2023-10-16'"
            )
        if not doc.get("messages") or "max_tokens" not in doc:
            return self.error(400, "INVALID_ARGUMENT", "messages and max_tokens: Field required")
        if self.scenario in ("throttle", "throttle-list"):
            return self.error(429, "RESOURCE_EXHAUSTED", VERTEX_QUOTA.format(model.split("@")[0]))
        if self.scenario == "denied":
            return self.error(403, "PERMISSION_DENIED", VERTEX_DENIED.format(resource))
        message = anthropic_message(doc, self.scenario, "Hello from vertex", model.split("@")[0])
        if method == "rawPredict" and not doc.get("stream"):
            return JSONResponse(message)
        return _stream(_anthropic_events(message), "text/event-stream")


# ---------------------------------------------------------------------- Azure OpenAI


def _filter_results(*, prompt: bool) -> dict[str, Any]:
    results: dict[str, Any] = {
        k: {"filtered": False, "severity": "safe"} for k in ("hate", "self_harm", "sexual", "violence")
    }
    extra = ("jailbreak",) if prompt else ("protected_material_code", "protected_material_text")
    return {**results, **{k: {"filtered": False, "detected": False} for k in extra}}


class FakeAzure:
    """Azure OpenAI chat completions (per deployment) and the Responses API.

    Scenarios: text, tool, retrieve, throttle, content-filter. `.deployments` (a set; None, the
    default, accepts any name) lists the deployments that exist.
    """

    MODEL = "gpt-4o-2024-11-20"

    def __init__(
        self,
        api_key: str,
        api_versions: Iterable[str] = ("2024-10-21", "2025-04-01-preview"),
        entra_token: str | None = None,
    ) -> None:
        self.api_key, self.entra_token = api_key, entra_token
        self.api_versions = set(api_versions)
        self.deployments: set[str] | None = None
        self.scenario = "text"
        self.requests: list[Recorded] = []
        self.used_deployments: list[str] = []

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/openai/deployments/{deployment}/chat/completions", self.chat, methods=["POST"]),
                Route("/openai/responses", self.responses, methods=["POST"]),
                Route("/{path:path}", self.unknown, methods=ALL_METHODS),
            ]
        )

    @staticmethod
    def error(
        http_status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
    ) -> Response:
        return JSONResponse({"error": {"code": code, "message": message, **extra}}, http_status, headers)

    async def unknown(self, request: Request) -> Response:
        await _record(self.requests, request)
        return self.error(404, "404", "Resource not found")

    def _refusal(self, request: Request, deployment: str, operation: str) -> Response | None:
        """Azure's answer when it refuses the request (auth, version, deployment, scenario)."""
        version = request.query_params.get("api-version")
        key, auth = request.headers.get("api-key"), request.headers.get("authorization")
        if not (
            key == self.api_key or (self.entra_token is not None and auth == f"Bearer {self.entra_token}")
        ):
            return self.error(401, "401", AZURE_DENIED)
        if version not in self.api_versions:
            return self.error(404, "404", "Resource not found")
        self.used_deployments.append(deployment)
        if self.deployments is not None and deployment not in self.deployments:
            return self.error(404, "DeploymentNotFound", AZURE_NO_DEPLOYMENT)
        if self.scenario == "throttle":
            retry = {"retry-after": "6", "retry-after-ms": "6000"}
            return self.error(429, "429", AZURE_THROTTLE.format(operation, version), retry)
        if self.scenario == "content-filter":
            verdict = {**_filter_results(prompt=True), "jailbreak": {"filtered": True, "detected": True}}
            inner = {"code": "ResponsibleAIPolicyViolation", "content_filter_result": verdict}
            return self.error(
                400, "content_filter", AZURE_FILTERED, param="prompt", status=400, innererror=inner
            )
        return None

    async def chat(self, request: Request) -> Response:
        rec = await _record(self.requests, request)
        refusal = self._refusal(request, unquote(request.path_params["deployment"]), "ChatCompletions_Create")
        if refusal is not None:
            return refusal
        body = rec.json if isinstance(rec.json, dict) else {}
        if not body.get("messages"):
            return self.error(400, "BadRequest", "'messages' is a required property", param="messages")
        text, calls = chat_answer(body, self.scenario, "Hello from azure")
        n = len(body["messages"])
        base = {
            "id": f"chatcmpl-azure{n}",
            "created": 1700000000,
            "model": self.MODEL,
            "system_fingerprint": "fp_az",
        }
        prompt_filters = [{"prompt_index": 0, "content_filter_results": _filter_results(prompt=True)}]
        headers = {"apim-request-id": f"apim-{n}", "x-ms-region": "East US", "x-request-id": f"req-{n}"}
        if not body.get("stream"):
            choice = _chat_choice(text, calls, content_filter_results=_filter_results(prompt=False))
            doc = {
                **base,
                "object": "chat.completion",
                "choices": [choice],
                "prompt_filter_results": prompt_filters,
            }
            return JSONResponse({**doc, "usage": USAGE}, headers=headers)
        # Azure opens every stream with a choice-less chunk carrying the prompt filter verdicts.
        first = {
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": prompt_filters,
        }
        chunks = _chat_chunks(text, calls, base, {"content_filter_results": _filter_results(prompt=False)})
        chunks[0]["choices"][0]["content_filter_results"] = {}
        return _sse_data([first, *chunks], headers)

    async def responses(self, request: Request) -> Response:
        rec = await _record(self.requests, request)
        body = rec.json if isinstance(rec.json, dict) else {}
        refusal = self._refusal(request, str(body.get("model", "")), "Responses_Create")
        if refusal is not None:
            return refusal
        output = responses_output(body, self.scenario, "Hello from azure")
        response = responses_document("resp_azure1", self.MODEL, output, body.get("tools"))
        if not body.get("stream"):
            return JSONResponse(response)
        return _stream(_responses_events(response), "text/event-stream")


# ---------------------------------------------------------------------- OpenRouter


class FakeOpenRouter:
    """OpenRouter's OpenAI-compatible chat completions and Anthropic-compatible messages.

    Scenarios: text, tool, retrieve, credits, throttle. `.referers` / `.titles` record the
    HTTP-Referer and X-Title headers of each authenticated request (None when absent).
    """

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.scenario = "text"
        self.requests: list[Recorded] = []
        self.referers: list[str | None] = []
        self.titles: list[str | None] = []

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/v1/chat/completions", self.chat, methods=["POST"]),
                Route("/api/v1/messages", self.messages, methods=["POST"]),
            ]
        )

    @staticmethod
    def error(status: int, message: str, **extra: Any) -> Response:
        return JSONResponse({"error": {"message": message, "code": status, **extra}}, status_code=status)

    def _refusal(self, rec: Recorded, *, anthropic: bool) -> Response | None:
        auth = rec.headers.get("authorization", "")
        key = (
            auth[7:] if auth.startswith("Bearer ") else (rec.headers.get("x-api-key") if anthropic else None)
        )
        if key != self.api_key:
            return self.error(401, "No auth credentials found")
        self.referers.append(rec.headers.get("http-referer"))
        self.titles.append(rec.headers.get("x-title"))
        if self.scenario == "credits":
            return self.error(402, OPENROUTER_CREDITS)
        if self.scenario == "throttle":
            limits = {"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "0"}
            return self.error(429, OPENROUTER_THROTTLE, metadata={"headers": limits})
        if not isinstance(rec.json, dict):
            return self.error(400, "Invalid JSON body")
        return None

    async def chat(self, request: Request) -> Response:
        rec = await _record(self.requests, request)
        refusal = self._refusal(rec, anthropic=False)
        if refusal is not None:
            return refusal
        body = rec.json
        text, calls = chat_answer(body, self.scenario, "Hello from openrouter")
        n = len(body.get("messages") or ())
        base = {
            "id": f"gen-1700000000-fake{n}",
            "provider": "OpenAI",
            "model": body.get("model"),
            "created": 1700000000,
        }
        if not body.get("stream"):
            choice = _chat_choice(text, calls, native_finish_reason="tool_calls" if calls else "stop")
            return JSONResponse({**base, "object": "chat.completion", "choices": [choice], "usage": USAGE})
        chunks = _chat_chunks(text, calls, base, {})
        chunks[-1]["usage"] = USAGE
        # OpenRouter keeps streams alive with SSE comment lines while the provider warms up.
        return _sse_data(chunks, lead=b": OPENROUTER PROCESSING\n\n")

    async def messages(self, request: Request) -> Response:
        rec = await _record(self.requests, request)
        refusal = self._refusal(rec, anthropic=True)
        if refusal is not None:
            return refusal
        message = anthropic_message(
            rec.json, self.scenario, "Hello from openrouter", str(rec.json.get("model"))
        )
        if not rec.json.get("stream"):
            return JSONResponse({**message, "provider": "Anthropic"})
        return _stream(_anthropic_events(message), "text/event-stream")
