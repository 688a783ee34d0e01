"""The SDK core, the LangChain handler, the LlamaIndex handler and the proxy report the same cost
for the same call (one accounting core)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from headroom_core._accounting import Usage, account_call

MODEL = "claude-sonnet-4-6"
# Anthropic's usage block for one call with a cache hit and a cache write.
ANTHROPIC_USAGE = {
    "input_tokens": 1200,
    "output_tokens": 80,
    "cache_read_input_tokens": 4000,
    "cache_creation_input_tokens": 100,
}
EXPECTED = (1200 * 3.0 + 80 * 15.0 + 4000 * 0.30 + 100 * 3.75) / 1e6


def test_core():
    assert account_call(MODEL, ANTHROPIC_USAGE).cost_usd == pytest.approx(EXPECTED)


def test_langchain_handler_matches_the_core():
    pytest.importorskip("langchain_core")
    from langchain_core.messages import AIMessage, HumanMessage
    from langchain_core.outputs import ChatGeneration, LLMResult

    from headroom_integrations.langchain import HeadroomCallbackHandler

    # LangChain's usage_metadata for the same call: input_tokens counts the cache too.
    usage_metadata = {
        "input_tokens": 5300,
        "output_tokens": 80,
        "total_tokens": 5380,
        "input_token_details": {"cache_read": 4000, "cache_creation": 100},
    }
    handler = HeadroomCallbackHandler()
    run_id = uuid4()
    handler.on_chat_model_start({}, [[HumanMessage("hi")]], run_id=run_id, invocation_params={"model": MODEL})
    message = AIMessage("ok", usage_metadata=usage_metadata)
    handler.on_llm_end(LLMResult(generations=[[ChatGeneration(message=message)]]), run_id=run_id)
    assert handler.summary()["cost_usd"] == pytest.approx(EXPECTED, abs=1e-6)
    assert handler.summary()["calls"][0]["cost_usd"] == pytest.approx(EXPECTED)


def test_llamaindex_handler_matches_the_core():
    pytest.importorskip("llama_index.core")
    from llama_index.core.instrumentation import get_dispatcher
    from llama_index.core.llms import ChatMessage, CompletionResponse, CustomLLM, LLMMetadata
    from llama_index.core.llms.callbacks import llm_completion_callback

    from headroom_integrations.llamaindex.usage import HeadroomUsageHandler

    class FakeClaude(CustomLLM):
        model: str = MODEL

        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(model_name=self.model)

        @llm_completion_callback()
        def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
            return CompletionResponse(text="ok", raw={"usage": dict(ANTHROPIC_USAGE)})

        @llm_completion_callback()
        def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any):
            yield self.complete(prompt)

    class Broken(FakeClaude):
        @llm_completion_callback()
        def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
            raise RuntimeError("provider down")

    handler = HeadroomUsageHandler()
    dispatcher = get_dispatcher()
    dispatcher.add_event_handler(handler)
    try:
        with pytest.raises(RuntimeError):
            Broken().chat([ChatMessage(role="user", content="fails")])  # leaves no end event
        FakeClaude().chat([ChatMessage(role="user", content="hello")])  # a chat via complete(): once
        FakeClaude(model="my-local-llm").complete("hello")
    finally:
        dispatcher.event_handlers.remove(handler)
    summary = handler.summary()
    assert summary["model_calls"] == 2
    assert summary["models"][MODEL]["cost_usd"] == pytest.approx(EXPECTED)
    assert summary["calls"][0]["usage"] == Usage(1200, 80, 4000, 100).as_dict()
    assert summary["unpriced_models"] == ["my-local-llm"]
