"""CCR inside the proxy: the `headroom_retrieve` tool in each provider's shape, and the loop
that answers the model's retrieval calls itself so the client sees one ordinary answer.

The rule for a model turn: if every tool call in it is `headroom_retrieve` (and the proxy
added that tool), the proxy answers them and continues upstream, up to `max_rounds` times.
If the turn also calls one of the client's tools, it goes back to the client unchanged.

Streams pass through event by event until a `headroom_retrieve` call starts; only the rest
of that turn is held back. The follow-up turn is then streamed into the same response with
its start event dropped and its block/item indexes shifted, so the client reads one
well-formed stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from headroom_core._ccr import RETRIEVE_TOOL_NAME
from headroom_proxy._adapter import ANTHROPIC, OPENAI_CHAT, OPENAI_RESPONSES
from headroom_proxy._sse import Event, format_event, iter_events

log = logging.getLogger("headroom.proxy")


def _tool_text() -> tuple[str, dict[str, Any]]:
    from headroom_core._answer import RETRIEVE_TOOL_DESCRIPTION, RETRIEVE_TOOL_PARAMETERS

    return RETRIEVE_TOOL_DESCRIPTION, copy.deepcopy(RETRIEVE_TOOL_PARAMETERS)


def retrieve_tool(kind: str) -> dict[str, Any]:
    """The tool definition in the provider's own shape."""
    description, parameters = _tool_text()
    if kind == ANTHROPIC:
        return {"name": RETRIEVE_TOOL_NAME, "description": description, "input_schema": parameters}
    if kind == OPENAI_CHAT:
        return {
            "type": "function",
            "function": {"name": RETRIEVE_TOOL_NAME, "description": description, "parameters": parameters},
        }
    return {
        "type": "function",
        "name": RETRIEVE_TOOL_NAME,
        "description": description,
        "parameters": parameters,
    }


def _tool_name(kind: str, tool: Any) -> Any:
    if not isinstance(tool, dict):
        return None
    if kind == OPENAI_CHAT:
        fn = tool.get("function")
        return fn.get("name") if isinstance(fn, dict) else None
    return tool.get("name")


def add_retrieve_tool(kind: str, payload: dict[str, Any]) -> bool:
    """Append the tool (at the end, so the client's tool list keeps its bytes). False when the
    client already has a tool of that name: then retrieval is the client's business."""
    tools = payload.get("tools")
    if tools is not None and not isinstance(tools, list):
        return False
    if any(_tool_name(kind, t) == RETRIEVE_TOOL_NAME for t in tools or ()):
        return False
    payload["tools"] = [*(tools or ()), retrieve_tool(kind)]
    return True


class Retriever:
    """Runs `retrieval_answer` off the event loop; never raises (the model gets a sentence)."""

    def __init__(self, config: Any, executor: Executor, timeout: float) -> None:
        self.config = config
        self.executor = executor
        self.timeout = timeout
        self.on_answer: Callable[[str], None] | None = None
        """Told each answer (metrics count hits and misses); never fails the request."""

    def _answer_sync(self, arguments: Any) -> str:
        from headroom_core._answer import retrieval_answer

        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except ValueError:
                arguments = None
        if not isinstance(arguments, dict):
            return f'{RETRIEVE_TOOL_NAME} expects a JSON object such as {{"key": "..."}}.'
        # retrieval_answer checks the types itself and answers bad ones with a sentence.
        return retrieval_answer(
            arguments.get("key"), arguments.get("query"), arguments.get("limit"), config=self.config
        )

    async def answer(self, arguments: Any) -> str:
        loop = asyncio.get_running_loop()
        try:
            text = await asyncio.wait_for(
                loop.run_in_executor(self.executor, self._answer_sync, arguments), self.timeout
            )
        except Exception as exc:  # store down, timeout, a bug: the model is told, the request lives
            log.warning(
                "headroom_retrieve failed (%s); the model is told retrieval is unavailable",
                type(exc).__name__,
            )
            text = "Retrieval is unavailable right now; answer from the compressed content or ask to re-run the tool."
        if self.on_answer is not None:
            with contextlib.suppress(Exception):
                self.on_answer(text)
        return text


# --------------------------------------------------------------------------- non-streaming


@dataclass
class Reply:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


Send = Callable[[dict[str, Any]], Awaitable[Reply]]


def _retrieve_calls(kind: str, reply: dict[str, Any]) -> list[tuple[str, Any]] | None:
    """(call id, arguments) when the turn calls only headroom_retrieve; else None."""
    if kind == ANTHROPIC:
        if reply.get("stop_reason") != "tool_use":
            return None
        calls = [b for b in reply.get("content") or () if isinstance(b, dict) and b.get("type") == "tool_use"]
        if not calls or any(c.get("name") != RETRIEVE_TOOL_NAME for c in calls):
            return None
        return [(str(c.get("id")), c.get("input")) for c in calls]
    if kind == OPENAI_CHAT:
        choices: list[Any] = list(reply.get("choices") or ())
        if len(choices) != 1 or not isinstance(choices[0], dict):
            return None
        tool_calls: list[Any] = list((choices[0].get("message") or {}).get("tool_calls") or ())
        names = [(c.get("function") or {}).get("name") for c in tool_calls if isinstance(c, dict)]
        if not tool_calls or len(names) != len(tool_calls) or any(n != RETRIEVE_TOOL_NAME for n in names):
            return None
        return [(str(c.get("id")), (c.get("function") or {}).get("arguments")) for c in tool_calls]
    items = [i for i in reply.get("output") or () if isinstance(i, dict) and i.get("type") == "function_call"]
    if not items or any(i.get("name") != RETRIEVE_TOOL_NAME for i in items):
        return None
    return [(str(i.get("call_id")), i.get("arguments")) for i in items]


def continue_payload(
    kind: str, payload: dict[str, Any], assistant: Any, answers: list[tuple[str, str]]
) -> dict[str, Any]:
    """The next request: the conversation so far, the model's retrieval turn, the answers."""
    new = dict(payload)
    if kind == ANTHROPIC:
        results = [{"type": "tool_result", "tool_use_id": cid, "content": text} for cid, text in answers]
        new["messages"] = [
            *payload["messages"],
            {"role": "assistant", "content": assistant},
            {"role": "user", "content": results},
        ]
    elif kind == OPENAI_CHAT:
        tool_msgs = [{"role": "tool", "tool_call_id": cid, "content": text} for cid, text in answers]
        new["messages"] = [*payload["messages"], assistant, *tool_msgs]
    else:
        items = payload.get("input")
        items = [{"role": "user", "content": items}] if isinstance(items, str) else list(items or ())
        outs = [{"type": "function_call_output", "call_id": cid, "output": text} for cid, text in answers]
        new["input"] = [*items, *assistant, *outs]
    return new


def _assistant_turn(kind: str, reply: dict[str, Any]) -> Any:
    if kind == ANTHROPIC:
        return reply.get("content") or []
    if kind == OPENAI_CHAT:
        msg = reply["choices"][0]["message"]
        return {k: msg[k] for k in ("role", "content", "tool_calls") if k in msg}
    return [i for i in reply.get("output") or () if isinstance(i, dict)]


_USAGE_KEYS = {
    ANTHROPIC: ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"),
    OPENAI_CHAT: ("prompt_tokens", "completion_tokens", "total_tokens"),
    OPENAI_RESPONSES: ("input_tokens", "output_tokens", "total_tokens"),
}


def _add_usage(kind: str, total: dict[str, Any], usage: Any) -> None:
    if not isinstance(usage, dict):
        return
    for k in _USAGE_KEYS[kind]:
        if isinstance(usage.get(k), int):
            total[k] = total.get(k, 0) + usage[k]


async def run_rounds(
    kind: str, payload: dict[str, Any], first: Reply, send: Send, retriever: Retriever, max_rounds: int
) -> tuple[Reply, int]:
    """Answer retrieval-only turns until the model answers (or asks for a client tool)."""
    reply, rounds = first, 0
    usage: dict[str, Any] = {}
    while rounds < max_rounds and reply.status == 200:
        try:
            data = json.loads(reply.body)
        except ValueError:
            break
        calls = _retrieve_calls(kind, data) if isinstance(data, dict) else None
        if calls is None:
            break
        _add_usage(kind, usage, data.get("usage"))
        answers = [(cid, await retriever.answer(args)) for cid, args in calls]
        payload = continue_payload(kind, payload, _assistant_turn(kind, data), answers)
        rounds += 1
        reply = await send(payload)
    if rounds and reply.status == 200 and usage:
        try:
            data = json.loads(reply.body)
            _add_usage(kind, usage, data.get("usage"))
            data["usage"] = {**(data.get("usage") or {}), **usage}
            reply = Reply(reply.status, reply.headers, json.dumps(data, ensure_ascii=False).encode())
        except (ValueError, AttributeError, TypeError):
            pass
    return reply, rounds


# --------------------------------------------------------------------------- streaming

OpenStream = Callable[[dict[str, Any]], Awaitable[Any]]
"""Sends a continuation request and returns the open httpx streaming response."""


@dataclass
class _Turn:
    """One upstream turn of a stream, as far as the CCR loop needs it."""

    buffering: bool = False
    held: list[bytes] = field(default_factory=list)
    client_tool: bool = False
    first_retrieve_index: int | None = None
    blocks: dict[int, dict[str, Any]] = field(default_factory=dict)
    partial_json: dict[int, str] = field(default_factory=dict)
    stop_reason: Any = None
    # OpenAI chat
    text: list[str] = field(default_factory=list)
    calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    # Responses
    items: list[Any] = field(default_factory=list)


class StreamLoop:
    """Forwards a streamed response, answering retrieval-only turns in between."""

    def __init__(
        self,
        kind: str,
        payload: dict[str, Any],
        open_stream: OpenStream,
        retriever: Retriever,
        max_rounds: int,
    ) -> None:
        self.kind = kind
        self.payload = payload
        self.open_stream = open_stream
        self.retriever = retriever
        self.max_rounds = max_rounds
        self.rounds = 0
        self.shift = 0  # blocks / output items the client has already seen
        self.sequence = -1  # Responses: last sequence_number sent
        self.stream_id: Any = None  # OpenAI chat: the id of the first completion
        self.current: Any = None

    async def aclose(self) -> None:
        if self.current is not None:
            await self.current.aclose()

    async def run(self, first: Any) -> AsyncIterator[bytes]:
        self.current = first
        while True:
            turn = _Turn()
            async for event in iter_events(self.current.aiter_bytes()):
                out = self._observe(event, turn)
                if out is None:
                    continue
                if turn.buffering:
                    turn.held.append(out)
                else:
                    yield out
            if not turn.buffering:
                return
            assistant, calls = self._retrieval_turn(turn)
            if calls is None or self.rounds >= self.max_rounds:
                for out in turn.held:
                    yield out
                return
            answers = [(cid, await self.retriever.answer(args)) for cid, args in calls]
            self.payload = continue_payload(self.kind, self.payload, assistant, answers)
            await self.current.aclose()
            nxt = await self.open_stream(self.payload)
            if nxt.status_code != 200:
                log.warning(
                    "CCR follow-up got HTTP %s; handing the retrieval turn to the client", nxt.status_code
                )
                await nxt.aclose()
                for out in turn.held:
                    yield out
                return
            self.rounds += 1
            self.shift += turn.first_retrieve_index or 0
            self.current = nxt

    # -- per provider ------------------------------------------------------------

    def _observe(self, event: Event, turn: _Turn) -> bytes | None:
        """Track the event; return the bytes to send (None: drop it)."""
        data = event.json()
        if self.kind == ANTHROPIC:
            return self._anthropic(event, data, turn)
        if self.kind == OPENAI_CHAT:
            return self._chat(event, data, turn)
        return self._responses(event, data, turn)

    def _anthropic(self, event: Event, data: Any, turn: _Turn) -> bytes | None:
        if not isinstance(data, dict):
            return event.raw
        etype = data.get("type")
        index = data.get("index")
        if etype == "message_start" and self.rounds:
            return None  # the client already has one
        if etype == "content_block_start" and isinstance(index, int):
            block = dict(data.get("content_block") or {})
            turn.blocks[index] = block
            if block.get("type") == "tool_use":
                if block.get("name") == RETRIEVE_TOOL_NAME:
                    if not turn.buffering:
                        turn.buffering, turn.first_retrieve_index = True, index
                else:
                    turn.client_tool = True
        elif etype == "content_block_delta" and isinstance(index, int) and index in turn.blocks:
            delta = data.get("delta") or {}
            block = turn.blocks[index]
            dtype = delta.get("type")
            if dtype == "text_delta":
                block["text"] = block.get("text", "") + delta.get("text", "")
            elif dtype == "input_json_delta":
                turn.partial_json[index] = turn.partial_json.get(index, "") + delta.get("partial_json", "")
            elif dtype == "thinking_delta":
                block["thinking"] = block.get("thinking", "") + delta.get("thinking", "")
            elif dtype == "signature_delta":
                block["signature"] = block.get("signature", "") + delta.get("signature", "")
        elif etype == "message_delta":
            turn.stop_reason = (data.get("delta") or {}).get("stop_reason")
        if self.rounds and self.shift and isinstance(index, int):
            return format_event({**data, "index": index + self.shift}, event.name)
        return event.raw

    def _chat(self, event: Event, data: Any, turn: _Turn) -> bytes | None:
        if not isinstance(data, dict):
            return event.raw  # [DONE] and comments
        if self.stream_id is None:
            self.stream_id = data.get("id")
        for choice in data.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str):
                turn.text.append(delta["content"])
            for tc in delta.get("tool_calls") or ():
                if not isinstance(tc, dict):
                    continue
                entry = turn.calls.setdefault(tc.get("index", 0), {"id": None, "name": "", "arguments": ""})
                fn = tc.get("function") or {}
                if tc.get("id"):
                    entry["id"] = tc["id"]
                if fn.get("name"):
                    entry["name"] = fn["name"]
                    if fn["name"] == RETRIEVE_TOOL_NAME:
                        turn.buffering = True
                    else:
                        turn.client_tool = True
                if isinstance(fn.get("arguments"), str):
                    entry["arguments"] += fn["arguments"]
            if choice.get("finish_reason"):
                turn.stop_reason = choice["finish_reason"]
        if self.rounds and data.get("id") != self.stream_id:
            return format_event({**data, "id": self.stream_id}, event.name)
        return event.raw

    def _responses(self, event: Event, data: Any, turn: _Turn) -> bytes | None:
        if not isinstance(data, dict):
            return event.raw
        etype = data.get("type")
        if self.rounds and etype in ("response.created", "response.in_progress"):
            return None
        index = data.get("output_index")
        if etype == "response.output_item.added":
            item = data.get("item") or {}
            if item.get("type") == "function_call":
                if item.get("name") == RETRIEVE_TOOL_NAME:
                    if not turn.buffering:
                        turn.buffering, turn.first_retrieve_index = True, index
                else:
                    turn.client_tool = True
        elif etype == "response.completed":
            turn.items = list((data.get("response") or {}).get("output") or ())
        changed = dict(data)
        if self.rounds and self.shift and isinstance(index, int):
            changed["output_index"] = index + self.shift
        if isinstance(data.get("sequence_number"), int):
            if not turn.buffering:
                self.sequence += 1
            changed["sequence_number"] = self.sequence + (len(turn.held) + 1 if turn.buffering else 0)
        if changed != data:
            return format_event(changed, event.name)
        return event.raw

    def _retrieval_turn(self, turn: _Turn) -> tuple[Any, list[tuple[str, Any]] | None]:
        """(assistant turn for the continuation, retrieval calls) or (None, None) to hand back."""
        if turn.client_tool:
            return None, None
        if self.kind == ANTHROPIC:
            if turn.stop_reason != "tool_use":
                return None, None
            content = []
            calls = []
            for index in sorted(turn.blocks):
                block = dict(turn.blocks[index])
                if block.get("type") == "tool_use":
                    raw = turn.partial_json.get(index, "")
                    try:
                        block["input"] = json.loads(raw) if raw.strip() else {}
                    except ValueError:
                        block["input"] = {}
                    calls.append((str(block.get("id")), block["input"]))
                content.append(block)
            return content, calls or None
        if self.kind == OPENAI_CHAT:
            if not turn.calls or any(c["name"] != RETRIEVE_TOOL_NAME for c in turn.calls.values()):
                return None, None
            ordered = [turn.calls[i] for i in sorted(turn.calls)]
            assistant = {
                "role": "assistant",
                "content": "".join(turn.text) or None,
                "tool_calls": [
                    {
                        "id": c["id"],
                        "type": "function",
                        "function": {"name": c["name"], "arguments": c["arguments"]},
                    }
                    for c in ordered
                ],
            }
            return assistant, [(str(c["id"]), c["arguments"]) for c in ordered]
        found = _retrieve_calls(OPENAI_RESPONSES, {"output": turn.items})
        return ([i for i in turn.items if isinstance(i, dict)], found) if found else (None, None)
