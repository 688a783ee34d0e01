"""`HeadroomRunnable`: an LCEL step that compresses a prompt before the chat model sees it.

chain = prompt | HeadroomRunnable(model="gpt-4o") | llm
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.prompt_values import ChatPromptValue
from langchain_core.runnables import RunnableConfig, RunnableSerializable
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict, Field, field_validator

from headroom_core import DEFAULT_MODEL, HeadroomConfig
from headroom_integrations.langchain import _events
from headroom_integrations.langchain._messages import (
    CompressedMessages,
    check_config,
    compress_messages,
    to_messages,
)


class HeadroomRunnable(RunnableSerializable[LanguageModelInput, ChatPromptValue]):
    """Compresses chat input with Headroom and hands it on as a `ChatPromptValue`.

    Accepts what a chat model accepts (a `PromptValue`, a `str`, a list of messages,
    `(role, text)` tuples or message dicts). Only message *content* changes:
    `AIMessage.tool_calls`, `ToolMessage.tool_call_id`, ids, names and non-text content
    blocks are kept as they were. The settings below override the matching fields of
    `headroom_config`; left at `None` they keep its value.
    """

    model: str = DEFAULT_MODEL
    """Model name for token counting (and provider-specific image handling)."""
    token_budget: int | None = Field(default=None, gt=0)
    """Fit the whole conversation into this many tokens (drops/shrinks old turns)."""
    query: str | None = None
    """What counts as relevant; None: the latest human message."""
    compress_tool_outputs: bool | None = None
    compress_user_messages: bool | None = None
    compress_system_messages: bool | None = None
    compress_assistant_messages: bool | None = None
    min_tokens: int | None = Field(default=None, ge=0)
    disabled_compressors: list[str] = Field(default_factory=list)
    """Compressor names to switch off, e.g. ["prose", "code"]."""
    headroom_config: Any = Field(default=None, exclude=True)
    """The base `HeadroomConfig` (CCR store, per-compressor settings)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    _check_config = field_validator("headroom_config")(classmethod(lambda cls, v: check_config(v)))

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        return ["headroom_integrations", "langchain"]

    @property
    def InputType(self) -> Any:
        return LanguageModelInput

    @property
    def OutputType(self) -> type[ChatPromptValue]:
        return ChatPromptValue

    def effective_config(self) -> HeadroomConfig:
        """The `HeadroomConfig` this runnable compresses with."""
        base = self.headroom_config or HeadroomConfig()
        changes: dict[str, Any] = {}
        for name in (
            "compress_tool_outputs",
            "compress_user_messages",
            "compress_system_messages",
            "compress_assistant_messages",
            "min_tokens",
        ):
            value = getattr(self, name)
            if value is not None:
                changes[name] = value
        if self.disabled_compressors:
            changes["disabled_compressors"] = base.disabled_compressors | frozenset(self.disabled_compressors)
        return replace(base, **changes) if changes else base

    def compress_with_report(self, input: LanguageModelInput) -> CompressedMessages:
        """Compress without the Runnable machinery; returns the messages and the core report."""
        return compress_messages(
            to_messages(input),
            model=self.model,
            query=self.query,
            config=self.effective_config(),
            token_budget=self.token_budget,
        )

    def _compress(
        self, input: LanguageModelInput, run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> ChatPromptValue:
        out = self.compress_with_report(input)
        result = out.result
        _events.report(
            "runnable",
            result.tokens_before,
            result.tokens_after,
            model=self.model,
            ccr_keys=result.ccr_keys,
            config=config,
        )
        return ChatPromptValue(messages=out.messages)

    async def _acompress(
        self, input: LanguageModelInput, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig
    ) -> ChatPromptValue:
        # The engine is CPU-bound and synchronous: run it off the event loop.
        out = await run_in_executor(config, self.compress_with_report, input)
        result = out.result
        await _events.areport(
            "runnable",
            result.tokens_before,
            result.tokens_after,
            model=self.model,
            ccr_keys=result.ccr_keys,
            config=config,
        )
        return ChatPromptValue(messages=out.messages)

    def invoke(
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> ChatPromptValue:
        return self._call_with_config(self._compress, input, config, run_type="prompt")

    async def ainvoke(
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> ChatPromptValue:
        return await self._acall_with_config(self._acompress, input, config, run_type="prompt")
