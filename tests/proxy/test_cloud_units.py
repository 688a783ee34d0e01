"""Cloud backends, piece by piece: model maps, error rewriting, settings (no servers)."""

from __future__ import annotations

import pytest

from headroom_proxy import ProxyConfigError, ProxySettings, resolve_settings
from headroom_proxy._backends import (
    BackendError,
    backends_for,
    bedrock_model_id,
    openrouter_model,
    vertex_model_id,
)
from headroom_proxy._backends._bedrock import inference_prefix
from headroom_proxy._backends._errors import error_message, parse_cloud_error


@pytest.mark.parametrize(
    ("name", "region", "profile", "expected"),
    [
        ("claude-sonnet-4-5-20250929", "us-east-1", "auto", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
        ("claude-sonnet-4-5", "eu-west-1", "auto", "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"),
        (
            "claude-3-5-sonnet-20241022",
            "ap-south-1",
            "auto",
            "apac.anthropic.claude-3-5-sonnet-20241022-v2:0",
        ),
        ("claude-sonnet-4-6", "ap-northeast-1", "auto", "jp.anthropic.claude-sonnet-4-6"),
        ("claude-opus-4-6", "ap-southeast-2", "auto", "au.anthropic.claude-opus-4-6-v1"),
        # Not in the table: Bedrock's naming rule (undated: no suffix; dated: -v1:0).
        ("claude-opus-5", "us-east-1", "auto", "us.anthropic.claude-opus-5"),
        ("claude-opus-9-20300101", "eu-west-3", "auto", "eu.anthropic.claude-opus-9-20300101-v1:0"),
        ("claude-haiku-4-5", "us-gov-west-1", "auto", "us-gov.anthropic.claude-haiku-4-5-20251001-v1:0"),
        ("claude-opus-4-5", "us-east-1", "global", "global.anthropic.claude-opus-4-5-20251101-v1:0"),
        ("claude-3-haiku-20240307", "us-east-1", "none", "anthropic.claude-3-haiku-20240307-v1:0"),
        ("claude-3-haiku-20240307", "me-south-1", "auto", "anthropic.claude-3-haiku-20240307-v1:0"),
        # Bedrock ids, inference profiles and ARNs pass through untouched.
        ("anthropic.claude-future-v9:0", "us-east-1", "auto", "anthropic.claude-future-v9:0"),
        (
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "us-east-1",
            "auto",
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        ),
        (
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc",
            "us-east-1",
            "auto",
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc",
        ),
    ],
)
def test_bedrock_model_ids(name, region, profile, expected):
    assert bedrock_model_id(name, region, {}, profile) == expected


def test_bedrock_model_map_wins_and_unknown_names_say_what_to_do():
    assert (
        bedrock_model_id("claude-sonnet-4-5", "us-east-1", {"claude-sonnet-4-5": "arn:x"}, "auto") == "arn:x"
    )
    with pytest.raises(BackendError) as info:
        bedrock_model_id("gpt-4o", "us-east-1", {}, "auto")
    assert info.value.status == 400
    assert "--model-map 'gpt-4o=" in info.value.message


def test_inference_prefix_from_region():
    assert inference_prefix("auto", "ca-central-1") == "us"
    assert inference_prefix("auto", "eu-central-1") == "eu"
    assert inference_prefix("none", "eu-central-1") == ""
    assert inference_prefix("jp", "ap-northeast-1") == "jp"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5@20250929"),
        ("claude-3-5-haiku-20241022", "claude-3-5-haiku@20241022"),
        ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5@20250929"),
        ("claude-sonnet-4-5", "claude-sonnet-4-5"),
    ],
)
def test_vertex_model_ids(name, expected):
    assert vertex_model_id(name, {}) == expected
    assert vertex_model_id(name, {name: "mine"}) == "mine"


@pytest.mark.parametrize(
    ("name", "provider", "expected"),
    [
        ("gpt-4o", "openai", "openai/gpt-4o"),
        ("claude-sonnet-4-5-20250929", "anthropic", "anthropic/claude-sonnet-4.5"),
        ("claude-3-5-haiku-latest", "anthropic", "anthropic/claude-3.5-haiku"),
        ("claude-opus-4-1-20250805", "anthropic", "anthropic/claude-opus-4.1"),
        ("claude-3-haiku-20240307", "anthropic", "anthropic/claude-3-haiku"),
        ("claude-sonnet-4-20250514", "anthropic", "anthropic/claude-sonnet-4"),
        ("meta-llama/llama-3.1-70b-instruct", "openai", "meta-llama/llama-3.1-70b-instruct"),
    ],
)
def test_openrouter_models(name, provider, expected):
    assert openrouter_model(name, provider, {}) == expected


def test_cloud_errors_are_parsed_in_every_shape():
    bedrock = parse_cloud_error(
        b'{"message":"Too many requests, please wait before trying again."}',
        "ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.service/",
    )
    assert bedrock == ("ThrottlingException", "Too many requests, please wait before trying again.")
    google = b'{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}'
    assert parse_cloud_error(google) == ("RESOURCE_EXHAUSTED", "Quota exceeded")
    assert parse_cloud_error(b"[" + google + b"]") == ("RESOURCE_EXHAUSTED", "Quota exceeded")
    azure = b'{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist."}}'
    assert parse_cloud_error(azure)[0] == "DeploymentNotFound"
    assert parse_cloud_error(b'{"error":{"message":"Insufficient credits","code":402}}') == (
        "402",
        "Insufficient credits",
    )
    assert parse_cloud_error(b"<html>bad gateway</html>") == (None, "<html>bad gateway</html>")
    assert parse_cloud_error(b"") == (None, "")


def test_error_messages_name_the_backend_and_never_carry_credentials():
    secret = "AKIAIOSFODNN7EXAMPLE-session-token-value"
    text = error_message(
        "AWS Bedrock",
        403,
        "InvalidSignatureException",
        f"The canonical string ... x-amz-security-token:{secret} ...",
        [secret],
    )
    assert text.startswith("AWS Bedrock (InvalidSignatureException): ")
    assert secret not in text and "[redacted]" in text
    assert "access denied" in text
    assert len(error_message("Azure OpenAI", 500, None, "x" * 10_000, [])) <= 1000


def test_backend_settings_validate_and_route_each_format():
    with pytest.raises(ProxyConfigError, match="backend must be one of"):
        ProxySettings(backend="aws")
    with pytest.raises(ProxyConfigError, match="model_map entries"):
        ProxySettings(backend="azure", model_map="gpt-4o")
    with pytest.raises(ProxyConfigError, match="azure_endpoint"):
        ProxySettings(backend="azure", azure_endpoint="NAME.openai.azure.com")
    routes = backends_for(ProxySettings(backend="bedrock", region="us-east-1"))
    assert routes["anthropic"].name == "bedrock" and routes["openai"].name == "direct"
    routes = backends_for(ProxySettings(backend="azure", azure_endpoint="https://x.openai.azure.com"))
    assert routes["anthropic"].name == "direct" and routes["openai"].name == "azure"
    routes = backends_for(ProxySettings(backend="openrouter"))
    assert routes["anthropic"] is routes["openai"]


def test_model_map_from_a_toml_table(tmp_path):
    path = tmp_path / "headroom.toml"
    path.write_text(
        '[proxy]\nbackend = "bedrock"\nregion = "eu-west-1"\n'
        '[proxy.model_map]\n"claude-sonnet-4-5" = "arn:aws:bedrock:eu-west-1:1:application-inference-profile/a"\n'
    )
    settings = resolve_settings({}, env={}, config_file=str(path))
    assert (
        settings.model_map == "claude-sonnet-4-5=arn:aws:bedrock:eu-west-1:1:application-inference-profile/a"
    )
    assert resolve_settings({}, env={"HEADROOM_BACKEND": "openrouter"}).backend == "openrouter"


def test_missing_credentials_stop_the_start_with_one_line(monkeypatch, tmp_path):
    from headroom_proxy._app import Proxy
    from headroom_proxy._ops import OpsConfig  # noqa: F401 (the proxy's default hooks import it)

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    proxy = Proxy(ProxySettings(backend="bedrock", region="us-east-1", request_log="off"))
    with pytest.raises(ProxyConfigError, match="no AWS credentials found"):
        proxy.check_backends()

    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    # Not on Google Cloud: google-auth reads NO_GCE_CHECK once at import, so set its flag here
    # (the metadata probe would otherwise try 169.254.169.254, and tests stay on loopback).
    from google.auth.compute_engine import _metadata

    monkeypatch.setattr(_metadata, "_NO_GCE_CHECK", True)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    proxy = Proxy(ProxySettings(backend="vertex_ai", region="us-east5", project="p", request_log="off"))
    with pytest.raises(ProxyConfigError, match="no Google credentials found"):
        proxy.check_backends()

    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT", raising=False)
    proxy = Proxy(ProxySettings(backend="azure", request_log="off"))
    with pytest.raises(ProxyConfigError, match="no resource endpoint"):
        proxy.check_backends()
