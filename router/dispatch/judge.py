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


MAX_TOOL_CALLS = 128  # a streamed tool call's index beyond this is garbage, not a reason to allocate


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _first_choice(data: dict[str, Any]) -> dict[str, Any] | None:
    choices = _list(data.get("choices"))
    return choices[0] if choices and isinstance(choices[0], dict) else None


def answer_from_reply(data: dict[str, Any]) -> Answer:
    """Whatever shape the upstream's JSON has, this never raises: missing or mistyped parts read as empty."""
    choice = _first_choice(data) or {}
    message = _dict(choice.get("message"))
    answer = Answer(finish_reason=_str_or_none(choice.get("finish_reason")))
    answer.text = str(message.get("content") or choice.get("text") or "")
    answer.tool_calls = [c for c in _list(message.get("tool_calls")) if isinstance(c, dict)]
    answer.logprobs = _logprobs(choice.get("logprobs"))
    return answer


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def add_chunk(answer: Answer, event: dict[str, Any]) -> None:
    """Fold one streamed chunk into the answer (first choice only); never raises on a malformed event."""
    choice = _first_choice(event)
    if choice is None:
        return
    delta = _dict(choice.get("delta"))
    answer.text += str(delta.get("content") or choice.get("text") or "")
    for call in _list(delta.get("tool_calls")):
        if not isinstance(call, dict):
            continue
        index = call.get("index", len(answer.tool_calls))
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < MAX_TOOL_CALLS:
            continue
        while len(answer.tool_calls) <= index:
            answer.tool_calls.append({"function": {"name": "", "arguments": ""}})
        fn, part = answer.tool_calls[index]["function"], _dict(call.get("function"))
        fn["name"] += str(part.get("name") or "")
        fn["arguments"] += str(part.get("arguments") or "")
    answer.logprobs.extend(_logprobs(choice.get("logprobs")))
    finish = _str_or_none(choice.get("finish_reason"))
    if finish:
        answer.finish_reason = finish


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
        for t in _list(request.get("tools"))
        if isinstance(t, dict) and isinstance(t.get("function"), dict) and isinstance(t["function"].get("name"), str)
    }
    for call in calls:
        fn = _dict(call.get("function"))
        name, arguments = fn.get("name"), fn.get("arguments") or ""
        if complete and (not isinstance(name, str) or name not in names):
            return False
        if complete:
            try:
                if not isinstance(arguments, str) or not isinstance(orjson.loads(arguments), dict):
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
    schema = _dict(fmt.get("json_schema")).get("schema") if fmt.get("type") == "json_schema" else None
    if isinstance(schema, dict):
        import jsonschema

        try:
            jsonschema.validate(value, schema)
        except jsonschema.ValidationError:
            return "schema"
        except jsonschema.SchemaError:
            return None  # the caller's schema is broken; not the SLM's fault
    return None
