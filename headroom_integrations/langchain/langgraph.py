"""LangGraph: compress the `messages` channel of a custom graph.

`HeadroomMessagesNode` is a node (a callable over the state). Two modes:

- `output_key="messages"` (default): the compressed conversation *replaces* the
  channel (persistent: later turns and checkpoints hold the small version; what was
  dropped is in CCR).
- `output_key="llm_input_messages"`: the compressed copy goes to a separate key and the
  channel stays as it was, which is what LangGraph's prebuilt `create_react_agent`
  expects from a `pre_model_hook` (ephemeral).

    builder.add_node("compress", HeadroomMessagesNode(model="gpt-4o"))
    builder.add_edge("tools", "compress"); builder.add_edge("compress", "agent")
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.messages import RemoveMessage, convert_to_messages

from headroom_core import DEFAULT_MODEL

try:
    from langgraph.graph.message import REMOVE_ALL_MESSAGES
except ImportError as exc:
    raise ImportError(
        "the LangGraph nodes need langgraph: pip install 'headroom-ai[langchain-agents]'"
    ) from exc

from headroom_core import HeadroomConfig
from headroom_integrations.langchain._messages import compress_messages


class HeadroomMessagesNode:
    """A LangGraph node that compresses the `messages` channel with Headroom.

    Args:
        model: model name for token counting.
        config: the `HeadroomConfig`.
        token_budget: also fit the conversation into this many tokens.
        messages_key: the state key holding the conversation.
        output_key: where the compressed conversation goes (see the module doc).
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        config: HeadroomConfig | None = None,
        token_budget: int | None = None,
        messages_key: str = "messages",
        output_key: str = "messages",
    ) -> None:
        if config is not None and not isinstance(config, HeadroomConfig):
            raise TypeError(f"config must be a HeadroomConfig, got {type(config).__name__}")
        self.model = model
        self.config = config
        self.token_budget = token_budget
        self.messages_key = messages_key
        self.output_key = output_key
        self.__name__ = "headroom_compress"  # LangGraph names nodes after callables

    def __call__(self, state: Any) -> dict[str, Any]:
        raw = (
            state.get(self.messages_key)
            if isinstance(state, Mapping)
            else getattr(state, self.messages_key, None)
        )
        if raw is None:
            raise KeyError(f"the graph state has no {self.messages_key!r} channel")
        messages = convert_to_messages(raw)
        out = compress_messages(
            messages, model=self.model, config=self.config, token_budget=self.token_budget
        )
        if self.output_key != self.messages_key:
            return {self.output_key: out.messages}
        if out.result.tokens_saved <= 0 and len(out.messages) == len(messages):
            return {}  # nothing changed: leave the channel alone
        # add_messages would merge by id; replacing the channel needs an explicit reset.
        return {self.messages_key: [RemoveMessage(id=REMOVE_ALL_MESSAGES), *out.messages]}


def headroom_pre_model_hook(
    model: str = DEFAULT_MODEL, *, config: HeadroomConfig | None = None, token_budget: int | None = None
) -> HeadroomMessagesNode:
    """A `pre_model_hook` for `create_react_agent`: compresses what the model sees only."""
    return HeadroomMessagesNode(
        model, config=config, token_budget=token_budget, output_key="llm_input_messages"
    )
