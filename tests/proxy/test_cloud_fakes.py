"""The cloud fakes checked directly with the clients the real clouds are used with (botocore,
google-auth, the openai and anthropic SDKs, httpx), without the proxy."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request as GoogleRequest
from google.oauth2 import service_account

from tests.proxy.cloud_fakes import (
    CLOUD_PLATFORM_SCOPE,
    FakeAzure,
    FakeBedrock,
    FakeGoogleToken,
    FakeOpenRouter,
    FakeVertex,
    make_service_account_key,
    start,
)
from tests.proxy.conftest import ServerThread
from tests.proxy.fake_upstream import RETRIEVE, TOOL_ARGS

pytestmark = pytest.mark.enable_socket

REGION = "us-east-1"
ARN = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0"
BODY = {
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "Hi"}],
}
MARKER = '[headroom: 40 rows omitted; retrieve with headroom_retrieve(key="3f9a0b1c2d3e4f50")]'
RETRIEVE_TOOL = {"name": RETRIEVE, "description": "fetch", "input_schema": {"type": "object"}}


@pytest.fixture
def bedrock() -> Iterator[tuple[FakeBedrock, ServerThread]]:
    fake = FakeBedrock("AKIDFAKE", "secret/fake", REGION, session_token="session-fake")
    server = start(fake.app())
    try:
        yield fake, server
    finally:
        server.stop()


def bedrock_client(url: str, secret: str = "secret/fake") -> Any:
    import botocore.session
    from botocore.config import Config

    return botocore.session.get_session().create_client(
        "bedrock-runtime",
        region_name=REGION,
        endpoint_url=url,
        aws_access_key_id="AKIDFAKE",
        aws_secret_access_key=secret,
        aws_session_token="session-fake",
        config=Config(retries={"max_attempts": 1}),
    )


def signed(url: str, body: bytes) -> dict[str, str]:
    """Headers botocore's SigV4 signer puts on a POST of `body` to `url`."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="POST", url=url, data=body, headers={"content-type": "application/json"})
    SigV4Auth(Credentials("AKIDFAKE", "secret/fake", "session-fake"), "bedrock", REGION).add_auth(request)
    return dict(request.headers.items())


def test_bedrock_accepts_botocore_signed_invoke_with_an_arn(bedrock):
    fake, server = bedrock
    reply = bedrock_client(server.url).invoke_model(modelId=ARN, body=json.dumps(BODY))
    message = json.loads(reply["body"].read())
    assert message["content"][0]["text"] == "Hello from bedrock"
    assert message["model"] == "claude-sonnet-4-5-20250929"
    assert fake.model_ids == [ARN]
    assert "%3A" in fake.requests[-1].path and "%2F" in fake.requests[-1].path
    assert fake.signature_failures == []


def test_bedrock_rejects_a_tampered_body_and_a_wrong_secret(bedrock):
    fake, server = bedrock
    url = f"{server.url}/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke"
    body = json.dumps(BODY).encode()
    headers = signed(url, body)
    assert httpx.post(url, content=body, headers=headers).status_code == 200
    tampered = body.replace(b"Hi", b"Ho")
    reply = httpx.post(url, content=tampered, headers=headers)
    assert reply.status_code == 403
    assert reply.headers["x-amzn-ErrorType"].startswith("InvalidSignatureException:")
    assert reply.json()["message"].startswith("The request signature we calculated does not match")
    without_token = {k: v for k, v in headers.items() if k.lower() != "x-amz-security-token"}
    assert httpx.post(url, content=body, headers=without_token).status_code == 403
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as err:
        bedrock_client(server.url, secret="wrong").invoke_model(modelId=ARN, body=json.dumps(BODY))
    assert err.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert len(fake.signature_failures) == 3


def test_bedrock_validates_the_claude_body(bedrock):
    from botocore.exceptions import ClientError

    _, server = bedrock
    client = bedrock_client(server.url)
    for bad, needle in [
        ({**BODY, "model": "claude"}, "extraneous key [model] is not permitted"),
        ({**BODY, "stream": True}, "extraneous key [stream] is not permitted"),
        ({**BODY, "anthropic_version": "2023-06-01"}, "anthropic_version"),
        ({k: v for k, v in BODY.items() if k != "max_tokens"}, "required key [max_tokens]"),
    ]:
        with pytest.raises(ClientError) as err:
            client.invoke_model(modelId=ARN, body=json.dumps(bad))
        assert err.value.response["Error"]["Code"] == "ValidationException"
        assert needle in err.value.response["Error"]["Message"]
    # the anthropic SDK's Bedrock client sends its dated API version; Bedrock takes it
    sdk_body = {**BODY, "anthropic_version": "2026-10-21"}
    assert (
        client.invoke_model(modelId=ARN, body=json.dumps(sdk_body))["ResponseMetadata"]["HTTPStatusCode"]
        == 200
    )


def test_bedrock_event_stream_decodes_with_botocore(bedrock):
    from botocore.eventstream import EventStreamBuffer

    fake, server = bedrock
    fake.scenario = "tool"
    url = f"{server.url}/model/{ARN.replace(':', '%3A').replace('/', '%2F')}/invoke-with-response-stream"
    body = json.dumps({**BODY, "tools": [RETRIEVE_TOOL]}).encode()
    reply = httpx.post(url, content=body, headers=signed(url, body))
    assert reply.headers["content-type"] == "application/vnd.amazon.eventstream"
    buffer = EventStreamBuffer()
    buffer.add_data(reply.content)
    events = []
    for message in buffer:
        assert message.headers == {
            ":event-type": "chunk",
            ":content-type": "application/json",
            ":message-type": "event",
        }
        events.append(json.loads(base64.b64decode(json.loads(message.payload)["bytes"])))
    assert [e["type"] for e in events[:2]] == ["message_start", "content_block_start"]
    fragments = [e["delta"]["partial_json"] for e in events if e["type"] == "content_block_delta"]
    assert len(fragments) == 50 and json.loads("".join(fragments)) == json.loads(TOOL_ARGS)
    assert events[-1]["type"] == "message_stop"
    assert events[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 10


def test_bedrock_stream_through_the_botocore_client_and_its_throttle(bedrock):
    from botocore.exceptions import ClientError, EventStreamError

    fake, server = bedrock
    client = bedrock_client(server.url)
    reply = client.invoke_model_with_response_stream(modelId=ARN, body=json.dumps(BODY))
    events = [json.loads(part["chunk"]["bytes"]) for part in reply["body"]]
    text = "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta")
    assert text == "Hello from bedrock"
    fake.scenario = "stream-throttle"
    reply = client.invoke_model_with_response_stream(modelId=ARN, body=json.dumps(BODY))
    seen = []
    with pytest.raises(EventStreamError) as err:
        for part in reply["body"]:
            seen.append(json.loads(part["chunk"]["bytes"])["type"])
    assert seen == ["message_start", "content_block_start", "content_block_delta"]
    assert err.value.response["Error"]["Code"] == "throttlingException"
    for scenario, code, status in [
        ("throttle", "ThrottlingException", 429),
        ("denied", "AccessDeniedException", 403),
        ("not-found", "ResourceNotFoundException", 404),
    ]:
        fake.scenario = scenario
        with pytest.raises(ClientError) as failure:
            client.invoke_model(modelId=ARN, body=json.dumps(BODY))
        assert failure.value.response["Error"]["Code"] == code
        assert failure.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


# ---------------------------------------------------------------------- Google token + Vertex


@pytest.fixture
def gcp(tmp_path) -> Iterator[tuple[FakeGoogleToken, FakeVertex, str, str]]:
    tokens = FakeGoogleToken()
    vertex = FakeVertex(tokens)
    token_server, vertex_server = start(tokens.app()), start(vertex.app())
    try:
        key_path = tokens.service_account(tmp_path / "sa.json", token_server.url + "/token")
        yield tokens, vertex, key_path, vertex_server.url
    finally:
        token_server.stop()
        vertex_server.stop()


def vertex_url(base: str, method: str = "rawPredict") -> str:
    return (
        f"{base}/v1/projects/test-project/locations/us-east5/publishers/anthropic/models/"
        f"claude-sonnet-4-5@20250929:{method}"
    )


VERTEX_BODY = {**BODY, "anthropic_version": "vertex-2023-10-16"}


def test_google_auth_refresh_gets_a_token_vertex_accepts(gcp):
    tokens, vertex, key_path, base = gcp
    credentials = service_account.Credentials.from_service_account_file(
        key_path, scopes=[CLOUD_PLATFORM_SCOPE]
    )
    credentials.refresh(GoogleRequest())
    assert credentials.token == "ya29.fake-1" and tokens.token_requests == 1
    auth = {"authorization": f"Bearer {credentials.token}"}
    reply = httpx.post(vertex_url(base), json=VERTEX_BODY, headers=auth)
    assert reply.status_code == 200 and reply.json()["content"][0]["text"] == "Hello from vertex"
    assert (
        vertex.calls[-1].project == "test-project" and vertex.calls[-1].model == "claude-sonnet-4-5@20250929"
    )
    with httpx.stream(
        "POST", vertex_url(base, "streamRawPredict"), json={**VERTEX_BODY, "stream": True}, headers=auth
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        text = r.read().decode()
    assert "event: message_start" in text and "event: message_stop" in text
    tokens.revoke_all()
    assert httpx.post(vertex_url(base), json=VERTEX_BODY, headers=auth).status_code == 401


def test_token_endpoint_rejects_unknown_keys_and_missing_scope(gcp, tmp_path):
    tokens, _, key_path, _ = gcp
    token_uri = json.loads(Path(key_path).read_text())["token_uri"]
    stranger = make_service_account_key(tmp_path / "other.json", token_uri)
    request = GoogleRequest()
    with pytest.raises(RefreshError, match="invalid_grant"):
        service_account.Credentials.from_service_account_file(
            stranger, scopes=[CLOUD_PLATFORM_SCOPE]
        ).refresh(request)
    with pytest.raises(RefreshError, match="invalid_scope"):
        scoped = ["https://www.googleapis.com/auth/userinfo.email"]
        service_account.Credentials.from_service_account_file(key_path, scopes=scoped).refresh(request)
    assert tokens.issued == [] and tokens.token_requests == 2


def test_vertex_checks_token_body_and_answers_its_errors(gcp):
    tokens, vertex, _, base = gcp
    tokens.issued.append("ya29.known")
    auth = {"authorization": "Bearer ya29.known"}
    reply = httpx.post(vertex_url(base), json=VERTEX_BODY, headers={"authorization": "Bearer ya29.forged"})
    assert reply.status_code == 401 and reply.json()["error"]["status"] == "UNAUTHENTICATED"
    for bad in [
        {**VERTEX_BODY, "model": "claude"},
        {**VERTEX_BODY, "anthropic_version": "bedrock-2023-05-31"},
    ]:
        reply = httpx.post(vertex_url(base), json=bad, headers=auth)
        assert reply.status_code == 400 and reply.json()["error"]["status"] == "INVALID_ARGUMENT"
    for scenario, status, kind in [
        ("throttle", 429, "RESOURCE_EXHAUSTED"),
        ("denied", 403, "PERMISSION_DENIED"),
        ("not-found", 404, "NOT_FOUND"),
    ]:
        vertex.scenario = scenario
        reply = httpx.post(vertex_url(base), json=VERTEX_BODY, headers=auth)
        assert reply.status_code == status and reply.json()["error"]["status"] == kind
    vertex.scenario = "throttle-list"
    reply = httpx.post(vertex_url(base), json=VERTEX_BODY, headers=auth)
    assert reply.status_code == 429 and reply.json()[0]["error"]["status"] == "RESOURCE_EXHAUSTED"


def test_vertex_retrieve_round_trip(gcp):
    tokens, vertex, _, base = gcp
    tokens.issued.append("ya29.known")
    auth = {"authorization": "Bearer ya29.known"}
    vertex.scenario = "retrieve"
    messages = [{"role": "user", "content": "Summarise " + MARKER}]
    body = {**VERTEX_BODY, "messages": messages, "tools": [RETRIEVE_TOOL]}
    call = httpx.post(vertex_url(base), json=body, headers=auth).json()["content"][1]
    assert call["name"] == RETRIEVE and call["input"] == {"key": "3f9a0b1c2d3e4f50"}
    messages += [
        {"role": "assistant", "content": [call]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": "row 1"}]},
    ]
    answer = httpx.post(vertex_url(base), json={**body, "messages": messages}, headers=auth).json()
    assert answer["content"][0]["text"] == "RETRIEVED:row 1"


# ---------------------------------------------------------------------- Azure


@pytest.fixture
def azure() -> Iterator[tuple[FakeAzure, str]]:
    fake = FakeAzure("azure-key-1", entra_token="entra-token-1")
    fake.deployments = {"gpt4o-prod"}
    server = start(fake.app())
    try:
        yield fake, server.url
    finally:
        server.stop()


def azure_client(url: str, **kw: Any) -> openai.AzureOpenAI:
    kw.setdefault("api_key", "azure-key-1")
    kw.setdefault("api_version", "2024-10-21")
    return openai.AzureOpenAI(azure_endpoint=url, max_retries=0, **kw)


def test_azure_chat_plain_stream_and_tool_fragments(azure):
    fake, url = azure
    messages = [{"role": "user", "content": "Hi"}]
    reply = azure_client(url).chat.completions.create(model="gpt4o-prod", messages=messages)
    assert reply.choices[0].message.content == "Hello from azure"
    raw = reply.model_dump()
    assert raw["prompt_filter_results"][0]["content_filter_results"]["jailbreak"]["detected"] is False
    assert raw["choices"][0]["content_filter_results"]["hate"]["severity"] == "safe"
    assert fake.requests[-1].query == "api-version=2024-10-21" and fake.used_deployments == ["gpt4o-prod"]
    fake.scenario = "tool"
    chunks = list(
        azure_client(url).chat.completions.create(model="gpt4o-prod", messages=messages, stream=True)
    )
    assert chunks[0].choices == [] and chunks[0].model_dump()["prompt_filter_results"]
    args = "".join(
        c.choices[0].delta.tool_calls[0].function.arguments or ""
        for c in chunks
        if c.choices and c.choices[0].delta.tool_calls
    )
    assert args == TOOL_ARGS and chunks[-1].choices[0].finish_reason == "tool_calls"
    with httpx.stream(
        "POST",
        f"{url}/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21",
        json={"messages": messages, "stream": True},
        headers={"authorization": "Bearer entra-token-1"},
    ) as r:
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"


def test_azure_checks_key_version_and_deployment(azure):
    _, url = azure
    messages = [{"role": "user", "content": "Hi"}]
    with pytest.raises(openai.AuthenticationError, match="invalid subscription key"):
        azure_client(url, api_key="wrong").chat.completions.create(model="gpt4o-prod", messages=messages)
    with pytest.raises(openai.NotFoundError, match="Resource not found"):
        azure_client(url, api_version="2023-01-01").chat.completions.create(
            model="gpt4o-prod", messages=messages
        )
    with pytest.raises(openai.NotFoundError) as missing:
        azure_client(url).chat.completions.create(model="missing", messages=messages)
    assert missing.value.code == "DeploymentNotFound"
    reply = httpx.post(f"{url}/openai/deployments/gpt4o-prod/chat/completions", json={"messages": messages})
    assert reply.status_code == 401
    reply = httpx.post(
        f"{url}/openai/deployments/gpt4o-prod/chat/completions",
        json={"messages": messages},
        headers={"api-key": "azure-key-1"},
    )
    assert reply.status_code == 404 and reply.json() == {
        "error": {"code": "404", "message": "Resource not found"}
    }


def test_azure_errors_and_responses_api(azure):
    fake, url = azure
    messages = [{"role": "user", "content": "Hi"}]
    fake.scenario = "throttle"
    with pytest.raises(openai.RateLimitError) as throttled:
        azure_client(url).chat.completions.create(model="gpt4o-prod", messages=messages)
    assert throttled.value.response.headers["retry-after"] == "6"
    fake.scenario = "content-filter"
    with pytest.raises(openai.BadRequestError) as filtered:
        azure_client(url).chat.completions.create(model="gpt4o-prod", messages=messages)
    assert filtered.value.code == "content_filter"
    fake.scenario = "text"
    client = azure_client(url, api_version="2025-04-01-preview")
    assert client.responses.create(model="gpt4o-prod", input="Hi").output_text == "Hello from azure"
    fake.scenario = "tool"
    events = list(
        client.responses.create(model="gpt4o-prod", input=[{"role": "user", "content": "Hi"}], stream=True)
    )
    assert events[-1].type == "response.completed"
    assert events[-1].response.output[0].arguments == TOOL_ARGS
    assert fake.requests[-1].path == "/openai/responses"


# ---------------------------------------------------------------------- OpenRouter


@pytest.fixture
def openrouter() -> Iterator[tuple[FakeOpenRouter, str]]:
    fake = FakeOpenRouter("sk-or-v1-fake")
    server = start(fake.app())
    try:
        yield fake, server.url
    finally:
        server.stop()


def test_openrouter_chat_and_messages(openrouter):
    fake, url = openrouter
    client = openai.OpenAI(
        api_key="sk-or-v1-fake",
        base_url=url + "/api/v1",
        max_retries=0,
        default_headers={"HTTP-Referer": "https://example.test", "X-Title": "Headroom"},
    )
    messages = [{"role": "user", "content": "Hi"}]
    reply = client.chat.completions.create(model="openai/gpt-4o", messages=messages)
    assert reply.choices[0].message.content == "Hello from openrouter"
    assert reply.model_dump()["provider"] == "OpenAI"
    stream = list(client.chat.completions.create(model="openai/gpt-4o", messages=messages, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in stream) == "Hello from openrouter"
    assert fake.referers == ["https://example.test"] * 2 and fake.titles == ["Headroom"] * 2
    claude = anthropic.Anthropic(auth_token="sk-or-v1-fake", base_url=url + "/api", max_retries=0)
    fake.scenario = "tool"
    with claude.messages.stream(model="anthropic/claude-sonnet-4.5", max_tokens=50, messages=messages) as s:
        final = s.get_final_message()
    assert final.content[0].type == "tool_use" and final.content[0].input == json.loads(TOOL_ARGS)
    assert fake.requests[-1].path == "/api/v1/messages"


def test_openrouter_auth_credits_and_throttle(openrouter):
    fake, url = openrouter
    messages = [{"role": "user", "content": "Hi"}]
    with pytest.raises(openai.AuthenticationError, match="No auth credentials found"):
        openai.OpenAI(api_key="wrong", base_url=url + "/api/v1", max_retries=0).chat.completions.create(
            model="m", messages=messages
        )
    client = openai.OpenAI(api_key="sk-or-v1-fake", base_url=url + "/api/v1", max_retries=0)
    fake.scenario = "credits"
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(model="m", messages=messages)
    assert err.value.status_code == 402 and "Insufficient credits" in err.value.message
    fake.scenario = "throttle"
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="m", messages=messages)


def test_vertex_accepts_the_anthropic_vertex_sdk(gcp):
    tokens, vertex, key_path, base = gcp
    credentials = service_account.Credentials.from_service_account_file(
        key_path, scopes=[CLOUD_PLATFORM_SCOPE]
    )
    client = anthropic.AnthropicVertex(
        region="us-east5",
        project_id="test-project",
        credentials=credentials,
        base_url=base + "/v1",
        max_retries=0,
    )
    messages: Any = [{"role": "user", "content": "Hi"}]
    reply = client.messages.create(model="claude-sonnet-4-5@20250929", max_tokens=50, messages=messages)
    assert reply.content[0].type == "text" and reply.content[0].text == "Hello from vertex"
    vertex.scenario = "tool"
    with client.messages.stream(
        model="claude-sonnet-4-5@20250929", max_tokens=50, messages=messages
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "tool_use" and final.content[0].input == json.loads(TOOL_ARGS)
    assert [c.method for c in vertex.calls] == ["rawPredict", "streamRawPredict"]
    assert tokens.token_requests == 1  # the SDK reused the token
