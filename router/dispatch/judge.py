"""Does the SLM's answer look weak? Pure functions over the answer and the request (cascade's judgement).

Signals, each switchable in the policy (routes.<name>.cascade): a low mean token log-probability,
finish_reason `length`, an empty or refusing answer, JSON that does not parse or fails the requested
`response_format` schema, and tool calls that name unknown tools or carry arguments that are not JSON.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from router.policy.schema import CascadeSpec


@dataclass(frozen=True, slots=True)
class Verdict:
    weak: bool
    reason: str  # ok, logprob, length, empty, refusal, json, schema, tool_calls
    mean_logprob: float | None = None


@dataclass(slots=True)
class Answer:
    """What the SLM said so far: text, tool calls, token log-probabilities, finish reason."""

    text: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    finish_reason: str | None = None


def answer_from_reply(data: dict[str, Any]) -> Answer:
    choices = data.get("choices") or []
    choice = choices[0] if choices and isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    answer = Answer(finish_reason=choice.get("finish_reason"))
    answer.text = str(message.get("content") or choice.get("text") or "")
    answer.tool_calls = [c for c in message.get("tool_calls") or [] if isinstance(c, dict)]
    answer.logprobs = _logprobs(choice.get("logprobs"))
    return answer


def add_chunk(answer: Answer, event: dict[str, Any]) -> None:
    """Fold one streamed chunk into the answer (first choice only)."""
    choices = event.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return
    choice = choices[0]
    delta = choice.get("delta") or {}
    answer.text += str(delta.get("content") or choice.get("text") or "")
    for call in delta.get("tool_calls") or []:
        if not isinstance(call, dict):
            continue
        index = call.get("index", len(answer.tool_calls))
        while len(answer.tool_calls) <= index:
            answer.tool_calls.append({"function": {"name": "", "arguments": ""}})
        fn, part = answer.tool_calls[index]["function"], call.get("function") or {}
        fn["name"] += part.get("name") or ""
        fn["arguments"] += part.get("arguments") or ""
    answer.logprobs.extend(_logprobs(choice.get("logprobs")))
    if choice.get("finish_reason"):
        answer.finish_reason = choice["finish_reason"]


def _logprobs(block: Any) -> list[float]:
    if not isinstance(block, dict):
        return []
    if isinstance(block.get("content"), list):  # chat format
        return [
            float(t["logprob"]) for t in block["content"] if isinstance(t, dict) and isinstance(t.get("logprob"), (int, float))
        ]
    values = block.get("token_logprobs")  # legacy completions format
    return [float(v) for v in values if isinstance(v, (int, float))] if isinstance(values, list) else []


def judge(answer: Answer, request: dict[str, Any], spec: CascadeSpec, *, complete: bool = True) -> Verdict:
    """Weak or not; with complete=False (a streaming window) only the signals a prefix can show count."""
    mean = sum(answer.logprobs) / len(answer.logprobs) if answer.logprobs else None
    if complete and spec.escalate_on_length and answer.finish_reason == "length":
        return Verdict(True, "length", mean)
    if spec.escalate_on_refusal:
        if complete and not answer.text.strip() and not answer.tool_calls:
            return Verdict(True, "empty", mean)
        if any(re.search(p, answer.text[:500], re.IGNORECASE) for p in spec.refusal_patterns):
            return Verdict(True, "refusal", mean)
    if mean is not None and mean < spec.min_mean_logprob:
        return Verdict(True, "logprob", mean)
    if answer.tool_calls and not _tool_calls_ok(answer.tool_calls, request, complete):
        return Verdict(True, "tool_calls", mean)
    fmt = request.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema") and not answer.tool_calls:
        reason = _json_problem(answer.text, fmt, complete)
        if reason:
            return Verdict(True, reason, mean)
    return Verdict(False, "ok", mean)


def _tool_calls_ok(calls: list[dict[str, Any]], request: dict[str, Any], complete: bool) -> bool:
    names = {
        t["function"].get("name")
        for t in request.get("tools") or []
        if isinstance(t, dict) and isinstance(t.get("function"), dict)
    }
    for call in calls:
        fn = call.get("function") or {}
        if complete and fn.get("name") not in names:
            return False
        if complete:
            try:
                if not isinstance(orjson.loads(fn.get("arguments") or ""), dict):
                    return False
            except orjson.JSONDecodeError:
                return False
    return True


def _json_problem(text: str, fmt: dict[str, Any], complete: bool) -> str | None:
    stripped = text.strip()
    if not complete:
        return "json" if stripped and stripped[0] not in "{[" else None
    try:
        value = orjson.loads(stripped)
    except orjson.JSONDecodeError:
        return "json"
    schema = (fmt.get("json_schema") or {}).get("schema") if fmt.get("type") == "json_schema" else None
    if isinstance(schema, dict):
        import jsonschema

        try:
            jsonschema.validate(value, schema)
        except jsonschema.ValidationError:
            return "schema"
        except jsonschema.SchemaError:
            return None  # the caller's schema is broken; not the SLM's fault
    return None
