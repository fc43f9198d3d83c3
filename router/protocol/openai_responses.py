"""OpenAI's Responses API as chat completions: the request, the plain answer, and the stored history.

Most SLM servers (llama.cpp, Ollama, older vLLM) serve only /v1/chat/completions, so the gateway speaks
the Responses API to clients and chat completions to them:

    request   input (a string or items: messages, function calls and their outputs, images), instructions,
              function tools, tool_choice, text.format, max_output_tokens  ->  a chat-completions body
    answer    a chat completion  ->  a response object (message and function_call output items, usage)
    history   what `previous_response_id` continues: the earlier input items plus their output items

Streams are translated in router.protocol.openai_responses_stream. Everything here is a pure function
of its arguments; only the fields named above are read, the rest of a Responses request is not sent to
a chat server (it would refuse them), and is echoed back in the response object where OpenAI does.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from router.errors import BadRequest

Item = dict[str, Any]
ROLES = {"user": "user", "system": "system", "developer": "system", "assistant": "assistant"}
TEXT_PARTS = frozenset({"input_text", "output_text", "text"})
FINISH = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


def _bad(message: str, param: str) -> BadRequest:
    return BadRequest(message, param=param)


def check(body: dict[str, Any]) -> None:
    """The fields the gateway itself reads must have the right types (400 otherwise)."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("'model' is required and must be a non-empty string", "model")
    value = body.get("input")
    if value is None and not body.get("previous_response_id"):
        raise _bad("'input' is required", "input")
    if value is not None and not isinstance(value, (str, list)):
        raise _bad("'input' must be a string or an array of input items", "input")
    kinds: dict[str, tuple[type | tuple[type, ...], str]] = {
        "instructions": (str, "a string"),
        "stream": (bool, "a boolean"),
        "store": (bool, "a boolean"),
        "previous_response_id": (str, "a string"),
        "tools": (list, "an array"),
        "tool_choice": ((str, dict), "a string or an object"),
        "text": (dict, "an object"),
        "metadata": (dict, "an object"),
        "parallel_tool_calls": (bool, "a boolean"),
    }
    for field, (kind, expected) in kinds.items():
        v = body.get(field)
        if v is not None and not isinstance(v, kind):
            raise _bad(f"'{field}' must be {expected}", field)
    for field in ("temperature", "top_p"):
        v = body.get(field)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise _bad(f"'{field}' must be a number", field)
    v = body.get("max_output_tokens")
    if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
        raise _bad("'max_output_tokens' must be a positive integer", "max_output_tokens")


def input_items(body: dict[str, Any]) -> list[Item]:
    """The request's input as items (a string is one user message)."""
    value = body.get("input")
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    return list(value)


def _text_of_parts(parts: Any, where: str) -> str:
    if isinstance(parts, str):
        return parts
    if not isinstance(parts, list):
        raise _bad(f"'{where}' must be a string or an array of content parts", where)
    out = []
    for part in parts:
        if isinstance(part, dict) and part.get("type") in TEXT_PARTS:
            out.append(str(part.get("text") or ""))
        elif isinstance(part, dict) and part.get("type") == "refusal":
            out.append(str(part.get("refusal") or ""))
    return "".join(out)


def _user_part(part: Any, where: str) -> dict[str, Any]:
    if not isinstance(part, dict):
        raise _bad(f"'{where}' must be an object", where)
    kind = part.get("type")
    if kind in TEXT_PARTS:
        return {"type": "text", "text": str(part.get("text") or "")}
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str):
            raise _bad("input_image needs 'image_url' (a URL or a data: URL); file_id is not supported", where)
        return {"type": "image_url", "image_url": {"url": url, "detail": part.get("detail") or "auto"}}
    if kind == "input_file" and isinstance(part.get("file_data"), str):
        return {"type": "file", "file": {"file_data": part["file_data"], "filename": part.get("filename") or "file"}}
    raise _bad(f"content part type {kind!r} is not supported", f"{where}.type")


def _message(item: Item, where: str) -> dict[str, Any]:
    role = ROLES.get(item.get("role"))  # type: ignore[arg-type]
    if role is None:
        raise _bad(f"'{where}.role' must be one of user, system, developer, assistant", f"{where}.role")
    content = item.get("content")
    if role != "user" or isinstance(content, str):
        return {"role": role, "content": _text_of_parts(content, f"{where}.content")}
    if not isinstance(content, list):
        raise _bad(f"'{where}.content' must be a string or an array of content parts", f"{where}.content")
    return {"role": role, "content": [_user_part(p, f"{where}.content[{i}]") for i, p in enumerate(content)]}


def _tool_output(value: Any) -> str:
    return value if isinstance(value, str) else _text_of_parts(value, "output") if isinstance(value, list) else str(value)


def to_messages(items: list[Item], instructions: str | None = None) -> list[dict[str, Any]]:
    """Chat messages for a list of Responses items; consecutive function calls share one assistant turn."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": instructions}] if instructions else []
    for i, item in enumerate(items):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise _bad(f"'{where}' must be an object", where)
        kind = item.get("type", "message")
        if kind == "message":
            messages.append(_message(item, where))
        elif kind == "function_call":
            call = {
                "id": str(item.get("call_id") or item.get("id") or ""),
                "type": "function",
                "function": {"name": str(item.get("name") or ""), "arguments": str(item.get("arguments") or "")},
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
                last["content"] = last.get("content") or None
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            messages.append(
                {"role": "tool", "tool_call_id": str(item.get("call_id") or ""), "content": _tool_output(item.get("output"))}
            )
        elif kind == "reasoning":
            continue  # a chat server cannot take reasoning items back; the answer it led to is kept
        else:
            raise _bad(f"input item type {kind!r} is not supported by this gateway", f"{where}.type")
    return messages


def _tools(tools: list[Any]) -> list[dict[str, Any]]:
    out = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(tool.get("name"), str):
            kind = tool.get("type") if isinstance(tool, dict) else None
            raise _bad(f"tool type {kind!r} is not supported: only function tools are", f"tools[{i}].type")
        function = {k: tool[k] for k in ("name", "description", "parameters", "strict") if tool.get(k) is not None}
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, str):
        return choice
    if choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise _bad("tool_choice must be auto, none, required or a function", "tool_choice")


def _response_format(text: dict[str, Any]) -> dict[str, Any] | None:
    fmt = text.get("format")
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return None
    if fmt["type"] == "json_object":
        return {"type": "json_object"}
    if fmt["type"] == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if fmt.get(k) is not None}
        return {"type": "json_schema", "json_schema": schema}
    raise _bad(f"text.format type {fmt['type']!r} is not supported", "text.format.type")


def to_chat(body: dict[str, Any], history: list[Item]) -> dict[str, Any]:
    """The chat-completions body for a Responses request continuing `history` (empty for a new one)."""
    chat: dict[str, Any] = {
        "model": body["model"],
        "messages": to_messages([*history, *input_items(body)], body.get("instructions")),
    }
    if body.get("tools"):
        chat["tools"] = _tools(body["tools"])
        if body.get("parallel_tool_calls") is not None:
            chat["parallel_tool_calls"] = body["parallel_tool_calls"]
    if body.get("tool_choice") is not None:
        chat["tool_choice"] = _tool_choice(body["tool_choice"])
    if isinstance(body.get("text"), dict) and (fmt := _response_format(body["text"])) is not None:
        chat["response_format"] = fmt
    for src, dst in (("max_output_tokens", "max_tokens"), ("temperature", "temperature"), ("top_p", "top_p"), ("user", "user")):
        if body.get(src) is not None:
            chat[dst] = body[src]
    if isinstance(body.get("reasoning"), dict) and body["reasoning"].get("effort"):
        chat["reasoning_effort"] = body["reasoning"]["effort"]
    if body.get("stream") is True:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat


def usage(chat_usage: Any) -> dict[str, Any] | None:
    """A chat usage block as the Responses API reports it."""
    if not isinstance(chat_usage, dict):
        return None
    prompt, completion = int(chat_usage.get("prompt_tokens") or 0), int(chat_usage.get("completion_tokens") or 0)
    cached = (chat_usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    reasoning = (chat_usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": prompt + completion,
    }


def shell(
    body: dict[str, Any], rid: str, model: str, created: float | None = None, status: str = "in_progress"
) -> dict[str, Any]:
    """A response object with the request's settings echoed and no output yet."""
    return {
        "id": rid,
        "object": "response",
        "created_at": int(created if created is not None else time.time()),
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": model,
        "output": [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation", "disabled"),
        "usage": None,
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }


def message_item(text: str, status: str = "completed", item_id: str | None = None) -> Item:
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    return {"type": "message", "id": item_id or new_id("msg"), "status": status, "role": "assistant", "content": content}


def call_item(call_id: str, name: str, arguments: str, status: str = "completed", item_id: str | None = None) -> Item:
    return {
        "type": "function_call",
        "id": item_id or new_id("fc"),
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def finish(response: dict[str, Any], finish_reason: Any) -> dict[str, Any]:
    """Set the final status from the chat finish_reason (length: incomplete, max_output_tokens)."""
    reason = FINISH.get(finish_reason) if isinstance(finish_reason, str) else None
    response["status"] = "incomplete" if reason else "completed"
    response["incomplete_details"] = {"reason": reason} if reason else None
    return response


def from_chat(body: dict[str, Any], data: dict[str, Any], rid: str, model: str) -> dict[str, Any]:
    """The response object for a plain chat completion (the first choice)."""
    response = shell(body, rid, model, data.get("created") if isinstance(data.get("created"), (int, float)) else None)
    choices = data.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    output = response["output"]
    calls = message.get("tool_calls") or []
    text = message.get("content")
    if text or not calls:
        output.append(message_item(text if isinstance(text, str) else _text_of_parts(text or [], "content")))
    if message.get("refusal"):
        output.append(message_item(""))
        output[-1]["content"] = [{"type": "refusal", "refusal": str(message["refusal"])}]
    for call in calls:
        fn = call.get("function") or {}
        output.append(call_item(str(call.get("id") or new_id("call")), str(fn.get("name") or ""), str(fn.get("arguments") or "")))
    response["usage"] = usage(data.get("usage"))
    return finish(response, choice.get("finish_reason"))


def continued(history: list[Item], body: dict[str, Any], response: dict[str, Any]) -> list[Item]:
    """The items a later request with previous_response_id = this response's id continues from."""
    return [*history, *input_items(body), *response.get("output", [])]


def native_body(body: dict[str, Any], history: list[Item]) -> dict[str, Any]:
    """The request for an upstream that serves the Responses API itself: the gateway holds the history."""
    out = {k: v for k, v in body.items() if k != "previous_response_id"}  # `store: false` still applies upstream
    if history:
        out["input"] = [*history, *input_items(body)]
    return out
