"""Reading usage from passing responses (any chunking, gzip) and the metrics' label hygiene."""

from __future__ import annotations

import gzip
import json
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from headroom_core._accounting import Usage, account_call
from headroom_proxy._metrics import MAX_MODELS, Metrics
from headroom_proxy._usage_tap import StreamTap, usage_of_body


def _anthropic_stream() -> bytes:
    events = [
        ("message_start", {"type": "message_start", "message": {"id": "m", "usage": {
            "input_tokens": 120, "output_tokens": 1, "cache_read_input_tokens": 900}}}),
        *[("content_block_delta", {"type": "content_block_delta", "delta": {"text": f"piece {i} usage"}})
          for i in range(30)],
        ("message_delta", {"type": "message_delta", "usage": {"output_tokens": 77}}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    return b"".join(f"event: {n}\ndata: {json.dumps(d)}\n\n".encode() for n, d in events)


@pytest.mark.parametrize("size", [1, 7, 64, 10_000])
def test_stream_usage_at_any_chunking(size):
    data = _anthropic_stream()
    tap = StreamTap()
    for i in range(0, len(data), size):
        tap.feed(data[i : i + size])
    assert tap.usage() == Usage(120, 77, 900, 0)
    assert tap.first_byte_seconds is not None


def test_gzip_stream_and_body():
    tap = StreamTap("gzip")
    packed = gzip.compress(_anthropic_stream())
    for i in range(0, len(packed), 50):
        tap.feed(packed[i : i + 50])
    assert tap.usage() == Usage(120, 77, 900, 0)
    body = json.dumps({"usage": {"prompt_tokens": 10, "completion_tokens": 2}}).encode()
    assert usage_of_body(gzip.compress(body), "gzip") == Usage(10, 2)
    assert usage_of_body(body, None) == Usage(10, 2)


@pytest.mark.parametrize(
    ("body", "encoding"), [(b"\x00garbage", "gzip"), (b"{}", "br"), (b"not json usage", None)]
)
def test_unreadable_bodies_have_no_usage(body, encoding):
    assert usage_of_body(body, encoding) is None


def test_openai_stream_with_include_usage():
    chunks = [
        {"object": "chat.completion.chunk", "choices": [{"delta": {"content": "hi"}}], "usage": None},
        {"object": "chat.completion.chunk", "choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": 5,
                                                                     "prompt_tokens_details": {"cached_tokens": 20}}},
    ]  # fmt: skip
    tap = StreamTap()
    tap.feed(b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n")
    assert tap.usage() == Usage(30, 5, 20, 0)


def _record(model: str) -> SimpleNamespace:
    return SimpleNamespace(
        provider="openai", model=model, endpoint="/v1/chat/completions", status=200, stream=False,
        tokens_before=100, tokens_after=40, seconds=0.5, overhead_seconds=0.001, first_byte_seconds=None,
    )  # fmt: skip


def test_model_labels_are_capped_and_raw_paths_never_labels():
    metrics = Metrics()
    for i in range(MAX_MODELS + 25):
        model = f"model-{i}"
        metrics.observe(_record(model), account_call(model, Usage(10, 1)))
    metrics.observe(
        SimpleNamespace(**{**vars(_record("gpt-4o")), "endpoint": "/v1/secret/path/123"}),
        account_call("gpt-4o", Usage(10, 1)),
    )
    models, endpoints = set(), set()
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            if "model" in sample.labels:
                models.add(sample.labels["model"])
            if "endpoint" in sample.labels:
                endpoints.add(sample.labels["endpoint"])
    assert len(models) == MAX_MODELS + 1 and "other" in models
    assert endpoints == {"/v1/chat/completions", "other"}
