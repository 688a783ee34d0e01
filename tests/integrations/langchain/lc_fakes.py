"""Test helpers for the LangChain integration tests (imported by conftest and tests).

The only fake is the chat model (it stands in for a paid API): a langchain-core
`GenericFakeChatModel` that records every request it receives and can bind tools.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import Field


class RecordingFakeChatModel(GenericFakeChatModel):
    """GenericFakeChatModel + `bind_tools` (returns self) + a log of every request."""

    requests: list[list[BaseMessage]] = Field(default_factory=list)
    model_name: str = "gpt-4o"

    def bind_tools(self, tools: Any, **kwargs: Any) -> RecordingFakeChatModel:
        return self

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> Any:
        self.requests.append(list(messages))
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}


def scripted_model(
    script: Callable[[list[list[BaseMessage]]], Iterator[AIMessage]],
) -> RecordingFakeChatModel:
    """A fake model whose replies come from `script(requests)`, a generator that can look at
    the requests received so far (it is advanced once per model call)."""
    requests: list[list[BaseMessage]] = []
    model = RecordingFakeChatModel(messages=iter(()), requests=requests)
    model.messages = script(model.requests)
    return model


def make_orders(n: int = 2000, seed: int = 7) -> list[dict[str, Any]]:
    """A realistic order table: mostly shipped, a few failed ones."""
    rng = random.Random(seed)
    cities = ["Lyon", "Porto", "Gdansk", "Austin", "Osaka", "Quito", "Accra", "Perth"]
    rows = []
    for i in range(n):
        rows.append(
            {
                "order_id": f"ORD-{i:05d}",
                "customer": f"customer_{rng.randrange(10_000):04d}",
                "city": rng.choice(cities),
                "status": "failed" if i % 397 == 13 else "shipped",
                "amount_eur": round(rng.uniform(5, 900), 2),
                "items": rng.randrange(1, 9),
            }
        )
    return rows
