"""The proxy's cloud backends, driven by the official anthropic and openai SDKs against loopback
fakes of Bedrock (SigV4 recomputed with botocore), Vertex AI (a fake Google token endpoint),
Azure OpenAI and OpenRouter, streaming and not, with tool use, compression and CCR rounds."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.proxy.cloud_fakes import (
    FakeAzure,
    FakeBedrock,
    FakeGoogleToken,
    FakeOpenRouter,
    FakeVertex,
    start,
)
from tests.proxy.conversations import (
    ANTHROPIC_SYSTEM,
    ANTHROPIC_TOOLS,
    anthropic_conversation,
    openai_conversation,
)
from tests.proxy.fake_upstream import RETRIEVE, TOOL_ARGS, FakeUpstream

pytestmark = pytest.mark.enable_socket

AWS_KEY, AWS_SECRET, AWS_TOKEN = (
    "AKIAHEADROOMTEST0001",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYHEADROOMKEY",
    "FQoGZXIvYXdzSESSIONTOKEN0123456789",
)
CLIENT_KEY = "sk-ant-client-key-never-forwarded-to-clouds"
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
OPENAI_WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def proxy_for(tmp_path) -> Iterator[Any]:
    """`url = proxy_for(backend=..., ...)`: a real proxy (uvicorn, loopback) with that backend."""
    from headroom_proxy import ProxySettings
    from headroom_proxy._app import Proxy

    servers = []

    def launch(**overrides: Any) -> str:
        settings = ProxySettings(
            # The format a cloud does not serve keeps a direct upstream: keep it on loopback too.
            upstream_openai="http://127.0.0.1:9",
            upstream_anthropic="http://127.0.0.1:9",
            ccr_dir=str(tmp_path / "ccr"),
            request_log=str(tmp_path / "requests.jsonl"),
            trust_env=False,
            **overrides,
        )
        proxy = Proxy(settings)
        proxy.check_backends()  # as `headroom proxy` does before it listens
        servers.append(start(proxy.app()))
        return servers[-1].url

    try:
        yield launch
    finally:
        for server in servers:
            server.stop()


@contextlib.contextmanager
def serving(fake: Any) -> Iterator[Any]:
    """Run a fake cloud on loopback for the test; its base URL is `fake.url`."""
    server = start(fake.app())
    fake.url = server.url
    try:
        yield fake
    finally:
        server.stop()


def anthropic_client(url: str, key: str = CLIENT_KEY) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=key, base_url=url, max_retries=0)


def _ask(client: anthropic.Anthropic, stream: bool, **kwargs: Any) -> tuple[Any, str]:
    """The final message (streamed through the SDK's helper, or not) and its joined text."""
    if stream:
        with client.messages.stream(**kwargs) as s:
            final = s.get_final_message()
    else:
        final = client.messages.create(**kwargs)
    return final, "".join(block.text for block in final.content if block.type == "text")


def openai_client(url: str, key: str = "sk-client-openai-key") -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=url + "/v1", max_retries=0)


def _no_aws_files(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never probe 169.254.169.254
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)


# ---------------------------------------------------------------------------- AWS Bedrock


@pytest.fixture
def bedrock(monkeypatch, tmp_path) -> Iterator[FakeBedrock]:
    _no_aws_files(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", AWS_TOKEN)
    with serving(FakeBedrock(AWS_KEY, AWS_SECRET, "us-east-1", session_token=AWS_TOKEN)) as fake:
        yield fake


def _bedrock_proxy(proxy_for, fake, **kw) -> str:
    return proxy_for(backend="bedrock", region="us-east-1", backend_url=fake.url, **kw)


def test_bedrock_plain_message_is_signed_mapped_and_enveloped(bedrock, proxy_for):
    url = _bedrock_proxy(proxy_for, bedrock)
    msg = anthropic_client(url).messages.create(
        model="claude-sonnet-4-5-20250929",
        max_tokens=50,
        messages=HI,
        extra_headers={"anthropic-beta": "context-1m-2025-08-07"},
    )
    assert msg.content[0].type == "text" and msg.content[0].text
    sent = bedrock.requests[-1]
    assert bedrock.signature_failures == []  # the fake recomputed SigV4 over the exact body
    assert bedrock.model_ids[-1] == "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert sent.path.endswith("/invoke")
    assert "model" not in sent.json and "stream" not in sent.json
    assert sent.json["anthropic_version"] == "bedrock-2023-05-31"
    assert sent.json["anthropic_beta"] == ["context-1m-2025-08-07"]
    assert CLIENT_KEY not in json.dumps(sent.headers)  # the client's own key stays home


def test_bedrock_stream_with_tool_use_arrives_as_anthropic_sse(bedrock, proxy_for):
    bedrock.scenario = "tool"
    url = _bedrock_proxy(proxy_for, bedrock)
    with anthropic_client(url).messages.stream(
        model="claude-haiku-4-5", max_tokens=50, messages=HI, tools=[WEATHER_TOOL]
    ) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_message()
    assert bedrock.requests[-1].path.endswith("/invoke-with-response-stream")
    assert "input_json" in events or "content_block_delta" in events
    call = next(block for block in final.content if block.type == "tool_use")
    assert call.name == "get_weather" and call.input == json.loads(TOOL_ARGS)
    assert final.stop_reason == "tool_use"


@pytest.mark.parametrize("stream", [False, True])
def test_bedrock_compresses_and_answers_ccr_rounds_itself(bedrock, proxy_for, stream):
    bedrock.scenario = "retrieve"
    url = _bedrock_proxy(proxy_for, bedrock)
    messages = anthropic_conversation(1)
    client = anthropic_client(url)
    kwargs: dict[str, Any] = dict(
        model="claude-haiku-4-5",
        max_tokens=50,
        system=ANTHROPIC_SYSTEM,
        messages=messages,
        tools=ANTHROPIC_TOOLS,
    )
    final, text = _ask(client, stream, **kwargs)
    assert "RETRIEVED:" in text and "cust_" in text  # the original rows came back through CCR
    assert all(block.type != "tool_use" or block.name != RETRIEVE for block in final.content)
    first = bedrock.requests[0].json
    assert len(json.dumps(first["messages"])) < len(json.dumps(messages)) / 2  # compressed
    assert first["tools"][-1]["name"] == RETRIEVE
    assert len(bedrock.requests) == 2 and bedrock.signature_failures == []


def test_bedrock_errors_reach_the_client_in_its_format(bedrock, proxy_for):
    url = _bedrock_proxy(proxy_for, bedrock)
    client = anthropic_client(url)
    bedrock.scenario = "throttle"
    with pytest.raises(anthropic.RateLimitError) as throttled:
        client.messages.create(model="claude-haiku-4-5", max_tokens=5, messages=HI)
    assert "AWS Bedrock (ThrottlingException)" in str(throttled.value)
    bedrock.scenario = "denied"
    with pytest.raises(anthropic.PermissionDeniedError) as denied:
        client.messages.create(model="claude-haiku-4-5", max_tokens=5, messages=HI)
    assert "AccessDeniedException" in str(denied.value) and "model is enabled" in str(denied.value)
    bedrock.scenario = "stream-throttle"
    with (
        pytest.raises(anthropic.APIStatusError) as mid_stream,
        client.messages.stream(model="claude-haiku-4-5", max_tokens=5, messages=HI) as s,
    ):
        for _ in s:
            pass
    assert "throttlingException" in str(mid_stream.value)
    with pytest.raises(anthropic.BadRequestError) as unknown:
        client.messages.create(model="llama-3-70b", max_tokens=5, messages=HI)
    assert "--model-map" in str(unknown.value)
    with pytest.raises(anthropic.NotFoundError) as batches:
        client.messages.batches.list()
    assert "not available through the AWS Bedrock backend" in str(batches.value)


def test_bedrock_arn_model_ids_are_escaped_and_signed(bedrock, proxy_for):
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123"
    url = _bedrock_proxy(proxy_for, bedrock, model_map=f"claude-sonnet-4-5={arn}")
    anthropic_client(url).messages.create(model="claude-sonnet-4-5", max_tokens=5, messages=HI)
    assert bedrock.model_ids[-1] == arn
    assert "application-inference-profile%2Fabc123" in bedrock.requests[-1].path
    assert bedrock.signature_failures == []


def test_bedrock_wrong_secret_is_refused_by_the_cloud_and_reported(bedrock, proxy_for, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-right-secret-key-0123456789")
    url = _bedrock_proxy(proxy_for, bedrock)
    with pytest.raises(anthropic.PermissionDeniedError) as refused:
        anthropic_client(url).messages.create(model="claude-haiku-4-5", max_tokens=5, messages=HI)
    assert "InvalidSignatureException" in str(refused.value)
    assert bedrock.signature_failures


def test_credentials_never_reach_logs_metrics_or_the_request_log(bedrock, proxy_for, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    url = _bedrock_proxy(proxy_for, bedrock, log_level="debug")
    client = anthropic_client(url)
    client.messages.create(model="claude-haiku-4-5", max_tokens=5, messages=HI)
    bedrock.scenario = "denied"
    with pytest.raises(anthropic.PermissionDeniedError):
        client.messages.create(model="claude-haiku-4-5", max_tokens=5, messages=HI)
    metrics = httpx.get(url + "/metrics").text
    request_log = (tmp_path / "requests.jsonl").read_text()
    assert "headroom" in metrics and request_log
    for secret in (AWS_SECRET, AWS_TOKEN, CLIENT_KEY):
        for where, text in (("logs", caplog.text), ("metrics", metrics), ("request log", request_log)):
            assert secret not in text, where


# ---------------------------------------------------------------------------- Vertex AI


@pytest.fixture
def vertex(monkeypatch, tmp_path) -> Iterator[tuple[FakeVertex, FakeGoogleToken]]:
    tokens = FakeGoogleToken()
    token_server = start(tokens.app())
    fake = FakeVertex(tokens)
    server = start(fake.app())
    key = tokens.service_account(tmp_path / "sa.json", token_server.url + "/token")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", key)
    for name in ("ANTHROPIC_VERTEX_PROJECT_ID", "GOOGLE_CLOUD_PROJECT", "CLOUD_ML_REGION"):
        monkeypatch.delenv(name, raising=False)
    fake.url = server.url  # type: ignore[attr-defined]
    try:
        yield fake, tokens
    finally:
        server.stop()
        token_server.stop()


def test_vertex_messages_streams_and_tools_with_a_cached_token(vertex, proxy_for):
    fake, tokens = vertex
    url = proxy_for(backend="vertex_ai", region="us-east5", project="test-project", backend_url=fake.url)
    client = anthropic_client(url)
    msg = client.messages.create(model="claude-sonnet-4-5-20250929", max_tokens=5, messages=HI)
    assert msg.content[0].text
    call = fake.calls[-1]
    assert (call.project, call.region, call.model, call.method) == (
        "test-project",
        "us-east5",
        "claude-sonnet-4-5@20250929",
        "rawPredict",
    )
    sent = fake.requests[-1].json
    assert "model" not in sent and sent["anthropic_version"] == "vertex-2023-10-16"
    fake.scenario = "tool"
    with client.messages.stream(
        model="claude-sonnet-4-5-20250929", max_tokens=5, messages=HI, tools=[WEATHER_TOOL]
    ) as stream:
        final = stream.get_final_message()
    assert fake.calls[-1].method == "streamRawPredict"
    assert next(b for b in final.content if b.type == "tool_use").input == json.loads(TOOL_ARGS)
    assert tokens.token_requests == 1  # one token, reused until it nears expiry


def test_vertex_refreshes_a_revoked_token_on_expiry_and_reports_errors(vertex, proxy_for):
    fake, tokens = vertex
    url = proxy_for(backend="vertex_ai", region="us-east5", project="test-project", backend_url=fake.url)
    client = anthropic_client(url)
    client.messages.create(model="claude-haiku-4-5-20251001", max_tokens=5, messages=HI)
    fake.scenario = "throttle-list"  # Vertex wraps some errors in a JSON list
    with pytest.raises(anthropic.RateLimitError) as throttled:
        client.messages.create(model="claude-haiku-4-5-20251001", max_tokens=5, messages=HI)
    assert "Google Vertex AI (RESOURCE_EXHAUSTED)" in str(throttled.value)
    fake.scenario = "not-found"
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.create(model="claude-haiku-4-5-20251001", max_tokens=5, messages=HI)
    assert "Google Vertex AI" in str(missing.value)
    fake.scenario = "text"
    tokens.revoke_all()  # the cloud now refuses the cached token: the client sees a 401
    with pytest.raises(anthropic.AuthenticationError) as refused:
        client.messages.create(model="claude-haiku-4-5-20251001", max_tokens=5, messages=HI)
    assert "UNAUTHENTICATED" in str(refused.value)
    for token in tokens.issued:
        assert token not in str(refused.value)


@pytest.mark.parametrize("stream", [False, True])
def test_vertex_ccr_rounds(vertex, proxy_for, stream):
    fake, _ = vertex
    fake.scenario = "retrieve"
    url = proxy_for(backend="vertex_ai", region="us-east5", project="test-project", backend_url=fake.url)
    kwargs: dict[str, Any] = dict(
        model="claude-haiku-4-5-20251001",
        max_tokens=50,
        messages=anthropic_conversation(1),
        tools=ANTHROPIC_TOOLS,
    )
    _, text = _ask(anthropic_client(url), stream, **kwargs)
    assert "RETRIEVED:" in text and "cust_" in text


# ---------------------------------------------------------------------------- Azure OpenAI

AZURE_KEY = "azure-resource-key-0123456789abcdef"


@pytest.fixture
def azure(monkeypatch) -> Iterator[FakeAzure]:
    for name in ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_AD_TOKEN", "AZURE_OPENAI_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    with serving(FakeAzure(AZURE_KEY)) as fake:
        yield fake


def test_azure_chat_with_the_resource_key_from_the_environment(azure, proxy_for, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_KEY)
    url = proxy_for(backend="azure", azure_endpoint=azure.url, model_map="gpt-4o-mini=prod-mini")
    client = openai_client(url)
    reply = client.chat.completions.create(model="gpt-4o", messages=HI)
    assert reply.choices[0].message.content
    sent = azure.requests[-1]
    assert sent.path == "/openai/deployments/gpt-4o/chat/completions"
    assert sent.query == "api-version=2024-10-21"
    assert sent.headers["api-key"] == AZURE_KEY and "authorization" not in sent.headers
    client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert azure.requests[-1].path == "/openai/deployments/prod-mini/chat/completions"


def test_azure_endpoint_from_the_environment(azure, proxy_for, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", azure.url)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_KEY)
    url = proxy_for(backend="azure")  # no --azure-endpoint: the documented fallback
    assert openai_client(url).chat.completions.create(model="gpt-4o", messages=HI).choices
    assert azure.requests[-1].path == "/openai/deployments/gpt-4o/chat/completions"


def test_azure_stream_with_tool_calls_and_filter_chunks(azure, proxy_for):
    azure.scenario = "tool"
    url = proxy_for(backend="azure", azure_endpoint=azure.url)
    client = openai_client(url, key=AZURE_KEY)  # the client's own key becomes `api-key`
    stream = client.chat.completions.create(model="gpt-4o", messages=HI, tools=[OPENAI_WEATHER], stream=True)
    arguments = ""
    for chunk in stream:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or ():
                arguments += call.function.arguments or ""
    assert json.loads(arguments) == json.loads(TOOL_ARGS)
    assert azure.requests[-1].headers["api-key"] == AZURE_KEY


def test_azure_ccr_round_and_responses_api(azure, proxy_for, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_KEY)
    azure.scenario = "retrieve"
    url = proxy_for(backend="azure", azure_endpoint=azure.url, api_version="2025-04-01-preview")
    client = openai_client(url)
    reply = client.chat.completions.create(model="gpt-4o", messages=openai_conversation(1))
    assert reply.choices[0].message.content.startswith("RETRIEVED:")
    stream = client.chat.completions.create(model="gpt-4o", messages=openai_conversation(1), stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text.startswith("RETRIEVED:") and "cust_" in text
    azure.scenario = "text"
    response = client.responses.create(model="gpt-4o", input="Hi")
    assert response.output_text
    assert azure.requests[-1].path == "/openai/responses"
    assert azure.requests[-1].json["model"] == "gpt-4o"


def test_azure_errors_name_the_backend(azure, proxy_for, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_KEY)
    url = proxy_for(backend="azure", azure_endpoint=azure.url)
    client = openai_client(url)
    azure.scenario = "throttle"
    with pytest.raises(openai.RateLimitError) as throttled:
        client.chat.completions.create(model="gpt-4o", messages=HI)
    assert str(throttled.value).count("Azure OpenAI") >= 1
    assert throttled.value.response.headers.get("retry-after") == "6"
    azure.scenario = "content-filter"
    with pytest.raises(openai.BadRequestError) as filtered:
        client.chat.completions.create(model="gpt-4o", messages=HI)
    assert filtered.value.code == "content_filter"
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "wrong-key-0123456789")
    url = proxy_for(backend="azure", azure_endpoint=azure.url)
    with pytest.raises(openai.AuthenticationError) as refused:
        openai_client(url).chat.completions.create(model="gpt-4o", messages=HI)
    assert "Azure OpenAI (401)" in str(refused.value) and "wrong-key-0123456789" not in str(refused.value)


ENTRA_JWT = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2NvZ25pdGl2ZXNlcnZpY2VzLmF6dXJlLmNvbSJ9.c2lnbmF0dXJl"


def test_azure_entra_tokens_from_the_client_or_azure_identity(monkeypatch, proxy_for):
    from headroom_proxy import ProxySettings
    from headroom_proxy._app import Proxy

    for name in ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_AD_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    fake = FakeAzure(AZURE_KEY, entra_token=ENTRA_JWT)
    server = start(fake.app())
    try:
        # A client that already holds an Entra token: forwarded as a bearer, not as `api-key`.
        url = proxy_for(backend="azure", azure_endpoint=server.url)
        openai_client(url, key=ENTRA_JWT).chat.completions.create(model="gpt-4o", messages=HI)
        assert fake.requests[-1].headers["authorization"] == f"Bearer {ENTRA_JWT}"
        assert "api-key" not in fake.requests[-1].headers

        # azure_auth = entra: tokens from an azure-identity credential, cached until near expiry.
        class Credential:  # azure.core's TokenCredential protocol, as DefaultAzureCredential has
            def __init__(self) -> None:
                self.scopes: list[str] = []

            def get_token(self, *scopes: str) -> Any:
                from azure.core.credentials import AccessToken

                self.scopes.extend(scopes)
                return AccessToken(ENTRA_JWT, 4_102_444_800)

        proxy = Proxy(
            ProxySettings(
                backend="azure",
                azure_auth="entra",
                azure_endpoint=server.url,
                request_log="off",
                trust_env=False,
            )
        )
        proxy.check_backends()
        assert type(proxy.backends["openai"].entra).__name__ == "DefaultAzureCredential"
        credential = Credential()
        proxy.backends["openai"].entra = credential  # type: ignore[attr-defined]
        proxy_server = start(proxy.app())
        try:
            client = openai_client(proxy_server.url, key="ignored")
            client.chat.completions.create(model="gpt-4o", messages=HI)
            client.chat.completions.create(model="gpt-4o", messages=HI)
        finally:
            proxy_server.stop()
        assert credential.scopes == ["https://cognitiveservices.azure.com/.default"]
        assert fake.requests[-1].headers["authorization"] == f"Bearer {ENTRA_JWT}"
    finally:
        server.stop()


# ---------------------------------------------------------------------------- OpenRouter

OPENROUTER_KEY = "sk-or-v1-0123456789abcdef"


@pytest.fixture
def openrouter(monkeypatch) -> Iterator[FakeOpenRouter]:
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    with serving(FakeOpenRouter(OPENROUTER_KEY)) as fake:
        yield fake


def test_openrouter_openai_and_anthropic_clients(openrouter, proxy_for, monkeypatch):
    monkeypatch.setenv("OPENROUTER_API_KEY", OPENROUTER_KEY)
    url = proxy_for(
        backend="openrouter",
        backend_url=openrouter.url + "/api",
        openrouter_referer="https://app.example",
        openrouter_title="Headroom tests",
    )
    reply = openai_client(url).chat.completions.create(model="gpt-4o", messages=HI)
    assert reply.choices[0].message.content
    sent = openrouter.requests[-1]
    assert sent.path == "/api/v1/chat/completions" and sent.json["model"] == "openai/gpt-4o"
    assert openrouter.referers[-1] == "https://app.example" and openrouter.titles[-1] == "Headroom tests"
    openrouter.scenario = "tool"
    with anthropic_client(url).messages.stream(
        model="claude-sonnet-4-5-20250929", max_tokens=5, messages=HI, tools=[WEATHER_TOOL]
    ) as stream:
        final = stream.get_final_message()
    assert next(b for b in final.content if b.type == "tool_use").input == json.loads(TOOL_ARGS)
    assert openrouter.requests[-1].json["model"] == "anthropic/claude-sonnet-4.5"
    assert openrouter.requests[-1].headers["authorization"] == f"Bearer {OPENROUTER_KEY}"


def test_openrouter_client_key_and_errors(openrouter, proxy_for):
    url = proxy_for(backend="openrouter", backend_url=openrouter.url + "/api")
    anthropic_client(url, key=OPENROUTER_KEY).messages.create(
        model="anthropic/claude-haiku-4.5", max_tokens=5, messages=HI
    )  # the client's x-api-key, sent on as a bearer
    assert openrouter.requests[-1].headers["authorization"] == f"Bearer {OPENROUTER_KEY}"
    openrouter.scenario = "retrieve"
    stream = openai_client(url, key=OPENROUTER_KEY).chat.completions.create(
        model="openai/gpt-4o", messages=openai_conversation(1), stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text.startswith("RETRIEVED:")
    openrouter.scenario = "credits"
    with pytest.raises(openai.APIStatusError) as broke:
        openai_client(url, key=OPENROUTER_KEY).chat.completions.create(model="gpt-4o", messages=HI)
    assert broke.value.status_code == 402 and "OpenRouter" in str(broke.value)


# ---------------------------------------------------------------------------- CLI


def _headroom() -> list[str]:
    script = Path(sys.executable).parent / "headroom"
    return (
        [str(script)] if script.exists() else [sys.executable, "-c", "from headroom_cli import main; main()"]
    )


def test_cli_refuses_to_start_without_cloud_credentials(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HEADROOM_", "AZURE_"))}
    env.update(
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
        HEADROOM_CCR_DIR=str(tmp_path / "ccr"),
        HEADROOM_REQUEST_LOG="off",
    )
    for args, expected in (
        (["--backend", "bedrock", "--region", "us-east-1"], "bedrock backend: no AWS credentials found"),
        (["--backend", "azure"], "azure backend: no resource endpoint"),
        (["--backend", "nimbus"], "backend must be one of"),
    ):
        done = subprocess.run(
            [*_headroom(), "proxy", "--port", "0", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 2, done.stderr
        assert expected in done.stderr
        assert "Traceback" not in done.stderr


def test_vertex_tokens_and_keys_stay_out_of_logs(vertex, proxy_for, caplog, tmp_path):
    fake, tokens = vertex
    caplog.set_level(logging.DEBUG)
    url = proxy_for(backend="vertex_ai", region="global", project="test-project", backend_url=fake.url)
    anthropic_client(url).messages.create(model="claude-haiku-4-5-20251001", max_tokens=5, messages=HI)
    assert fake.calls[-1].region == "global"
    private_key = json.loads((tmp_path / "sa.json").read_text())["private_key"]
    assert tokens.issued
    for secret in [*tokens.issued, private_key.splitlines()[1], CLIENT_KEY]:
        assert secret not in caplog.text


def test_an_unreachable_cloud_is_a_clear_502(proxy_for, monkeypatch, tmp_path):
    _no_aws_files(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    url = proxy_for(backend="bedrock", region="us-east-1", backend_url="http://127.0.0.1:9")
    with pytest.raises(anthropic.InternalServerError) as down:
        anthropic_client(url).messages.create(model="claude-haiku-4-5", max_tokens=5, messages=HI)
    assert down.value.status_code == 502
    assert "AWS Bedrock (http://127.0.0.1:9) could not be reached" in str(down.value)
    ready = httpx.get(url + "/readyz").json()
    assert ready["checks"]["upstream_anthropic"].startswith("unreachable")


def test_bedrock_fails_open_like_the_direct_upstream(bedrock, proxy_for):
    """A compression that cannot finish in time forwards the original, signed all the same."""
    url = _bedrock_proxy(proxy_for, bedrock, compress_timeout=1e-6)
    messages = anthropic_conversation(2)
    raw = anthropic_client(url).messages.with_raw_response.create(
        model="claude-haiku-4-5", max_tokens=5, messages=messages
    )
    assert raw.headers["x-headroom-compression"] == "timeout"
    assert bedrock.requests[-1].json["messages"] == messages and bedrock.signature_failures == []


def test_vertex_token_refusal_is_a_clear_401(vertex, proxy_for, monkeypatch, tmp_path):
    from tests.proxy.cloud_fakes import make_service_account_key

    fake, _ = vertex
    token_uri = json.loads((tmp_path / "sa.json").read_text())["token_uri"]
    untrusted = make_service_account_key(tmp_path / "other.json", token_uri)  # the fake never trusted it
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", untrusted)
    url = proxy_for(backend="vertex_ai", region="us-east5", project="test-project", backend_url=fake.url)
    with pytest.raises(anthropic.AuthenticationError) as refused:
        anthropic_client(url).messages.create(model="claude-haiku-4-5-20251001", max_tokens=5, messages=HI)
    assert "Google access token could not be obtained (RefreshError)" in str(refused.value)
    assert fake.requests == []


def test_bedrock_counts_tokens_with_its_count_tokens_api(bedrock, proxy_for):
    url = _bedrock_proxy(proxy_for, bedrock)
    counted = anthropic_client(url).messages.count_tokens(model="claude-sonnet-4-5", messages=HI)
    assert counted.input_tokens > 0
    assert bedrock.requests[-1].path == "/model/anthropic.claude-sonnet-4-5-20250929-v1:0/count-tokens"
    inner = bedrock.counted_bodies[-1]
    assert inner["messages"] == HI and inner["anthropic_version"] == "bedrock-2023-05-31"
    assert bedrock.signature_failures == []


# ---------------------------------------------------------------------------- LiteLLM


class ScenarioUpstream(FakeUpstream):
    """The fake Anthropic upstream with the scenario set by the test (LiteLLM sends no
    `x-fake-scenario` header of the client's)."""

    scenario = "text"

    def _scenario(self, request: Any) -> str:  # type: ignore[override]
        return self.scenario


@pytest.fixture
def litellm_upstream(monkeypatch) -> Iterator[ScenarioUpstream]:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-litellm-test-key")
    with serving(ScenarioUpstream()) as fake:
        yield fake


def _litellm_proxy(proxy_for, fake) -> str:
    return proxy_for(backend="litellm", litellm_model="anthropic/claude-haiku-4-5", backend_url=fake.url)


def test_litellm_translates_openai_chat_to_anthropic_and_back(litellm_upstream, proxy_for):
    url = _litellm_proxy(proxy_for, litellm_upstream)
    reply = openai_client(url).chat.completions.create(model="gpt-4o", messages=HI)
    assert reply.choices[0].message.content.startswith("hello from fake")
    sent = litellm_upstream.requests[-1]
    assert sent.path == "/v1/messages"  # LiteLLM spoke Anthropic's API to the upstream
    assert sent.json["model"] == "claude-haiku-4-5" and sent.json["messages"][0]["role"] == "user"
    assert sent.headers["x-api-key"] == "sk-ant-litellm-test-key"


def test_litellm_stream_with_tool_calls_and_ccr_round(litellm_upstream, proxy_for):
    url = _litellm_proxy(proxy_for, litellm_upstream)
    client = openai_client(url)
    litellm_upstream.scenario = "tool"
    stream = client.chat.completions.create(model="gpt-4o", messages=HI, tools=[OPENAI_WEATHER], stream=True)
    arguments = "".join(
        call.function.arguments or ""
        for chunk in stream
        for choice in chunk.choices
        for call in choice.delta.tool_calls or ()
    )
    assert json.loads(arguments) == json.loads(TOOL_ARGS)
    litellm_upstream.scenario = "retrieve"
    reply = client.chat.completions.create(model="gpt-4o", messages=openai_conversation(1))
    assert reply.choices[0].message.content.startswith("RETRIEVED:")
    assert any(t["name"] == RETRIEVE for t in litellm_upstream.requests[-2].json["tools"])


def test_litellm_errors_and_unsupported_paths(litellm_upstream, proxy_for):
    url = _litellm_proxy(proxy_for, litellm_upstream)
    litellm_upstream.scenario = "error-429"
    with pytest.raises(openai.RateLimitError) as throttled:
        openai_client(url).chat.completions.create(model="gpt-4o", messages=HI)
    assert "LiteLLM" in str(throttled.value)
    with pytest.raises(openai.NotFoundError) as unsupported:
        openai_client(url).responses.create(model="gpt-4o", input="Hi")
    assert "LiteLLM backend" in str(unsupported.value)
