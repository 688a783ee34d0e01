"""AWS Bedrock: Anthropic Messages requests sent to InvokeModel / InvokeModelWithResponseStream.

The body keeps the client's Messages JSON minus `model` and `stream` (Bedrock takes both from
the URL and rejects them in the body), plus `anthropic_version` and the `anthropic-beta` header
as `anthropic_beta`. Requests are signed with SigV4 by botocore, with credentials from the
standard AWS chain (environment, shared profile, SSO, container or instance role). A streamed
answer arrives in AWS's binary event-stream framing, each event an Anthropic stream event in
base64; it is re-framed as the Anthropic server-sent events the client's SDK expects.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import AsyncIterator, Iterable
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import orjson

from headroom_proxy._backends._base import (
    ANTHROPIC,
    BackendError,
    BytesStream,
    UpstreamCall,
    header,
    json_body,
    log,
    read_capped,
    replaced_body,
)
from headroom_proxy._backends._cloud import CloudBackend
from headroom_proxy._backends._errors import error_event, error_message
from headroom_proxy._settings import ProxyConfigError

BEDROCK_ANTHROPIC_VERSION = "bedrock-2023-05-31"

# Anthropic API model names -> Bedrock foundation-model ids. With `bedrock_inference_profile`
# 'auto' (the default) the region's cross-region inference profile prefix is added ("us." in
# us-east-1), because recent Claude models only run on demand through a profile. Ids, ARNs and
# anything in `model_map` pass through untouched.
BEDROCK_MODELS: dict[str, str] = {
    "claude-3-haiku-20240307": "anthropic.claude-3-haiku-20240307-v1:0",
    "claude-3-opus-20240229": "anthropic.claude-3-opus-20240229-v1:0",
    "claude-3-5-sonnet-20240620": "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "claude-3-5-sonnet-20241022": "anthropic.claude-3-5-sonnet-20241022-v2:0",
    "claude-3-5-haiku-20241022": "anthropic.claude-3-5-haiku-20241022-v1:0",
    "claude-3-7-sonnet-20250219": "anthropic.claude-3-7-sonnet-20250219-v1:0",
    "claude-sonnet-4-20250514": "anthropic.claude-sonnet-4-20250514-v1:0",
    "claude-opus-4-20250514": "anthropic.claude-opus-4-20250514-v1:0",
    "claude-opus-4-1-20250805": "anthropic.claude-opus-4-1-20250805-v1:0",
    "claude-sonnet-4-5-20250929": "anthropic.claude-sonnet-4-5-20250929-v1:0",
    "claude-haiku-4-5-20251001": "anthropic.claude-haiku-4-5-20251001-v1:0",
    "claude-opus-4-5-20251101": "anthropic.claude-opus-4-5-20251101-v1:0",
    # From Claude 4.6 on, Bedrock ids are the API name without a date or version suffix.
    "claude-opus-4-6": "anthropic.claude-opus-4-6-v1",
    "claude-sonnet-4-6": "anthropic.claude-sonnet-4-6",
    "claude-opus-4-7": "anthropic.claude-opus-4-7",
    "claude-opus-4-8": "anthropic.claude-opus-4-8",
    "claude-sonnet-5": "anthropic.claude-sonnet-5",
    "claude-sonnet-5-5": "anthropic.claude-sonnet-5-5",
    "claude-fable-5": "anthropic.claude-fable-5",
}
_ALIASES = {
    "claude-3-5-haiku-latest": "claude-3-5-haiku-20241022",
    "claude-3-5-sonnet-latest": "claude-3-5-sonnet-20241022",
    "claude-3-7-sonnet-latest": "claude-3-7-sonnet-20250219",
    "claude-sonnet-4-0": "claude-sonnet-4-20250514",
    "claude-opus-4-0": "claude-opus-4-20250514",
    "claude-opus-4-1": "claude-opus-4-1-20250805",
    "claude-sonnet-4-5": "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5": "claude-haiku-4-5-20251001",
    "claude-opus-4-5": "claude-opus-4-5-20251101",
}
for _alias, _name in _ALIASES.items():
    BEDROCK_MODELS[_alias] = BEDROCK_MODELS[_name]

_CLAUDE_NAME = re.compile(r"claude-[a-z0-9][a-z0-9-]{0,60}")
_DATED = re.compile(r"-\d{8}$")
# "anthropic.claude-…", "us.anthropic.claude-…", "global.anthropic.claude-…": already Bedrock's.
_BEDROCK_ID = re.compile(r"(?:[a-z][a-z-]{0,15}\.)?[a-z][a-z0-9-]{1,30}\.[A-Za-z0-9][\w.:-]{0,200}")


def inference_prefix(setting: str, region: str) -> str:
    """The cross-region inference profile prefix for `region` ('auto'), or the one set."""
    if setting == "none":
        return ""
    if setting != "auto":
        return setting
    if region.startswith("us-gov-"):
        return "us-gov"
    if region.startswith(("ap-northeast-1", "ap-northeast-3")):
        return "jp"
    if region.startswith(("ap-southeast-2", "ap-southeast-4")):
        return "au"
    for start, prefix in (("us-", "us"), ("ca-", "us"), ("eu-", "eu"), ("ap-", "apac")):
        if region.startswith(start):
            return prefix
    return ""


def bedrock_model_id(name: str, region: str, model_map: dict[str, str], profile: str) -> str:
    """The Bedrock model id (or inference-profile id / ARN) for a client's model name."""
    if name in model_map:
        return model_map[name]
    if name.startswith("arn:") or _BEDROCK_ID.fullmatch(name):
        return name
    base = BEDROCK_MODELS.get(name) or _by_naming_rule(name)
    if base is None:
        raise BackendError(
            400,
            f"Headroom proxy: no AWS Bedrock model id is known for {name!r}; map it with "
            f"--model-map '{name}=<Bedrock model id, inference profile or ARN>', or send the "
            "Bedrock id as the model",
        )
    prefix = inference_prefix(profile, region)
    return f"{prefix}.{base}" if prefix else base


def _by_naming_rule(name: str) -> str | None:
    """A Claude model the table does not know yet, named the way Bedrock names them: dated
    names as `anthropic.NAME-v1:0` (up to 4.5), undated ones as `anthropic.NAME` (4.6 on).
    If the guess is wrong Bedrock says the id is invalid, and the error names --model-map."""
    if not _CLAUDE_NAME.fullmatch(name):
        return None
    log.info("AWS Bedrock: %r is not in the model table; trying the id Bedrock's naming gives it", name)
    return f"anthropic.{name}-v1:0" if _DATED.search(name) else f"anthropic.{name}"


class BedrockBackend(CloudBackend):
    name = "bedrock"
    label = "AWS Bedrock"
    providers = frozenset({ANTHROPIC})

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self._session: Any = None
        self._credentials: Any = None
        self._frozen: Any = None
        self.region = settings.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")

    # -- credentials ----------------------------------------------------------------------

    def _botocore_session(self) -> Any:
        try:
            import botocore.session
        except ModuleNotFoundError:
            raise ProxyConfigError(
                "the bedrock backend needs botocore: pip install 'headroom-ai[bedrock]'"
            ) from None
        if self._session is None:
            self._session = botocore.session.Session(profile=self.settings.aws_profile or None)
        return self._session

    def check(self) -> None:
        import botocore.exceptions

        session = self._botocore_session()
        try:
            if not self.region:
                self.region = session.get_config_variable("region")
            credentials = session.get_credentials()
        except botocore.exceptions.ProfileNotFound as exc:
            raise ProxyConfigError(f"bedrock backend: {exc}") from None
        except botocore.exceptions.BotoCoreError as exc:
            raise ProxyConfigError(
                f"bedrock backend: cannot load AWS credentials ({type(exc).__name__})"
            ) from None
        if not self.region:
            raise ProxyConfigError(
                "bedrock backend: no AWS region (use --region, AWS_REGION or a profile's region)"
            )
        if credentials is None:
            raise ProxyConfigError(
                "bedrock backend: no AWS credentials found (set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, use --aws-profile / AWS_PROFILE, or run with an IAM role)"
            )
        self._credentials = credentials

    def origin(self, provider: str) -> str:
        return self.endpoint(f"https://bedrock-runtime.{self.region or 'us-east-1'}.amazonaws.com")

    def secrets(self) -> Iterable[str]:
        frozen = self._frozen  # the set last signed with (never a refresh on the event loop)
        if frozen is None:
            return ()
        return [s for s in (frozen.access_key, frozen.secret_key, frozen.token) if s]

    # -- request --------------------------------------------------------------------------

    def serves_text(self) -> str:
        return "Anthropic Messages requests (POST /v1/messages and /v1/messages/count_tokens)"

    async def build(self, client: httpx.AsyncClient, call: UpstreamCall) -> httpx.Request:
        counting = not call.llm and call.path == "/v1/messages/count_tokens"
        if call.method != "POST" or not (counting or (call.llm and call.path == "/v1/messages")):
            raise self.unsupported(call)
        await self.ensure_started()
        payload = json_body(call)
        model = bedrock_model_id(
            self.model_of(payload),
            str(self.region),
            dict(self.model_map),
            # CountTokens takes the foundation model, not a cross-region inference profile.
            "none" if counting else self.settings.bedrock_inference_profile,
        )
        stream = payload.get("stream") is True
        body_doc = {k: v for k, v in payload.items() if k not in ("model", "stream")}
        body_doc.setdefault("anthropic_version", BEDROCK_ANTHROPIC_VERSION)
        betas = header(call.headers, "anthropic-beta")
        if betas and "anthropic_beta" not in body_doc:
            body_doc["anthropic_beta"] = [b.strip() for b in betas.split(",") if b.strip()]
        if counting:  # CountTokens wraps a whole InvokeModel body, which needs max_tokens
            body_doc.setdefault("max_tokens", 1)
            inner = base64.b64encode(orjson.dumps(body_doc)).decode()
            body_doc = {"input": {"invokeModel": {"body": inner}}}
        body = orjson.dumps(body_doc)
        # ":" stays as it is in ids like "…-v1:0"; "/" in an ARN is escaped (as Anthropic's
        # own Bedrock client does), and botocore signs the path exactly as it is sent.
        action = "count-tokens" if counting else "invoke-with-response-stream" if stream else "invoke"
        url = f"{self.origin(ANTHROPIC)}/model/{quote(model, safe=':')}/{action}"
        accept = "application/vnd.amazon.eventstream" if stream else "application/json"
        import botocore.exceptions

        try:
            headers = await anyio.to_thread.run_sync(self._signed_headers, url, body, accept)
        except botocore.exceptions.BotoCoreError as exc:  # expired SSO session, role refresh failed
            log.warning("AWS Bedrock: cannot get credentials (%s)", type(exc).__name__)
            raise BackendError(
                401, f"Headroom proxy: AWS Bedrock credentials could not be obtained ({type(exc).__name__})"
            ) from None
        return client.build_request("POST", url, headers=headers, content=body)

    def _signed_headers(self, url: str, body: bytes, accept: str) -> list[tuple[str, str]]:
        """SigV4 headers over the exact body (in a thread: refreshing role credentials may
        call the instance metadata service or STS)."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(
            method="POST", url=url, data=body, headers={"content-type": "application/json", "accept": accept}
        )
        frozen = self._credentials.get_frozen_credentials()
        self._frozen = frozen
        SigV4Auth(frozen, "bedrock", self.region).add_auth(request)
        return [(k, v) for k, v in request.headers.items()]

    # -- response -------------------------------------------------------------------------

    async def adapt_success(self, response: httpx.Response, provider: str) -> httpx.Response:
        if response.request.url.path.endswith("/count-tokens"):  # {"inputTokens": n} -> Anthropic's
            try:
                counted = orjson.loads(await read_capped(response))["inputTokens"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                raise BackendError(
                    502, "Headroom proxy: AWS Bedrock's CountTokens answer was not understood"
                ) from None
            return replaced_body(response, orjson.dumps({"input_tokens": counted}))
        if not response.headers.get("content-type", "").startswith("application/vnd.amazon.eventstream"):
            return response
        headers = [("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache")]
        if "x-amzn-requestid" in response.headers:
            headers.append(("request-id", response.headers["x-amzn-requestid"]))
        return httpx.Response(
            response.status_code,
            headers=headers,
            stream=BytesStream(self._events(response, provider), response),
            request=response.request,
        )

    async def _events(self, response: httpx.Response, provider: str) -> AsyncIterator[bytes]:
        """Bedrock event-stream frames -> Anthropic SSE, event by event, as they arrive."""
        from botocore.eventstream import EventStreamBuffer, ParserError

        frames = EventStreamBuffer()
        try:
            async for chunk in response.aiter_bytes():
                frames.add_data(chunk)
                for message in frames:
                    kind = message.headers.get(":message-type")
                    if kind == "event" and message.headers.get(":event-type") == "chunk":
                        event = orjson.loads(base64.b64decode(orjson.loads(message.payload)["bytes"]))
                        name = event.get("type", "message") if isinstance(event, dict) else "message"
                        yield b"event: " + str(name).encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"
                    elif kind in ("exception", "error"):
                        cause = message.headers.get(":exception-type") or message.headers.get(":error-code")
                        try:
                            text = str(orjson.loads(message.payload).get("message", ""))
                        except (orjson.JSONDecodeError, AttributeError):
                            text = message.payload.decode("utf-8", "replace")
                        status = 429 if cause and "throttl" in str(cause).lower() else 500
                        log.warning("AWS Bedrock ended a stream with %s", cause)
                        msg = error_message(self.label, status, cause, text, self.secrets())
                        yield error_event(provider, status, msg, cause)
                        return
        except (ParserError, KeyError, ValueError, TypeError) as exc:
            log.warning("AWS Bedrock stream could not be decoded (%s)", type(exc).__name__)
            msg = f"Headroom proxy: the AWS Bedrock event stream could not be decoded ({type(exc).__name__})"
            yield error_event(provider, 502, msg)
