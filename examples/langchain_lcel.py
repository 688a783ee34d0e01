"""Headroom in an LCEL chain: `prompt | HeadroomRunnable() | llm`.

Run: python examples/langchain_lcel.py

The chat model here is langchain-core's GenericFakeChatModel so the example runs offline
with no API key; replace it with e.g. `langchain_openai.ChatOpenAI(model="gpt-4o")`.
"""

from __future__ import annotations

import json
import random

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

from headroom_core import HeadroomConfig, MemoryCCRStore, parse_markers, retrieve
from headroom_integrations.langchain import HeadroomCallbackHandler, HeadroomRunnable, count_message_tokens


def order_rows(n: int = 1500) -> list[dict]:
    rng = random.Random(3)
    return [
        {
            "order_id": f"ORD-{i:05d}",
            "status": "failed" if i % 311 == 7 else "shipped",
            "amount_eur": round(rng.uniform(5, 900), 2),
            "city": rng.choice(["Lyon", "Porto", "Osaka"]),
        }
        for i in range(n)
    ]


def main() -> dict:
    store = MemoryCCRStore()  # the default is a SQLite store under the user cache dir
    rows = order_rows()
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "You answer questions about orders."),
            MessagesPlaceholder("history"),
            ("human", "{question}"),
        ]
    )
    history = [
        HumanMessage("Load yesterday's orders."),
        AIMessage("", tool_calls=[{"name": "query_orders", "args": {"day": "yesterday"}, "id": "call_1"}]),
        ToolMessage(json.dumps(rows), tool_call_id="call_1"),
    ]
    llm = GenericFakeChatModel(messages=iter([AIMessage("ORD-00007, ORD-00318 and 3 more failed.")]))
    headroom = HeadroomRunnable(model="gpt-4o", headroom_config=HeadroomConfig(ccr_store=store))
    chain = prompt | headroom | llm

    inputs = {"history": history, "question": "Which orders failed?"}
    meter = HeadroomCallbackHandler()
    answer = chain.invoke(inputs, config={"callbacks": [meter]})

    before = count_message_tokens(prompt.invoke(inputs).to_messages())
    compressed = (prompt | headroom).invoke(inputs).to_messages()
    after = count_message_tokens(compressed)
    key = parse_markers(compressed[3].content)[0].key
    assert retrieve(key, store=store) == json.dumps(rows)  # nothing is lost

    print(f"answer: {answer.content}")
    print(f"prompt tokens: {before:,} -> {after:,} ({1 - after / before:.0%} saved)")
    print(f"meter: {meter.summary()['tokens_saved']:,} tokens saved in the run")
    return {"before": before, "after": after}


if __name__ == "__main__":
    main()
