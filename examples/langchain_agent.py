"""Headroom in a LangChain 1.x agent: `create_agent(..., middleware=[HeadroomMiddleware()])`.

Run: python examples/langchain_agent.py [--chart savings.png]

The agent calls a tool that returns 2,000 order rows. The middleware compresses the
result as it enters the state and adds the `headroom_retrieve` tool, which the model uses
to fetch a row that compression left out. A `HeadroomCallbackHandler` measures the run.
The chat model is a scripted GenericFakeChatModel (offline, no key); use a real one, e.g.
`init_chat_model("openai:gpt-4o")`, in your application.
"""

from __future__ import annotations

import argparse
import json
import random
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import Field

from headroom_core import RETRIEVE_TOOL_NAME, HeadroomConfig, MemoryCCRStore, parse_markers
from headroom_integrations.langchain import HeadroomCallbackHandler, HeadroomMiddleware, count_message_tokens

ROWS = [
    {
        "order_id": f"ORD-{i:05d}",
        "status": "failed" if i % 397 == 13 else "shipped",
        "amount_eur": round(random.Random(i).uniform(5, 900), 2),
        "items": i % 7 + 1,
    }
    for i in range(2000)
]


@tool
def query_orders(day: str) -> str:
    """Return every order placed on `day` as JSON rows."""
    return json.dumps(ROWS)


class ScriptedModel(GenericFakeChatModel):
    """Stands in for a paid tool-calling model: replies come from a script."""

    requests: list = Field(default_factory=list)

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedModel:
        return self

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        self.requests.append(list(messages))
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


def script(requests: list):
    yield AIMessage(
        "",
        tool_calls=[{"name": "query_orders", "args": {"day": "yesterday"}, "id": "c1"}],
        usage_metadata={"input_tokens": 120, "output_tokens": 20, "total_tokens": 140},
    )
    compressed = requests[-1][-1].content
    key = parse_markers(compressed)[0].key
    wanted = next(r["order_id"] for r in ROWS[1000:] if r["order_id"] not in compressed)
    yield AIMessage(
        "",
        tool_calls=[
            {"name": RETRIEVE_TOOL_NAME, "args": {"key": key, "query": wanted, "limit": 1}, "id": "c2"}
        ],
    )
    yield AIMessage(f"{wanted} is one of yesterday's orders.")


def run(with_headroom: bool) -> tuple[ScriptedModel, HeadroomCallbackHandler, dict]:
    model = ScriptedModel(messages=iter(()), requests=[])
    model.messages = (
        script(model.requests)
        if with_headroom
        else iter(
            [
                AIMessage(
                    "", tool_calls=[{"name": "query_orders", "args": {"day": "yesterday"}, "id": "c1"}]
                ),
                AIMessage("Done."),
            ]
        )
    )
    middleware = [HeadroomMiddleware(model="gpt-4o", config=HeadroomConfig(ccr_store=MemoryCCRStore()))]
    agent = create_agent(model, [query_orders], middleware=middleware if with_headroom else [])
    meter = HeadroomCallbackHandler()
    state = agent.invoke(
        {"messages": [HumanMessage("What was ordered yesterday?")]}, config={"callbacks": [meter]}
    )
    return model, meter, state


def main(chart: str | None = None) -> dict:
    baseline, _, _ = run(with_headroom=False)
    model, meter, state = run(with_headroom=True)
    before = count_message_tokens(baseline.requests[1])
    after = count_message_tokens(model.requests[1])
    fetched = next(
        m for m in state["messages"] if isinstance(m, ToolMessage) and m.name == RETRIEVE_TOOL_NAME
    )
    summary = meter.summary()
    print(f"second model request: {before:,} -> {after:,} tokens ({1 - after / before:.0%} saved)")
    print(f"retrieved through {RETRIEVE_TOOL_NAME}: {fetched.content}")
    print(
        f"meter: {summary['model_calls']} model calls, {summary['tokens_saved']:,} tokens saved, "
        f"tools: {summary['tools']}"
    )
    if chart:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3))
        ax.bar(["without Headroom", "with Headroom"], [before, after], color=["#999999", "#2a9d8f"])
        ax.set_ylabel("tokens in the model's 2nd request")
        ax.set_title(f"{1 - after / before:.0%} fewer tokens")
        fig.tight_layout()
        fig.savefig(chart)
        plt.close(fig)
    return {"before": before, "after": after, "retrieved": json.loads(fetched.content)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--chart", help="write a savings bar chart (PNG) here")
    main(parser.parse_args().chart)
