"""Anthropic's Messages API <-> OpenAI chat completions, so /v1/messages rides the chat pipeline.

    to_chat(request)        Messages request (checked by anthropic_checks) -> chat completions body
    to_message(reply, ...)  chat completion -> Message object

(streams: router.protocol.anthropic_stream). Pure functions over parsed JSON, no I/O. The chat body is built from the fields named here only, so
nothing else in a client's body reaches a translated upstream. Mapping: system -> a system message;
tool_result blocks -> tool messages (placed first, as chat needs them right after the assistant's
tool calls); tool_use -> tool_calls; images -> image_url parts (data: URLs for base64); stop_sequences
-> stop; tool_choice any -> required; finish_reason stop/length/tool_calls -> end_turn/max_tokens/tool_use.
Thinking blocks, server tools (web search, ...), their result blocks, Files API sources and other block
types Anthropic adds have no chat form: they pass the checks, reach native upstreams, and are left out
of the translation.
A document given by URL reaches a chat model as that URL, in text.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from router.errors import BadRequest

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _json(value: Any, where: str) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # a lone UTF-16 surrogate, which only Python's json writes (escaped)
        try:
            return json.dumps(value, ensure_ascii=True, separators=(",", ":"))
        except (ValueError, RecursionError):
            raise BadRequest(f"{where}: cannot be written as JSON", param=where) from None


def _image(source: dict[str, Any]) -> dict[str, Any] | None:
    if source["type"] == "url":
        return {"type": "image_url", "image_url": {"url": source["url"]}}
    if source["type"] == "base64":
        return {"type": "image_url", "image_url": {"url": f"data:{source['media_type']};base64,{source['data']}"}}
    return None  # a Files API id: only Anthropic can read it


def _part(block: dict[str, Any]) -> dict[str, Any] | None:
    """A user content block as a chat content part (None: no chat form)."""
    kind = block["type"]
    if kind == "text":
        return {"type": "text", "text": block["text"]}
    if kind == "image":
        return _image(block["source"])
    if kind == "document":
        source = block["source"]
        if source["type"] == "text":
            return {"type": "text", "text": source["data"]}
        if source["type"] == "base64":
            data = f"data:{source['media_type']};base64,{source['data']}"
            return {"type": "file", "file": {"filename": block.get("title") or "document", "file_data": data}}
        if source["type"] == "url":
            return {"type": "text", "text": source["url"]}
    return None


def _tool_content(content: Any) -> tuple[str, list[dict[str, Any]]]:
    """A tool_result's content: its text for the tool message, and images to show in a user message."""
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    texts, media = [], []
    for block in content:
        part = _part(block)
        if part is None:
            continue
        if part["type"] == "text":
            texts.append(part["text"])
        else:
            media.append(part)
    return "\n".join(texts), media


def _user(content: list[dict[str, Any]], out: list[dict[str, Any]]) -> None:
    parts: list[dict[str, Any]] = []
    for block in content:
        if block["type"] == "tool_result":
            text, media = _tool_content(block.get("content"))
            out.append({"role": "tool", "tool_call_id": block["tool_use_id"], "content": text})
            parts.extend(media)
        else:
            part = _part(block)
            if part is not None:
                parts.append(part)
    if parts:
        if all(p["type"] == "text" for p in parts) and len(parts) == 1:
            out.append({"role": "user", "content": parts[0]["text"]})
        else:
            out.append({"role": "user", "content": parts})


def _assistant(content: list[dict[str, Any]], where: str, out: list[dict[str, Any]]) -> None:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        if block["type"] == "text":
            texts.append(block["text"])
        elif block["type"] == "tool_use":
            arguments = _json(block["input"], f"{where}.content.{j}.input")
            calls.append({"id": block["id"], "type": "function", "function": {"name": block["name"], "arguments": arguments}})
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    out.append(message)


def _system_text(system: Any) -> str | None:
    if system is None or isinstance(system, str):
        return system or None
    return "\n".join(block["text"] for block in system) or None


def _tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for tool in tools:
        if tool.get("type") not in (None, "custom"):
            continue
        function = {"name": tool["name"], "parameters": tool["input_schema"]}
        if tool.get("description"):
            function["description"] = tool["description"]
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: dict[str, Any]) -> Any:
    kind = choice["type"]
    if kind == "tool":
        return {"type": "function", "function": {"name": choice["name"]}}
    return {"auto": "auto", "any": "required", "none": "none"}[kind]


def to_chat(body: dict[str, Any]) -> dict[str, Any]:
    """The chat completions body for a checked Messages request."""
    messages: list[dict[str, Any]] = []
    system = _system_text(body.get("system"))
    if system is not None:
        messages.append({"role": "system", "content": system})
    for i, message in enumerate(body["messages"]):
        content = message["content"]
        if isinstance(content, str):
            messages.append({"role": message["role"], "content": content})
        elif message["role"] == "user":
            _user(content, messages)
        else:
            _assistant(content, f"messages.{i}", messages)
    chat: dict[str, Any] = {"model": body["model"], "messages": messages}
    if body.get("max_tokens") is not None:
        chat["max_tokens"] = body["max_tokens"]
    for field in ("temperature", "top_p", "top_k"):
        if body.get(field) is not None:
            chat[field] = body[field]
    if body.get("stop_sequences"):
        chat["stop"] = body["stop_sequences"]
    tools = _tools(body["tools"]) if body.get("tools") else []
    if tools:
        chat["tools"] = tools
        choice = body.get("tool_choice")
        if choice is not None:
            chat["tool_choice"] = _tool_choice(choice)
            if choice.get("disable_parallel_tool_use") is True:
                chat["parallel_tool_calls"] = False
    user = (body.get("metadata") or {}).get("user_id")
    if isinstance(user, str):
        chat["user"] = user
    if body.get("stream") is True:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat


def _arguments(text: Any) -> dict[str, Any]:
    try:
        value = orjson.loads(text or "{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def stop_of(choice: dict[str, Any], stop_sequences: list[str] | None) -> tuple[str, str | None]:
    """(stop_reason, stop_sequence) of a chat choice; vLLM names the stop string that ended the text in `stop_reason`."""
    matched = choice.get("stop_reason")
    if stop_sequences and isinstance(matched, str) and matched in stop_sequences:
        return "stop_sequence", matched
    return STOP_REASONS.get(choice.get("finish_reason") or "stop", "end_turn"), None


def usage_of_chat(usage: Any) -> dict[str, int]:
    """Chat usage as Anthropic's."""
    usage = usage if isinstance(usage, dict) else {}
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return {
        "input_tokens": prompt if isinstance(prompt, int) else 0,
        "output_tokens": completion if isinstance(completion, int) else 0,
    }


def to_message(reply: dict[str, Any], model: str, stop_sequences: list[str] | None = None) -> dict[str, Any]:
    """The Message object for a chat completion; `model` is the name the client asked for."""
    choices = reply.get("choices")
    choice = _dict(choices[0]) if isinstance(choices, list) and choices else {}
    message = _dict(choice.get("message"))
    content: list[dict[str, Any]] = []
    if message.get("content"):
        content.append({"type": "text", "text": str(message["content"])})
    for i, call in enumerate(message.get("tool_calls") or ()):
        function = _dict(call).get("function")
        if isinstance(function, dict):
            input_ = _arguments(function.get("arguments"))
            content.append(
                {"type": "tool_use", "id": call.get("id") or f"toolu_{i}", "name": function.get("name"), "input": input_}
            )
    stop_reason, stop_sequence = stop_of(choice, stop_sequences)
    return {
        "id": f"msg_{reply.get('id') or 'router'}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage_of_chat(reply.get("usage")),
    }
