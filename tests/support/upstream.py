"""A small OpenAI-compatible model server for tests: answers chat, completions, embeddings and models,
streams, and on command delays, fails, stalls, drops connections or answers garbage. It records every
request it receives so tests can check exactly what the gateway sent.

Run: python -m tests.support.upstream --port 0 --name slm   (prints "READY <port>" when listening)
Control: POST /_control {"mode": ..., ...}; GET /_received; POST /_reset.
Modes: ok, status (status, retry_after, error: the error object to answer), garbage, hang, stall_after
(chunks before stalling), close_mid (chunks before dropping the connection), fail_rate (status on a share
of requests). Other settings: reply (the text), tool_calls ([{name, arguments}], plain and streamed),
script (a list of such settings, one per chat request, in order),
headers (added to every answer), delay_ms. POST /v1/responses answers natively (OpenAI's Responses API).
An agent's core: {"agent": [turn, ...]} picks the turn by how many assistant messages the request already
holds (so concurrent conversations each get their own turn); a turn is {"tool_calls": [{"name",
"arguments"}]} (made only when the request offers a tool of that name, as a real model would, else
{"reply": turn["otherwise"]}; plain or streamed) or {"reply": "text"}, where "{tool_results}" in the text
becomes the contents of the request's tool messages joined by " | ".
Load: GET /metrics (vLLM's vllm:num_requests_waiting) and GET /slots (llama.cpp) report requests in
flight beyond control "slots" (default 1) as waiting.
For streams also endless (a content event every interval_ms, each `piece` long, until the client
leaves) and giant_event (one event of giant_bytes that ends only after all of them).
Streams send {"events": [...]} raw as `data:` payloads instead of an answer when that is given; plain
answers are {"answer": ...} as the JSON body when that is given.
Any mode: fail_marker (answer `status`, default 500, to requests whose text contains it).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import sys
import time
from typing import Any

from aiohttp import web


class State:
    def __init__(self, name: str) -> None:
        self.name = name
        self.control: dict[str, Any] = {"mode": "ok"}
        self.received: list[dict[str, Any]] = []
        self.loaded: set[str] = set()
        self.rng = random.Random(0)
        self.in_flight = 0


def _note(state: State, request: web.Request, body: dict[str, Any]) -> None:
    """Remember what arrived, for tests to check what the gateway sent."""
    state.received.append({"path": request.path, "body": body, "headers": dict(request.headers), "at": time.time()})


def _text(body: dict[str, Any]) -> str:
    if isinstance(body.get("input"), str):
        return str(body["input"])
    for msg in reversed(body.get("messages") or body.get("input") or []):
        if isinstance(msg, dict) and msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p)
            return str(content)
    prompt = body.get("prompt")
    return prompt if isinstance(prompt, str) else json.dumps(prompt)


def _turn(state: State, body: dict[str, Any]) -> dict[str, Any] | None:
    """The agent turn for this request, if the upstream plays an agent's core."""
    script = state.control.get("agent")
    if not isinstance(script, list) or not script:
        return None
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    turn = dict(script[min(sum(m.get("role") == "assistant" for m in messages), len(script) - 1)])
    offered = {t.get("function", {}).get("name") for t in body.get("tools") or [] if isinstance(t, dict)}
    calls = turn.get("tool_calls")
    if calls is not None and not all(c["name"] in offered for c in calls):
        turn = {"reply": turn.get("otherwise", "no tools offered, so I answer myself")}
    if isinstance(turn.get("reply"), str):
        results = [str(m.get("content")) for m in messages if m.get("role") == "tool"]
        turn["reply"] = turn["reply"].replace("{tool_results}", " | ".join(results))
    return turn


def _words(state: State, body: dict[str, Any]) -> list[str]:
    turn = _turn(state, body)
    reply = turn.get("reply") if turn is not None else state.control.get("reply")
    text = reply if isinstance(reply, str) else f"[{state.name}] you said: {_text(body)[:60]}"
    n = body.get("max_tokens") or body.get("max_completion_tokens") or 1000
    return text.split(" ")[: int(n)]


def _usage(body: dict[str, Any], words: list[str]) -> dict[str, int]:
    prompt = max(1, len(json.dumps(body.get("messages") or body.get("prompt") or "")) // 4)
    return {"prompt_tokens": prompt, "completion_tokens": len(words), "total_tokens": prompt + len(words)}


def _logprobs(state: State, words: list[str]) -> dict[str, Any]:
    value = float(state.control.get("logprob", -0.05))
    return {"content": [{"token": w, "logprob": value, "bytes": list(w.encode()), "top_logprobs": []} for w in words]}


async def _gate(state: State, request: web.Request) -> web.StreamResponse | None:
    """Apply the failure modes that act before any answer."""
    control = state.control
    marker = control.get("fail_marker")  # read before any await: received[-1] is this request's
    marked = bool(marker and state.received and marker in json.dumps(state.received[-1]["body"]))
    await asyncio.sleep(float(control.get("delay_ms", 0)) / 1000)
    mode = control.get("mode", "ok")
    if control.get("fail_first", 0) > 0:
        control["fail_first"] -= 1
        mode = "status"
    if mode == "hang":
        await asyncio.sleep(3600)
    fail = mode == "status" or (mode == "fail_rate" and state.rng.random() < float(control.get("rate", 0.5)))
    fail = fail or marked
    if fail:
        status = int(control.get("status", 500))
        headers = {"retry-after": str(control["retry_after"])} if "retry_after" in control else {}
        error = control.get("error") or {"message": f"{state.name} failing on purpose", "type": "server_error"}
        return web.json_response({"error": error}, status=status, headers={**headers, **control.get("headers", {})})
    if mode == "garbage":
        return web.Response(body=b"<html>definitely not json", content_type="text/html")
    return None


async def chat(request: web.Request) -> web.StreamResponse:
    state: State = request.app["state"]
    state.in_flight += 1
    try:
        return await _chat(state, request)
    finally:
        state.in_flight -= 1


async def _chat(state: State, request: web.Request) -> web.StreamResponse:
    raw = await request.read()
    body = json.loads(raw)
    _note(state, request, body)
    strict = state.control.get("lora_strict")
    if isinstance(strict, list) and body.get("model") not in strict + sorted(state.loaded):
        # vLLM's answer for an adapter it has not loaded
        return web.json_response(
            {
                "object": "error",
                "message": f"The model `{body.get('model')}` does not exist.",
                "type": "NotFoundError",
                "code": 404,
            },
            status=404,
        )
    early = await _gate(state, request)
    if early is not None:
        return early
    if state.control.get("script"):  # one scripted answer per request: {"reply": ...} or {"tool_calls": [...]}
        step = state.control["script"].pop(0)
        state.control = {k: v for k, v in state.control.items() if k not in ("reply", "tool_calls")} | step
    if "answer" in state.control and not body.get("stream"):  # this JSON as the whole answer, however malformed
        return web.json_response(state.control["answer"])
    words = _words(state, body)
    is_chat = request.path.endswith("chat/completions")
    model = body.get("model")
    finish = "length" if len(words) == (body.get("max_tokens") or -1) else state.control.get("finish_reason", "stop")
    if not body.get("stream"):
        text = " ".join(words)
        choice: dict[str, Any] = {"index": 0, "finish_reason": finish}
        if is_chat:
            choice["message"] = {"role": "assistant", "content": text}
            turn = _turn(state, body)
            scripted = turn.get("tool_calls") if turn is not None else None
            if "tool_calls" in state.control or scripted:
                calls = scripted or state.control["tool_calls"]
                choice["message"] = {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": f"call_{i}", "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                        for i, c in enumerate(calls)
                    ],
                }
                choice["finish_reason"] = "tool_calls"
            if body.get("logprobs"):
                choice["logprobs"] = _logprobs(state, words)
        else:
            choice["text"] = text
        n = int(body.get("n") or 1)
        choices = [dict(choice, index=i) for i in range(n)]
        return web.json_response(
            headers=state.control.get("headers", {}),
            data={
                "id": f"cmpl-{state.name}",
                "object": "chat.completion" if is_chat else "text_completion",
                "created": int(time.time()),
                "model": model,
                "choices": choices,
                "usage": _usage(body, words),
                "system_fingerprint": state.name,
            },
        )
    if state.control.get("mode") in ("endless", "giant_event"):
        return await _hostile_stream(state, request, body)
    return await _stream(state, request, body, words, is_chat, finish)


def _chunk_event(body: dict[str, Any], content: str) -> bytes:
    choice = {"index": 0, "delta": {"content": content}, "finish_reason": None}
    chunk = {"id": "cmpl-x", "object": "chat.completion.chunk", "created": 0, "model": body.get("model"), "choices": [choice]}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


async def _hostile_stream(state: State, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
    """Streams that never end on their own, or one event that is far too large; notes when the gateway hangs up."""
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    control = state.control
    sent = 0
    try:
        if control["mode"] == "endless":
            interval = float(control.get("interval_ms", 20)) / 1000
            event = _chunk_event(body, "x" * int(control.get("piece", 8)))
            while True:
                await response.write(event)
                sent += len(event)
                await asyncio.sleep(interval)
        head = _chunk_event(body, "")[: -len(b'"}, "finish_reason": null}]}\n\n')]
        await response.write(head)
        piece = b"a" * 65536
        total = int(control.get("giant_bytes", 8 * 1024 * 1024))
        while sent < total:
            await response.write(piece)
            sent += len(piece)
        await response.write(b'"}, "finish_reason": null}]}\n\ndata: [DONE]\n\n')
        await response.write_eof()
    except (ConnectionError, asyncio.CancelledError):
        state.received.append({"path": "_cancelled", "body": {"after_bytes": sent}, "headers": {}, "at": time.time()})
        raise
    return response


async def _stream(
    state: State, request: web.Request, body: dict[str, Any], words: list[str], is_chat: bool, finish: str
) -> web.StreamResponse:
    response = web.StreamResponse(headers={"content-type": "text/event-stream", **state.control.get("headers", {})})
    await response.prepare(request)
    turn = _turn(state, body) if is_chat else None
    if turn is not None and turn.get("tool_calls"):
        return await _stream_calls(state, response, body, turn["tool_calls"])
    if is_chat and "tool_calls" in state.control:
        return await _stream_calls(state, response, body)
    interval = float(state.control.get("interval_ms", 0)) / 1000
    mode = state.control.get("mode")
    if isinstance(state.control.get("events"), list):  # these raw `data:` payloads, then the connection ends
        for event in state.control["events"]:
            await response.write(b"data: " + str(event).encode() + b"\n\n")
        await response.write_eof()
        return response
    stop_after = int(state.control.get("chunks", 2))
    for i, word in enumerate(words):
        if mode in ("stall_after", "close_mid") and i == stop_after:
            if mode == "stall_after":
                await asyncio.sleep(3600)
            request.transport.close()  # type: ignore[union-attr]
            return response
        piece = word if i == 0 else " " + word
        delta: dict[str, Any] = {"content": piece} if is_chat else {}
        if is_chat and i == 0:
            delta["role"] = "assistant"
        choice: dict[str, Any] = (
            {"index": 0, "delta": delta, "finish_reason": None} if is_chat else {"index": 0, "text": piece, "finish_reason": None}
        )
        if is_chat and body.get("logprobs"):
            choice["logprobs"] = _logprobs(state, [word])
        chunk = {
            "id": f"cmpl-{state.name}",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": body.get("model"),
            "choices": [choice],
        }
        try:
            await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            if interval:
                await asyncio.sleep(interval)
        except (ConnectionResetError, asyncio.CancelledError):
            state.received.append({"path": "_cancelled", "body": {"after_chunks": i}, "headers": {}, "at": time.time()})
            raise
    last = {"index": 0, "delta": {}, "finish_reason": finish} if is_chat else {"index": 0, "text": "", "finish_reason": finish}
    await response.write(
        b"data: "
        + json.dumps(
            {
                "id": f"cmpl-{state.name}",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": body.get("model"),
                "choices": [last],
            }
        ).encode()
        + b"\n\n"
    )
    if (body.get("stream_options") or {}).get("include_usage"):
        usage = {
            "id": f"cmpl-{state.name}",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": body.get("model"),
            "choices": [],
            "usage": _usage(body, words),
        }
        await response.write(b"data: " + json.dumps(usage).encode() + b"\n\n")
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


def _halves(text: str) -> list[str]:
    middle = len(text) // 2
    return [part for part in (text[:middle], text[middle:]) if part]


async def _stream_calls(
    state: State, response: web.StreamResponse, body: dict[str, Any], calls: list[dict[str, Any]] | None = None
) -> web.StreamResponse:
    """Tool calls as OpenAI streams them: id and name first, then the arguments in pieces."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        data = {"id": f"cmpl-{state.name}", "object": "chat.completion.chunk", "created": 0, "model": body.get("model")}
        return b"data: " + json.dumps({**data, "choices": [choice]}).encode() + b"\n\n"

    await response.write(chunk({"role": "assistant", "content": None}))
    for i, call in enumerate(calls if calls is not None else state.control["tool_calls"]):
        head = {"index": i, "id": f"call_{i}", "type": "function", "function": {"name": call["name"], "arguments": ""}}
        await response.write(chunk({"tool_calls": [head]}))
        args = call["arguments"]
        for piece in (args[: len(args) // 2], args[len(args) // 2 :]):
            await response.write(chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}))
    await response.write(chunk({}, "tool_calls"))
    if (body.get("stream_options") or {}).get("include_usage"):
        usage = {"id": f"cmpl-{state.name}", "object": "chat.completion.chunk", "created": 0, "model": body.get("model")}
        usage |= {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}}
        await response.write(b"data: " + json.dumps(usage).encode() + b"\n\n")
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


async def load_metrics(request: web.Request) -> web.StreamResponse:
    """vLLM's Prometheus endpoint, reduced to the queue gauges the gateway polls."""
    state: State = request.app["state"]
    waiting = max(0, state.in_flight - int(state.control.get("slots", 1)))
    running = state.in_flight - waiting
    text = (
        "# TYPE vllm:num_requests_waiting gauge\n"
        f'vllm:num_requests_waiting{{model_name="any"}} {float(waiting)}\n'
        "# TYPE vllm:num_requests_running gauge\n"
        f'vllm:num_requests_running{{model_name="any"}} {float(running)}\n'
    )
    return web.Response(text=text, content_type="text/plain")


async def slots(request: web.Request) -> web.StreamResponse:
    """llama.cpp's /slots: one entry per slot, busy ones processing."""
    state: State = request.app["state"]
    n = int(state.control.get("slots", 1))
    return web.json_response([{"id": i, "is_processing": i < state.in_flight} for i in range(n)])


async def responses(request: web.Request) -> web.StreamResponse:
    """OpenAI's Responses API, natively: one output message, plain or as semantic events."""
    state: State = request.app["state"]
    body = await request.json()
    _note(state, request, body)
    early = await _gate(state, request)
    if early is not None:
        return early
    words = [f"[{state.name}] native:", *_words(state, body)[3:]] if "reply" not in state.control else _words(state, body)
    text = " ".join(words)
    usage = {
        "input_tokens": 9,
        "output_tokens": len(words),
        "total_tokens": 9 + len(words),
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    }
    part = {"type": "output_text", "text": text, "annotations": []}
    item = {"type": "message", "id": "msg_up", "status": "completed", "role": "assistant", "content": [part]}
    resp = {
        "id": f"resp_up{state.rng.getrandbits(64):016x}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": body.get("model"),
        "output": [item],
        "usage": usage,
        "tools": [],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "error": None,
        "incomplete_details": None,
    }
    if not body.get("stream"):
        return web.json_response(resp, headers=state.control.get("headers", {}))
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    start = dict(resp, status="in_progress", output=[], usage=None)
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": start},
        {"type": "response.output_item.added", "output_index": 0, "item": dict(item, status="in_progress", content=[])},
        {
            "type": "response.content_part.added",
            "item_id": "msg_up",
            "output_index": 0,
            "content_index": 0,
            "part": dict(part, text=""),
        },
        *(
            {
                "type": "response.output_text.delta",
                "item_id": "msg_up",
                "output_index": 0,
                "content_index": 0,
                "delta": w if i == 0 else " " + w,
            }
            for i, w in enumerate(words)
        ),
        {"type": "response.output_text.done", "item_id": "msg_up", "output_index": 0, "content_index": 0, "text": text},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed", "response": resp},
    ]
    for seq, event in enumerate(events):
        await response.write(f"event: {event['type']}\ndata: {json.dumps({**event, 'sequence_number': seq})}\n\n".encode())
    await response.write_eof()
    return response


async def embeddings(request: web.Request) -> web.StreamResponse:
    state: State = request.app["state"]
    body = await request.json()
    _note(state, request, body)
    early = await _gate(state, request)
    if early is not None:
        return early
    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
    data = []
    for i, item in enumerate(inputs):
        digest = hashlib.sha256(str(item).encode()).digest()
        data.append({"object": "embedding", "index": i, "embedding": [b / 255 for b in digest[:8]]})
    return web.json_response(
        {
            "object": "list",
            "data": data,
            "model": body.get("model"),
            "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)},
        }
    )


async def anthropic_messages(request: web.Request) -> web.StreamResponse:
    """Anthropic's Messages API (the wire litellm translates to), plain and streaming."""
    state: State = request.app["state"]
    body = await request.json()
    _note(state, request, body)
    early = await _gate(state, request)
    if early is not None:
        return early
    text = " ".join(_words(state, body))
    calls = state.control.get("tool_calls") or []
    usage = {"input_tokens": 5, "output_tokens": len(text.split())}
    stop_reason = "tool_use" if calls else "end_turn"
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": body.get("model"),
        "stop_reason": stop_reason,
        "stop_sequence": None,
    }
    tool_blocks = [
        {"type": "tool_use", "id": f"toolu_{i}", "name": c["name"], "input": json.loads(c["arguments"])}
        for i, c in enumerate(calls)
    ]
    if not body.get("stream"):
        return web.json_response({**message, "content": [{"type": "text", "text": text}, *tool_blocks], "usage": usage})
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    tool_events: list[dict[str, Any]] = []
    for i, block in enumerate(tool_blocks, start=1):
        tool_events.append({"type": "content_block_start", "index": i, "content_block": {**block, "input": {}}})
        for piece in _halves(calls[i - 1]["arguments"]):
            tool_events.append(
                {"type": "content_block_delta", "index": i, "delta": {"type": "input_json_delta", "partial_json": piece}}
            )
        tool_events.append({"type": "content_block_stop", "index": i})
    events: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {**message, "content": [], "stop_reason": None, "usage": {"input_tokens": 5, "output_tokens": 1}},
        },
        {"type": "ping"},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        *(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w if i == 0 else " " + w}}
            for i, w in enumerate(text.split(" "))
        ),
        {"type": "content_block_stop", "index": 0},
        *tool_events,
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]},
        },
        {"type": "message_stop"},
    ]
    for i, event in enumerate(events):
        if state.control.get("mode") == "stall_after" and i == int(state.control.get("chunks", 2)):
            await asyncio.sleep(3600)
        await response.write(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())
    await response.write_eof()
    return response


async def models(request: web.Request) -> web.StreamResponse:
    return web.json_response({"object": "list", "data": [{"id": "any", "object": "model"}]})


async def load_lora(request: web.Request) -> web.StreamResponse:
    state: State = request.app["state"]
    body = await request.json()
    _note(state, request, body)
    state.loaded.add(body["lora_name"])
    return web.Response(text=f"Success: LoRA adapter '{body['lora_name']}' added successfully.")


async def control(request: web.Request) -> web.StreamResponse:
    request.app["state"].control = await request.json()
    return web.json_response({"ok": True})


async def received(request: web.Request) -> web.StreamResponse:
    return web.json_response(request.app["state"].received)


async def reset(request: web.Request) -> web.StreamResponse:
    state: State = request.app["state"]
    state.received.clear()
    state.loaded.clear()
    state.control = {"mode": "ok"}
    return web.json_response({"ok": True})


def make_app(name: str) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app["state"] = State(name)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/v1/completions", chat)
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/messages", anthropic_messages)
    app.router.add_post("/openai/deployments/{deployment}/chat/completions", chat)  # Azure OpenAI's paths
    app.router.add_post("/openai/deployments/{deployment}/embeddings", embeddings)
    app.router.add_post("/v1/responses", responses)
    app.router.add_post("/v1/load_lora_adapter", load_lora)
    app.router.add_get("/metrics", load_metrics)
    app.router.add_get("/slots", slots)
    app.router.add_post("/_control", control)
    app.router.add_get("/_received", received)
    app.router.add_post("/_reset", reset)
    return app


async def _main(port: int, name: str) -> None:
    runner = web.AppRunner(make_app(name), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"READY {bound}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--name", default="upstream")
    args = parser.parse_args()
    try:
        asyncio.run(_main(args.port, args.name))
    except KeyboardInterrupt:
        sys.exit(0)
