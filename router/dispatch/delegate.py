"""strategy: delegate. An LLM core plans and answers; the route's experts are offered to it as function
tools ask_<kind>, and the gateway runs the calls the core makes on them.

    turn 1..max_steps:  core(messages + caller's tools + ask_* tools)
        no tool call, or a call of the caller's own tools  -> that turn is the answer (ask_* calls removed)
        only ask_* calls                                  -> run them (in parallel), feed the answers back
    the last step offers no ask_* tools, so the core must answer; so does a spent cost limit

Streams: every core turn is opened as a stream and read until it shows what it is. A turn whose first
sign is text is the final one and is relayed to the client as it arrives; a turn with tool-call deltas
is read whole and its calls run. A tool turn that also calls the caller's tools goes to the client with
the ask_* deltas removed. The engine knows neither HTTP nor accounting: the pipeline passes it the
callables that call the core and an expert and that account each sub-call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from router.dispatch.outcome import Answered, Opened
from router.dispatch.sse import EventSplitter, encode_event, parse_event
from router.errors import BadRequest, RouterError, UpstreamError
from router.policy.schema import RouteSpec

PREFIX = "ask_"
QUESTION_SCHEMA = {
    "type": "object",
    "properties": {"question": {"type": "string", "description": "the whole task for the expert, self-contained"}},
    "required": ["question"],
}
MAX_QUESTION_CHARS = 32_000
MAX_CALLS_PER_TURN = 8  # a core (steered by a hostile prompt) asking for 100 experts at once gets 8 answers


@dataclass(slots=True)
class ExpertAnswer:
    """What one ask_* call returned to the core (an error is told to the core as text, not raised)."""

    kind: str
    call_id: str
    text: str
    cost_usd: float = 0.0


@dataclass(slots=True)
class Final:
    """The turn that goes to the client: a plain reply, or a committed stream with the chunks read ahead."""

    plain: Answered | None = None
    body: bytes | None = None  # the plain reply's body, rewritten when ask_* calls were removed
    stream: Opened | None = None
    held: list[bytes] = field(default_factory=list)
    delegations: int = 0
    steps: int = 0


CallCore = Callable[[dict[str, Any]], Awaitable[Answered]]
OpenCore = Callable[[dict[str, Any]], Awaitable[Opened]]
AskExpert = Callable[[str, str, str], Awaitable[ExpertAnswer]]  # kind, call id, question
CoreTurnDone = Callable[[Answered | Opened, dict[str, Any]], float]  # accounts a non-final turn, returns its cost


def expert_tools(route: RouteSpec) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {
                "name": PREFIX + kind,
                "description": expert.description or f"ask the {kind} expert",
                "parameters": QUESTION_SCHEMA,
            },
        }
        for kind, expert in route.experts.items()
    ]


def check_caller_tools(body: dict[str, Any], route: RouteSpec) -> None:
    """A caller's tool may not take an expert's name: the gateway would run it instead of returning it."""
    ours = {PREFIX + kind for kind in route.experts}
    for tool in body.get("tools") or ():
        name = tool.get("function", {}).get("name") if isinstance(tool, dict) else None
        if name in ours:
            raise BadRequest(f"tool name {name!r} is reserved for the route's experts", param="tools")


def question_of(arguments: Any) -> str | None:
    try:
        args = orjson.loads(arguments) if isinstance(arguments, str | bytes) else arguments
    except orjson.JSONDecodeError:
        return None
    question = args.get("question") if isinstance(args, dict) else None
    return question[:MAX_QUESTION_CHARS] if isinstance(question, str) and question.strip() else None


class Delegation:
    """One request's run of the core and its experts."""

    def __init__(
        self, route: RouteSpec, body: dict[str, Any], ask: AskExpert, turn_done: CoreTurnDone, max_cost_usd: float | None
    ) -> None:
        self.route = route
        self.body = body
        self.ask = ask
        self.turn_done = turn_done
        self.max_cost_usd = max_cost_usd
        self.kinds = {PREFIX + kind: kind for kind in route.experts}
        self.messages: list[Any] = list(body.get("messages") or [])
        self.spent = 0.0
        self.delegations = 0

    def turn_body(self, step: int, stream: bool) -> dict[str, Any]:
        offer = step < self.route.max_steps - 1 and (self.max_cost_usd is None or self.spent < self.max_cost_usd)
        tools = list(self.body.get("tools") or []) + (expert_tools(self.route) if offer else [])
        turn = {k: v for k, v in self.body.items() if k not in ("tools", "tool_choice", "stream", "stream_options")}
        turn["messages"] = self.messages
        if tools:
            turn["tools"] = tools
            if self.body.get("tool_choice") is not None and self.body.get("tools"):
                turn["tool_choice"] = self.body["tool_choice"]
        if stream:
            turn["stream"] = True
            if self.body.get("stream_options") is not None:
                turn["stream_options"] = self.body["stream_options"]
        return turn

    def split(self, calls: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(ask_* calls, the caller's own calls)."""
        ours = [c for c in calls if c.get("function", {}).get("name") in self.kinds]
        return ours, [c for c in calls if c not in ours]

    async def run_calls(self, content: Any, calls: list[dict[str, Any]]) -> None:
        """Run the ask_* calls in parallel and append the turn and the answers to the conversation."""
        jobs: list[Awaitable[ExpertAnswer]] = []
        for i, call in enumerate(calls):
            kind = self.kinds[call["function"]["name"]]
            question = question_of(call["function"].get("arguments"))
            if i >= MAX_CALLS_PER_TURN:
                jobs.append(_said(ExpertAnswer(kind, call["id"], f"error: at most {MAX_CALLS_PER_TURN} expert calls per turn")))
            elif question is None:
                jobs.append(_said(ExpertAnswer(kind, call["id"], 'error: call with {"question": "..."}')))
            else:
                jobs.append(self.ask(kind, call["id"], question))
        answers = await asyncio.gather(*jobs)
        self.delegations += sum(1 for c in calls[:MAX_CALLS_PER_TURN] if question_of(c["function"].get("arguments")) is not None)
        self.spent += sum(a.cost_usd for a in answers)
        self.messages.append({"role": "assistant", "content": content, "tool_calls": calls})
        self.messages.extend({"role": "tool", "tool_call_id": a.call_id, "content": a.text} for a in answers)

    async def plain(self, call_core: CallCore) -> Final:
        for step in range(self.route.max_steps):
            outcome = await call_core(self.turn_body(step, stream=False))
            message = _message(outcome.reply.data)
            calls = [c for c in message.get("tool_calls") or [] if isinstance(c, dict)]
            ours, theirs = self.split(calls)
            if not ours:
                return Final(plain=outcome, body=outcome.reply.body, delegations=self.delegations, steps=step + 1)
            if theirs or step == self.route.max_steps - 1:
                return Final(
                    plain=outcome, body=_without(outcome.reply.data, theirs), delegations=self.delegations, steps=step + 1
                )
            self.spent += self.turn_done(outcome, outcome.reply.data)
            await self.run_calls(message.get("content"), ours)
        raise UpstreamError("the core model kept delegating past max_steps")  # unreachable: the last step returns

    async def stream(self, open_core: OpenCore) -> Final:
        for step in range(self.route.max_steps):
            outcome = await open_core(self.turn_body(step, stream=True))
            held, turn = await _read_turn(outcome)
            if turn is None:  # text first: the final answer, relayed as it comes
                return Final(stream=outcome, held=held, delegations=self.delegations, steps=step + 1)
            ours, theirs = self.split(turn.calls())
            if not ours or theirs or step == self.route.max_steps - 1:
                names = {c["function"]["name"] for c in ours}
                return Final(stream=outcome, held=_drop_calls(held, turn, names), delegations=self.delegations, steps=step + 1)
            await outcome.stream.aclose()
            self.spent += self.turn_done(outcome, turn.as_reply())
            await self.run_calls(turn.content or None, ours)
        raise UpstreamError("the core model kept delegating past max_steps")


async def _said(answer: ExpertAnswer) -> ExpertAnswer:
    return answer


def _message(data: dict[str, Any]) -> dict[str, Any]:
    choices = data.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        message = choices[0].get("message")
        if isinstance(message, dict):
            return message
    raise UpstreamError("the core model answered without a message")


def _without(data: dict[str, Any], keep: list[dict[str, Any]]) -> bytes:
    """The reply with only the caller's own tool calls left (ask_* calls are the gateway's business)."""
    message = _message(data)
    message["tool_calls"] = keep or None
    if not keep:
        message.pop("tool_calls")
        data["choices"][0]["finish_reason"] = "stop"
    return orjson.dumps(data)


@dataclass(slots=True)
class _StreamedTurn:
    """Tool calls and text gathered from a streamed turn's deltas."""

    content: str = ""
    parts: dict[int, dict[str, Any]] = field(default_factory=dict)  # index -> {id, name, arguments}
    usage: dict[str, Any] | None = None

    def add(self, event: dict[str, Any]) -> None:
        if isinstance(event.get("usage"), dict):
            self.usage = event["usage"]
        for choice in event.get("choices") or ():
            delta = choice.get("delta") or {} if isinstance(choice, dict) else {}
            if isinstance(delta.get("content"), str):
                self.content += delta["content"]
            for call in delta.get("tool_calls") or ():
                part = self.parts.setdefault(int(call.get("index", 0)), {"id": "", "name": "", "arguments": ""})
                function = call.get("function") or {}
                part["id"] = call.get("id") or part["id"]
                part["name"] += function.get("name") or ""
                part["arguments"] += function.get("arguments") or ""

    def calls(self) -> list[dict[str, Any]]:
        return [
            {"id": p["id"] or f"call_{i}", "type": "function", "function": {"name": p["name"], "arguments": p["arguments"]}}
            for i, p in sorted(self.parts.items())
        ]

    def as_reply(self) -> dict[str, Any]:
        message = {"role": "assistant", "content": self.content or None, "tool_calls": self.calls()}
        data: dict[str, Any] = {"choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]}
        if self.usage is not None:
            data["usage"] = self.usage
        return data


async def _read_turn(outcome: Opened) -> tuple[list[bytes], _StreamedTurn | None]:
    """Read until the turn shows text (None: the final answer) or tool calls (read whole, returned)."""
    splitter, turn, held = EventSplitter(), _StreamedTurn(), []
    chunk: bytes | None = outcome.first
    while chunk is not None:
        held.append(chunk)
        for payload in splitter.feed(chunk):
            event = parse_event(payload)
            if event is None:
                continue
            if "error" in event:
                raise UpstreamError("the core model failed mid-turn")
            turn.add(event)
        if turn.content and not turn.parts:
            return held, None
        try:
            chunk = await anext(outcome.chunks)
        except StopAsyncIteration:
            chunk = None
        except RouterError:
            raise
    return held, (turn if turn.parts else None)


def _drop_calls(held: list[bytes], turn: _StreamedTurn, names: set[str]) -> list[bytes]:
    """The held turn re-encoded without the deltas of ask_* calls."""
    drop = {i for i, p in turn.parts.items() if p["name"] in names}
    if not drop:
        return held
    out = []
    for payload in EventSplitter().feed(b"".join(held) + b"\n\n"):
        event = parse_event(payload)
        if event is None:
            out.append(b"data: " + payload + b"\n\n")
            continue
        for choice in event.get("choices") or ():
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict) and delta.get("tool_calls"):
                delta["tool_calls"] = [c for c in delta["tool_calls"] if int(c.get("index", 0)) not in drop]
                if not delta["tool_calls"]:
                    delta.pop("tool_calls")
        out.append(encode_event(event))
    return out
