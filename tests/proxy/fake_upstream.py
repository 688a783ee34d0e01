"""A fake Anthropic + OpenAI upstream speaking the real wire formats, recording every request.

Behaviour per request comes from the `x-fake-scenario` header (the proxy passes unknown
headers through): text (default), tool (a client tool call, streamed in 50 fragments),
retrieve (calls headroom_retrieve with the first marker key it sees), mixed (headroom_retrieve
plus a client tool), slow (pauses between stream events), long (a long slow stream, for
disconnects), error-NNN (that status with the provider's error body). A request that carries
the answer to a headroom_retrieve call is answered with "RETRIEVED:" and that answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

RETRIEVE = "headroom_retrieve"
MARKER_KEY = re.compile(r'headroom_retrieve\(key=\\*"([0-9a-f]{8,64})')
TOOL_ARGS = json.dumps({"city": "Paris", "days": 5, "note": "x" * 120 + " fragmented arguments " + "y" * 80})


def canonical(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    raw_headers: list[tuple[str, str]]
    body: bytes
    json: Any
    message_hashes: list[str] = field(default_factory=list)


class FakeUpstream:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.events_sent: list[float] = []
        self.long_stream_closed = asyncio.Event()
        self.long_events = 0
        self.long_total = 400

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/messages", self.messages, methods=["POST"]),
                Route("/v1/messages/count_tokens", self.count_tokens, methods=["POST"]),
                Route("/v1/chat/completions", self.chat, methods=["POST"]),
                Route("/v1/responses", self.responses, methods=["POST"]),
                Route("/", self.root, methods=["GET"]),
                Route("/v1/{path:path}", self.echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            ]
        )

    async def _record(self, request: Request) -> Recorded:
        body = await request.body()
        try:
            doc = json.loads(body) if body else None
        except ValueError:
            doc = None
        items = []
        if isinstance(doc, dict):
            items = doc.get("messages") or (doc.get("input") if isinstance(doc.get("input"), list) else [])
        rec = Recorded(
            request.method,
            request.url.path,
            request.url.query,
            {k.lower(): v for k, v in request.headers.items()},
            list(request.headers.items()),
            body,
            doc,
            [canonical(m) for m in items],
        )
        self.requests.append(rec)
        return rec

    async def root(self, request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def echo(self, request: Request) -> Response:
        rec = await self._record(request)
        return JSONResponse(
            {
                "method": rec.method,
                "path": rec.path,
                "query": rec.query,
                "body_sha256": hashlib.sha256(rec.body).hexdigest(),
                "api_key": rec.headers.get("x-api-key") or rec.headers.get("authorization"),
            },
            headers={"x-upstream": "echo"},
        )

    async def count_tokens(self, request: Request) -> Response:
        await self._record(request)
        return JSONResponse({"input_tokens": 42})

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _error(provider: str, status: int) -> Response:
        headers = {"request-id": "req_fake", "x-should-retry": "false"}
        if status == 429:
            headers["retry-after"] = "7"
        message = f"fake upstream error {status}"
        if provider == "anthropic":
            kind = {
                401: "authentication_error",
                404: "not_found_error",
                429: "rate_limit_error",
                529: "overloaded_error",
            }
            body = {"type": "error", "error": {"type": kind.get(status, "api_error"), "message": message}}
        else:
            body = {"error": {"message": message, "type": "fake_error", "param": None, "code": str(status)}}
        return JSONResponse(body, status_code=status, headers=headers)

    @staticmethod
    def _scenario(request: Request) -> str:
        return request.headers.get("x-fake-scenario", "text")

    @staticmethod
    def _marker_key(value: Any) -> str:
        match = MARKER_KEY.search(json.dumps(value))
        return match.group(1) if match else "0000000000000000"

    async def _sse(self, events: list[bytes], delay: float) -> Any:
        for i, event in enumerate(events):
            if delay and i:
                await asyncio.sleep(delay)
            self.events_sent.append(time.monotonic())
            yield event

    async def _long(self, make_event: Any) -> Any:
        try:
            for i in range(self.long_total):
                await asyncio.sleep(0.02)
                self.long_events += 1
                yield make_event(i)
        finally:
            self.long_stream_closed.set()

    # ------------------------------------------------------------------ Anthropic

    async def messages(self, request: Request) -> Response:
        rec = await self._record(request)
        scenario = self._scenario(request)
        if scenario.startswith("error-"):
            return self._error("anthropic", int(scenario[6:]))
        body = rec.json
        tools = [t.get("name") for t in body.get("tools") or ()]
        last = body["messages"][-1]
        answered = None
        if last["role"] == "user" and isinstance(last["content"], list):
            for block in last["content"]:
                if block.get("type") == "tool_result" and str(block.get("tool_use_id", "")).startswith(
                    "toolu_retr"
                ):
                    answered = block.get("content")
        if answered is not None:
            content = [{"type": "text", "text": "RETRIEVED:" + str(answered)}]
        elif scenario == "retrieve" and RETRIEVE in tools:
            key = self._marker_key(body["messages"])
            content = [
                {"type": "text", "text": "Let me look."},
                {
                    "type": "tool_use",
                    "id": f"toolu_retr{len(body['messages'])}",
                    "name": RETRIEVE,
                    "input": {"key": key},
                },
            ]
        elif scenario == "mixed" and RETRIEVE in tools:
            key = self._marker_key(body["messages"])
            content = [
                {"type": "tool_use", "id": "toolu_retr_m", "name": RETRIEVE, "input": {"key": key}},
                {
                    "type": "tool_use",
                    "id": "toolu_client",
                    "name": "get_weather",
                    "input": json.loads(TOOL_ARGS),
                },
            ]
        elif scenario == "tool":
            content = [
                {
                    "type": "tool_use",
                    "id": "toolu_client",
                    "name": "get_weather",
                    "input": json.loads(TOOL_ARGS),
                }
            ]
        else:
            key = request.headers.get("x-api-key") or request.headers.get("authorization", "")
            content = [{"type": "text", "text": f"hello from fake; key={key}; n={len(body['messages'])}"}]
        stop = "tool_use" if any(b["type"] == "tool_use" for b in content) else "end_turn"
        message = {
            "id": f"msg_{len(body['messages'])}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": 100, "output_tokens": 10},
        }
        headers = {"request-id": f"req_{len(body['messages'])}", "x-upstream": "fake"}
        if not body.get("stream"):
            return JSONResponse(message, headers=headers)
        if scenario == "long":
            return StreamingResponse(
                self._long(lambda i: _ev("ping", {"type": "ping"})),
                media_type="text/event-stream",
                headers=headers,
            )
        delay = 0.3 if scenario == "slow" else 0.0
        return StreamingResponse(
            self._sse(_anthropic_events(message), delay), media_type="text/event-stream", headers=headers
        )

    # ------------------------------------------------------------------ OpenAI chat

    async def chat(self, request: Request) -> Response:
        rec = await self._record(request)
        scenario = self._scenario(request)
        if scenario.startswith("error-"):
            return self._error("openai", int(scenario[6:]))
        body = rec.json
        tools = [(t.get("function") or {}).get("name") for t in body.get("tools") or ()]
        last = body["messages"][-1]
        text, calls = None, []
        if last.get("role") == "tool" and str(last.get("tool_call_id", "")).startswith("call_retr"):
            text = "RETRIEVED:" + str(last.get("content"))
        elif scenario == "retrieve" and RETRIEVE in tools:
            calls = [("call_retr1", RETRIEVE, json.dumps({"key": self._marker_key(body["messages"])}))]
        elif scenario == "mixed" and RETRIEVE in tools:
            calls = [
                ("call_retr_m", RETRIEVE, json.dumps({"key": self._marker_key(body["messages"])})),
                ("call_client", "get_weather", TOOL_ARGS),
            ]
        elif scenario == "tool":
            calls = [("call_client", "get_weather", TOOL_ARGS)]
        else:
            auth = request.headers.get("authorization", "")
            text = f"hello from fake; key={auth}; n={len(body['messages'])}"
        cid = f"chatcmpl-{len(body['messages'])}"
        headers = {"x-request-id": f"req_{len(body['messages'])}", "x-upstream": "fake"}
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
            if calls:
                message["tool_calls"] = [
                    {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
                    for i, n, a in calls
                ]
            return JSONResponse(
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": 1700000000,
                    "model": body.get("model"),
                    "choices": [
                        {
                            "index": 0,
                            "message": message,
                            "finish_reason": "tool_calls" if calls else "stop",
                            "logprobs": None,
                        }
                    ],
                    "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
                },
                headers=headers,
            )

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            doc = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": 1700000000,
                "model": body.get("model"),
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            }
            return b"data: " + json.dumps(doc).encode() + b"\n\n"

        if scenario == "long":
            return StreamingResponse(
                self._long(lambda i: chunk({"content": f"{i} "})),
                media_type="text/event-stream",
                headers=headers,
            )
        events = [chunk({"role": "assistant", "content": ""})]
        if text:
            events += [chunk({"content": piece}) for piece in _pieces(text, 5)]
        for n, (call_id, name, args) in enumerate(calls):
            events.append(
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": n,
                                "id": call_id,
                                "type": "function",
                                "function": {"name": name, "arguments": ""},
                            }
                        ]
                    }
                )
            )
            events += [
                chunk({"tool_calls": [{"index": n, "function": {"arguments": p}}]}) for p in _pieces(args, 50)
            ]
        events.append(chunk({}, "tool_calls" if calls else "stop"))
        events.append(b"data: [DONE]\n\n")
        delay = 0.3 if scenario == "slow" else 0.0
        return StreamingResponse(self._sse(events, delay), media_type="text/event-stream", headers=headers)

    # ------------------------------------------------------------------ OpenAI Responses

    async def responses(self, request: Request) -> Response:
        rec = await self._record(request)
        scenario = self._scenario(request)
        if scenario.startswith("error-"):
            return self._error("openai", int(scenario[6:]))
        body = rec.json
        tools = [t.get("name") for t in body.get("tools") or ()]
        items = body.get("input") if isinstance(body.get("input"), list) else []
        last = items[-1] if items else {}
        n = len(items)
        output: list[dict[str, Any]] = []
        if last.get("type") == "function_call_output" and str(last.get("call_id", "")).startswith(
            "call_retr"
        ):
            output = [_message_item(f"msg_{n}", "RETRIEVED:" + str(last.get("output")))]
        elif scenario == "retrieve" and RETRIEVE in tools:
            output = [
                _message_item(f"msg_{n}", "Let me look."),
                _call_item(f"fc_{n}", "call_retr1", RETRIEVE, json.dumps({"key": self._marker_key(items)})),
            ]
        elif scenario == "mixed" and RETRIEVE in tools:
            output = [
                _call_item(f"fc_{n}a", "call_retr_m", RETRIEVE, json.dumps({"key": self._marker_key(items)})),
                _call_item(f"fc_{n}b", "call_client", "get_weather", TOOL_ARGS),
            ]
        elif scenario == "tool":
            output = [_call_item(f"fc_{n}", "call_client", "get_weather", TOOL_ARGS)]
        else:
            output = [_message_item(f"msg_{n}", f"hello from fake; n={len(items)}")]
        response = responses_document(f"resp_{n}", body.get("model"), output, body.get("tools"))
        headers = {"x-request-id": f"req_{n}"}
        if not body.get("stream"):
            return JSONResponse(response, headers=headers)
        delay = 0.3 if scenario == "slow" else 0.0
        return StreamingResponse(
            self._sse(_responses_events(response), delay), media_type="text/event-stream", headers=headers
        )


def _pieces(text: str, n: int) -> list[str]:
    """Exactly n pieces (for texts of at least n characters)."""
    n = min(n, len(text)) or 1
    cuts = [len(text) * i // n for i in range(n + 1)]
    return [text[a:b] for a, b in itertools.pairwise(cuts)]


def _ev(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def _anthropic_events(message: dict[str, Any]) -> list[bytes]:
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": 100, "output_tokens": 1},
    }
    events = [
        _ev("message_start", {"type": "message_start", "message": start}),
        _ev("ping", {"type": "ping"}),
    ]
    for i, block in enumerate(message["content"]):
        if block["type"] == "text":
            events.append(
                _ev(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": i,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
            )
            for piece in _pieces(block["text"], 4):
                events.append(
                    _ev(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": i,
                            "delta": {"type": "text_delta", "text": piece},
                        },
                    )
                )
        else:
            head = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            events.append(
                _ev("content_block_start", {"type": "content_block_start", "index": i, "content_block": head})
            )
            for piece in _pieces(json.dumps(block["input"]), 50):
                events.append(
                    _ev(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": i,
                            "delta": {"type": "input_json_delta", "partial_json": piece},
                        },
                    )
                )
        events.append(_ev("content_block_stop", {"type": "content_block_stop", "index": i}))
    events.append(
        _ev(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": 10},
            },
        )
    )
    events.append(_ev("message_stop", {"type": "message_stop"}))
    return events


def responses_document(
    response_id: str, model: Any, output: list[dict[str, Any]], tools: Any
) -> dict[str, Any]:
    """A completed OpenAI Responses document holding `output` (fixed usage figures)."""
    return {
        "id": response_id,
        "object": "response",
        "created_at": 1700000000,
        "status": "completed",
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": tools or [],
        "usage": {
            "input_tokens": 100,
            "output_tokens": 10,
            "total_tokens": 110,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }


def _message_item(item_id: str, text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "id": item_id,
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def _call_item(item_id: str, call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": "completed",
    }


def _responses_events(response: dict[str, Any]) -> list[bytes]:
    seq = iter(range(10_000))
    started = {**response, "status": "in_progress", "output": []}
    events = [
        _ev(
            "response.created",
            {"type": "response.created", "sequence_number": next(seq), "response": started},
        ),
        _ev(
            "response.in_progress",
            {"type": "response.in_progress", "sequence_number": next(seq), "response": started},
        ),
    ]
    for i, item in enumerate(response["output"]):
        if item["type"] == "message":
            text = item["content"][0]["text"]
            events.append(
                _ev(
                    "response.output_item.added",
                    {
                        "type": "response.output_item.added",
                        "sequence_number": next(seq),
                        "output_index": i,
                        "item": {**item, "content": [], "status": "in_progress"},
                    },
                )
            )
            part = {"type": "output_text", "text": "", "annotations": []}
            events.append(
                _ev(
                    "response.content_part.added",
                    {
                        "type": "response.content_part.added",
                        "sequence_number": next(seq),
                        "item_id": item["id"],
                        "output_index": i,
                        "content_index": 0,
                        "part": part,
                    },
                )
            )
            for piece in _pieces(text, 4):
                events.append(
                    _ev(
                        "response.output_text.delta",
                        {
                            "type": "response.output_text.delta",
                            "sequence_number": next(seq),
                            "item_id": item["id"],
                            "output_index": i,
                            "content_index": 0,
                            "delta": piece,
                            "logprobs": [],
                        },
                    )
                )
            events.append(
                _ev(
                    "response.output_text.done",
                    {
                        "type": "response.output_text.done",
                        "sequence_number": next(seq),
                        "item_id": item["id"],
                        "output_index": i,
                        "content_index": 0,
                        "text": text,
                        "logprobs": [],
                    },
                )
            )
            events.append(
                _ev(
                    "response.content_part.done",
                    {
                        "type": "response.content_part.done",
                        "sequence_number": next(seq),
                        "item_id": item["id"],
                        "output_index": i,
                        "content_index": 0,
                        "part": {**part, "text": text},
                    },
                )
            )
        else:
            events.append(
                _ev(
                    "response.output_item.added",
                    {
                        "type": "response.output_item.added",
                        "sequence_number": next(seq),
                        "output_index": i,
                        "item": {**item, "arguments": "", "status": "in_progress"},
                    },
                )
            )
            for piece in _pieces(item["arguments"], 50):
                events.append(
                    _ev(
                        "response.function_call_arguments.delta",
                        {
                            "type": "response.function_call_arguments.delta",
                            "sequence_number": next(seq),
                            "item_id": item["id"],
                            "output_index": i,
                            "delta": piece,
                        },
                    )
                )
            events.append(
                _ev(
                    "response.function_call_arguments.done",
                    {
                        "type": "response.function_call_arguments.done",
                        "sequence_number": next(seq),
                        "item_id": item["id"],
                        "output_index": i,
                        "arguments": item["arguments"],
                    },
                )
            )
        events.append(
            _ev(
                "response.output_item.done",
                {
                    "type": "response.output_item.done",
                    "sequence_number": next(seq),
                    "output_index": i,
                    "item": item,
                },
            )
        )
    events.append(
        _ev(
            "response.completed",
            {"type": "response.completed", "sequence_number": next(seq), "response": response},
        )
    )
    return events
