"""`HeadroomChatMemory`: a LlamaIndex chat memory whose `get()` fits a token budget.

    >>> memory = HeadroomChatMemory.from_defaults(token_budget=4000)
    >>> agent.run("...", memory=memory)

It wraps any LlamaIndex memory (`Memory`, `ChatMemoryBuffer`, ...) that keeps the whole
history, and on every `get()` hands the messages to `headroom_core.compress(...,
token_budget=...)`: tool outputs are compressed by content and the context manager
shrinks or drops the least important turns, stashing what it drops in CCR. Storage
(`put`, `set`, `reset`, `get_all`) is the wrapped memory's, untouched.

Prefix stability: what `get()` returns on one turn begins, byte for byte, with what it
returned on the turn before (unless the budget forces turns out). An agent's tool results
of the *current* run live in the agent's scratchpad, outside memory, and reach the LLM
uncompressed until the run ends; wrap the tools with `compress_tool` too so that they are
compressed from the first request on and every request extends the previous one.
"""

from __future__ import annotations

import asyncio
from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.bridge.pydantic import ConfigDict, Field
from llama_index.core.memory import BaseMemory, ChatMemoryBuffer
from pydantic import InstanceOf

from headroom_core import DEFAULT_MODEL, CompressResult, HeadroomConfig, compress
from headroom_integrations.llamaindex._messages import from_openai, to_openai

_KEEP_EVERYTHING = 1 << 40
"""Token limit for the default inner buffer: Headroom, not the buffer, decides what goes."""


class HeadroomChatMemory(BaseMemory):
    """Chat memory that returns the history fitted into `token_budget` tokens.

    Messages come back as LlamaIndex `ChatMessage`s: the original objects where nothing
    changed, copies with the compressed text where something did, and plain messages for
    anything the context manager wrote itself (e.g. a note about dropped turns).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    memory: BaseMemory = Field(description="The memory that stores the full history.")
    token_budget: int = Field(gt=0, description="Most tokens `get()` may return (OpenAI accounting).")
    model: str = Field(default=DEFAULT_MODEL, description="Model whose tokenizer counts the budget.")
    config: InstanceOf[HeadroomConfig] | None = Field(
        default=None, exclude=True, description="Headroom settings (CCR store, what to compress)."
    )

    @classmethod
    def class_name(cls) -> str:
        return "HeadroomChatMemory"

    @classmethod
    def from_defaults(  # type: ignore[override]
        cls,
        memory: BaseMemory | None = None,
        *,
        token_budget: int,
        model: str = DEFAULT_MODEL,
        config: HeadroomConfig | None = None,
        chat_history: list[ChatMessage] | None = None,
    ) -> HeadroomChatMemory:
        """Wrap `memory`, or a new `ChatMemoryBuffer` that keeps every message."""
        if memory is None:
            memory = ChatMemoryBuffer.from_defaults(chat_history=chat_history, token_limit=_KEEP_EVERYTHING)
        elif chat_history is not None:
            memory.set(chat_history)
        return cls(memory=memory, token_budget=token_budget, model=model, config=config)

    # ------------------------------------------------------------------ fitting

    def fit(
        self, messages: list[ChatMessage], query: str | None = None
    ) -> tuple[list[ChatMessage], CompressResult]:
        """Fit `messages` into the budget: the new messages and the engine's report.

        Without `query`, each message is steered by the latest user text before it, so a
        message compresses the same way on every turn (the provider's prompt cache keeps
        working). An explicit `query` steers every message and gives that up when it
        changes from turn to turn.
        """
        dicts = to_openai(messages)
        result = compress(dicts, self.model, query=query, config=self.config, token_budget=self.token_budget)
        return from_openai(result.messages, messages), result

    def _fitted(self, messages: list[ChatMessage]) -> list[ChatMessage]:
        if not messages:
            return []
        return self.fit(list(messages))[0]

    # ------------------------------------------------------------------ BaseMemory

    # `input` (the agent's new user message) is handed to the wrapped memory only: steering
    # the compression of the whole history by it would change old messages every turn.
    def get(self, input: Any = None, **kwargs: Any) -> list[ChatMessage]:
        return self._fitted(self.memory.get(input=input, **kwargs))

    async def aget(self, input: Any = None, **kwargs: Any) -> list[ChatMessage]:
        messages = await self.memory.aget(input=input, **kwargs)
        # Counting and compressing is CPU work: keep it off the event loop.
        return await asyncio.to_thread(self._fitted, messages)

    def get_all(self) -> list[ChatMessage]:
        return self.memory.get_all()

    async def aget_all(self) -> list[ChatMessage]:
        return await self.memory.aget_all()

    def put(self, message: ChatMessage) -> None:
        self.memory.put(message)

    async def aput(self, message: ChatMessage) -> None:
        await self.memory.aput(message)

    def put_messages(self, messages: list[ChatMessage]) -> None:
        self.memory.put_messages(messages)

    async def aput_messages(self, messages: list[ChatMessage]) -> None:
        await self.memory.aput_messages(messages)

    def set(self, messages: list[ChatMessage]) -> None:
        self.memory.set(messages)

    async def aset(self, messages: list[ChatMessage]) -> None:
        await self.memory.aset(messages)

    def reset(self) -> None:
        self.memory.reset()

    async def areset(self) -> None:
        await self.memory.areset()
