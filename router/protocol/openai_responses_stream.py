"""A chat-completions stream as the Responses API's semantic events.

    response.created, response.in_progress
    per text answer:  response.output_item.added (message), response.content_part.added,
                      response.output_text.delta ..., response.output_text.done,
                      response.content_part.done, response.output_item.done
    per tool call:    response.output_item.added (function_call), response.function_call_arguments.delta ...,
                      response.function_call_arguments.done, response.output_item.done
    response.completed (or response.incomplete at max_output_tokens), with output and usage;
    an error mid-stream: error, then response.failed.

Every event carries a sequence_number. Feed the chat stream's raw bytes in any chunking; `close` ends
the stream as the chat stream ended. The finished response object is `response` afterwards.
"""

from __future__ import annotations

from typing import Any

from router.dispatch.sse import EventSplitter, parse_event
from router.protocol import openai_responses as rp
from router.upstream.passing import dumps, loads

DELTA_HEAD = b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":'
DELTA_TAIL = b',"logprobs":[]}\n\n'


def encode(event: dict[str, Any]) -> bytes:
    return b"event: " + str(event["type"]).encode() + b"\ndata: " + dumps(event) + b"\n\n"


def _lenient(payload: bytes) -> dict[str, Any] | None:
    try:
        event = loads(payload)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


class ChatToResponseEvents:
    def __init__(self, body: dict[str, Any], rid: str, model: str) -> None:
        self.response = rp.shell(body, rid, model)
        self.done = False
        self._seq = 0
        self._splitter = EventSplitter()
        self._out: list[bytes] = []
        self._text: tuple[int, dict[str, Any], list[str]] | None = None  # output index, item, pieces
        self._call: tuple[int, dict[str, Any], list[str]] | None = None
        self._call_index: Any = None  # the chat tool_calls index being streamed
        self._finish: Any = None
        self._usage: Any = None
        self._delta_ids = b""
        self._split = False

    def _emit(self, kind: str, **fields: Any) -> None:
        self._out.append(encode({"type": kind, "sequence_number": self._seq, **fields}))
        self._seq += 1

    def _take(self) -> bytes:
        out, self._out = b"".join(self._out), []
        return out

    def start(self) -> bytes:
        self._emit("response.created", response=dict(self.response))
        self._emit("response.in_progress", response=dict(self.response))
        return self._take()

    def _payloads(self, chunk: bytes) -> list[bytes]:
        if not self._split and chunk.startswith(b"data: ") and chunk.endswith(b"\n\n") and chunk.count(b"\n") == 2:
            return [chunk[6:-2]]  # the usual chunk: one whole event
        self._split = True  # from here on the general splitter, which keeps partial events
        return self._splitter.feed(chunk)

    def feed(self, chunk: bytes) -> bytes:
        for payload in self._payloads(chunk):
            if self.done:
                break
            if payload == b"[DONE]":
                self._complete()
                continue
            event = parse_event(payload) or _lenient(payload)
            if event is None:
                continue
            if isinstance(event.get("error"), dict):
                self._fail(event["error"])
                continue
            self._chunk(event)
        return self._take()

    def close(self) -> bytes:
        """The chat stream ended: finish the response if [DONE] never came."""
        if not self.done:
            self._complete()
        return self._take()

    def _chunk(self, event: dict[str, Any]) -> None:
        usage = event.get("usage")
        if usage:
            self._usage = usage
        choices = event.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        if not isinstance(choice, dict) or choice.get("index", 0) != 0:  # the Responses API has one answer
            return
        delta = choice.get("delta")
        if isinstance(delta, dict):
            content = delta.get("content")
            if content:
                self._text_delta(str(content))
            for call in delta.get("tool_calls") or ():
                if isinstance(call, dict):
                    self._call_delta(call)
        finish = choice.get("finish_reason")
        if finish:
            self._finish = finish

    def _text_delta(self, piece: str) -> None:
        if self._text is None:
            self._close_call()
            index = len(self.response["output"])
            item = rp.message_item("", "in_progress")
            item["content"] = []
            self.response["output"].append(item)
            self._text = (index, item, [])
            self._delta_ids = b',"item_id":%s,"output_index":%d,"content_index":0,"delta":' % (dumps(item["id"]), index)
            self._emit("response.output_item.added", output_index=index, item=dict(item, content=[]))
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            self._emit("response.content_part.added", item_id=item["id"], output_index=index, content_index=0, part=part)
        index, item, pieces = self._text
        pieces.append(piece)
        self._emit(
            "response.output_text.delta", item_id=item["id"], output_index=index, content_index=0, delta=piece, logprobs=[]
        )

    def _close_text(self) -> None:
        if self._text is None:
            return
        index, item, pieces = self._text
        self._text = None
        text = "".join(pieces)
        part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        self._emit("response.output_text.done", item_id=item["id"], output_index=index, content_index=0, text=text, logprobs=[])
        self._emit("response.content_part.done", item_id=item["id"], output_index=index, content_index=0, part=part)
        item.update(status="completed", content=[part])
        self._emit("response.output_item.done", output_index=index, item=item)

    def _call_delta(self, call: dict[str, Any]) -> None:
        fn = call.get("function") or {}
        if self._call is None or call.get("index", self._call_index) != self._call_index:
            self._close_text()
            self._close_call()
            self._call_index = call.get("index")
            index = len(self.response["output"])
            item = rp.call_item(str(call.get("id") or rp.new_id("call")), str(fn.get("name") or ""), "", "in_progress")
            self.response["output"].append(item)
            self._call = (index, item, [])
            self._emit("response.output_item.added", output_index=index, item=dict(item))
        index, item, pieces = self._call
        if fn.get("name") and not item["name"]:
            item["name"] = str(fn["name"])
        if fn.get("arguments"):
            pieces.append(str(fn["arguments"]))
            self._emit(
                "response.function_call_arguments.delta", item_id=item["id"], output_index=index, delta=str(fn["arguments"])
            )

    def _close_call(self) -> None:
        if self._call is None:
            return
        index, item, pieces = self._call
        self._call = None
        item.update(arguments="".join(pieces), status="completed")
        self._emit("response.function_call_arguments.done", item_id=item["id"], output_index=index, arguments=item["arguments"])
        self._emit("response.output_item.done", output_index=index, item=item)

    def _complete(self) -> None:
        self._close_text()
        self._close_call()
        self.done = True
        self.response["usage"] = rp.usage(self._usage)
        rp.finish(self.response, self._finish)
        kind = "response.incomplete" if self.response["status"] == "incomplete" else "response.completed"
        self._emit(kind, response=self.response)

    def _fail(self, error: dict[str, Any]) -> None:
        self.done = True
        message = str(error.get("message") or "")
        self._emit("error", code=error.get("code"), message=message, param=error.get("param"))
        code = "rate_limit_exceeded" if error.get("code") == "rate_limit_exceeded" else "server_error"  # OpenAI's codes
        self.response.update(status="failed", error={"code": code, "message": message})
        self._emit("response.failed", response=self.response)
