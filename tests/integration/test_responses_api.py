"""POST /v1/responses with the official openai client: translated for chat-only upstreams, passed through
to upstreams that declare `apis: [responses]`, conversations continued through the store (memory, and
Redis shared by two replicas)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from pydantic import BaseModel

from tests.support.procs import Gateway, Upstream, start_gateway, two_tier_policy
from tests.support.redis_server import REDIS_SERVER, RedisServer

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "the weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def policy(slm: Upstream, llm: Upstream) -> str:
    p = json.loads(two_tier_policy(slm.base_url, llm.base_url))
    p["models"]["hosted-llm"]["capabilities"] = {"vision": True}
    p["models"]["native-llm"] = {
        "tier": "llm",
        "endpoint": {"base_url": llm.base_url, "model": "gpt-4.1", "apis": ["chat", "responses"]},
        "timeouts": {"connect": 2, "first_token": 5, "idle": 2, "total": 20},
    }
    p["routes"]["native"] = {"strategy": "fixed", "models": ["native-llm"]}
    return json.dumps(p)


@pytest.fixture(scope="module")
def rgw(slm: Upstream, llm: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = start_gateway(policy(slm, llm), tmp_path_factory.mktemp("responses"))
    yield gw
    gw.stop()


def client(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key="not-needed", max_retries=0)


def test_plain_string_input_is_translated_to_chat(rgw: Gateway, slm: Upstream) -> None:
    raw = client(rgw).responses.with_raw_response.create(model="auto", input="hi, how are you?", instructions="Be brief.")
    response = raw.parse()
    assert response.output_text == "[slm] you said: hi, how are you?"
    assert response.status == "completed" and response.object == "response" and response.id.startswith("resp_")
    assert response.model == "auto"  # what the client may send back, not the upstream's id
    assert response.output[0].type == "message" and response.output[0].role == "assistant"
    assert response.usage is not None and response.usage.output_tokens == 7
    assert response.usage.total_tokens == response.usage.input_tokens + 7
    assert raw.headers["x-router-model"] == "local-slm" and raw.headers["x-router-route"] == "auto"
    sent = slm.received()[-1]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["body"]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi, how are you?"},
    ]
    assert "input" not in sent["body"] and "instructions" not in sent["body"]


def test_items_with_an_image_and_max_output_tokens(rgw: Gateway, llm: Upstream) -> None:
    image = "data:image/png;base64," + "iVBORw0KGgo" * 10
    response = client(rgw).responses.create(
        model="auto",
        input=[
            {"role": "developer", "content": "You describe images."},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "what is in this picture"},
                    {"type": "input_image", "image_url": image},
                ],
            },
        ],
        max_output_tokens=3,
    )
    assert response.status == "incomplete" and response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    sent = llm.received()[-1]["body"]  # only the LLM tier declares vision
    assert sent["max_tokens"] == 3
    assert sent["messages"][0] == {"role": "system", "content": "You describe images."}
    assert sent["messages"][1]["content"][1] == {"type": "image_url", "image_url": {"url": image, "detail": "auto"}}


def test_function_tools_and_their_outputs(rgw: Gateway, llm: Upstream) -> None:
    llm.control(tool_calls=[{"name": "get_weather", "arguments": '{"city": "Paris"}'}])
    c = client(rgw)
    first = c.responses.create(
        model="gpt-4o", input="weather in Paris?", tools=[WEATHER], tool_choice={"type": "function", "name": "get_weather"}
    )
    call = first.output[0]
    assert call.type == "function_call" and call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    sent = llm.received()[-1]["body"]
    assert sent["tools"] == [{"type": "function", "function": {k: v for k, v in WEATHER.items() if k != "type"}}]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    llm.control(reply="It is sunny.")
    second = c.responses.create(
        model="gpt-4o",
        input=[
            {"role": "user", "content": "weather in Paris?"},
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 24 C"},
        ],
        tools=[WEATHER],
    )
    assert second.output_text == "It is sunny."
    messages = llm.received()[-1]["body"]["messages"]
    assert messages[1]["role"] == "assistant" and messages[1]["tool_calls"][0]["id"] == call.call_id
    assert messages[2] == {"role": "tool", "tool_call_id": call.call_id, "content": "sunny, 24 C"}


def test_streaming_emits_the_semantic_events(rgw: Gateway) -> None:
    events = list(client(rgw).responses.create(model="small", input="tell me a story", stream=True))
    kinds = [e.type for e in events]
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "[slm] you said: tell me a story"
    done = events[-1].response
    assert done.output_text == text and done.model == "small" and done.usage is not None and done.usage.output_tokens == 7


def test_streamed_tool_call_arguments(rgw: Gateway, llm: Upstream) -> None:
    llm.control(tool_calls=[{"name": "get_weather", "arguments": '{"city": "Oslo"}'}])
    with client(rgw).responses.stream(model="gpt-4o", input="weather in Oslo?", tools=[WEATHER]) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert "response.function_call_arguments.delta" in kinds and "response.function_call_arguments.done" in kinds
    deltas = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert deltas == '{"city": "Oslo"}'
    call = final.output[0]
    assert call.type == "function_call" and call.name == "get_weather" and call.arguments == '{"city": "Oslo"}'
    assert call.call_id == "call_0"


class Answer(BaseModel):
    city: str
    temperature: int


def test_structured_output_json_schema(rgw: Gateway, llm: Upstream) -> None:
    llm.control(reply='{"city": "Rome", "temperature": 30}')
    parsed = client(rgw).responses.parse(model="gpt-4o", input="weather in Rome as JSON", text_format=Answer)
    assert parsed.output_parsed == Answer(city="Rome", temperature=30)
    fmt = llm.received()[-1]["body"]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "Answer" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["properties"]["temperature"] == {"title": "Temperature", "type": "integer"}


def test_previous_response_id_continues_the_conversation(rgw: Gateway, slm: Upstream) -> None:
    c = client(rgw)
    first = c.responses.create(model="small", input="my name is Ada", instructions="first instructions")
    second = c.responses.create(model="small", input="what is my name?", previous_response_id=first.id)
    assert second.previous_response_id == first.id
    messages = slm.received()[-1]["body"]["messages"]
    assert messages == [  # instructions are not carried over, as on OpenAI
        {"role": "user", "content": "my name is Ada"},
        {"role": "assistant", "content": "[slm] you said: my name is Ada"},
        {"role": "user", "content": "what is my name?"},
    ]
    streamed = list(c.responses.create(model="small", input="and again?", previous_response_id=second.id, stream=True))
    third = streamed[-1].response
    assert len(slm.received()[-1]["body"]["messages"]) == 5
    c.responses.create(model="small", input="one more", previous_response_id=third.id)  # a streamed answer is stored too
    assert len(slm.received()[-1]["body"]["messages"]) == 7


def test_unknown_or_unstored_previous_response_is_refused(rgw: Gateway) -> None:
    c = client(rgw)
    with pytest.raises(openai.BadRequestError) as err:
        c.responses.create(model="small", input="x", previous_response_id="resp_nope")
    body = err.value.body
    assert isinstance(body, dict) and body["code"] == "previous_response_not_found" and body["param"] == "previous_response_id"
    unstored = c.responses.create(model="small", input="forget me", store=False)
    with pytest.raises(openai.BadRequestError):
        c.responses.create(model="small", input="x", previous_response_id=unstored.id)


def test_bad_requests_get_openai_errors(rgw: Gateway) -> None:
    cases = [
        ({"model": "small"}, "input"),
        ({"model": "small", "input": 3}, "input"),
        ({"model": "small", "input": "x", "tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"model": "small", "input": [{"type": "computer_call"}]}, "input[0].type"),
        ({"model": "small", "input": "x", "max_output_tokens": 0}, "max_output_tokens"),
        ({"model": "small", "input": []}, "input"),
    ]
    for body, param in cases:
        r = httpx.post(rgw.base_url + "/responses", json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["param"] == param
    r = httpx.post(rgw.base_url + "/responses", json={"model": "nope", "input": "x"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"


def test_native_upstream_gets_the_responses_request(rgw: Gateway, llm: Upstream) -> None:
    c = client(rgw)
    raw = c.responses.with_raw_response.create(model="native", input="hello there", instructions="be kind")
    first = raw.parse()
    assert first.output_text == "[llm] native: hello there" and first.model == "native"
    assert raw.headers["x-router-model"] == "native-llm"
    got = llm.received()[-1]
    assert got["path"] == "/v1/responses"
    assert got["body"] == {"model": "gpt-4.1", "input": "hello there", "instructions": "be kind"}
    second = c.responses.create(model="native", input="and you?", previous_response_id=first.id)
    sent = llm.received()[-1]["body"]
    assert "previous_response_id" not in sent  # the gateway holds the history and sends it whole
    assert [i.get("role") for i in sent["input"]] == ["user", "assistant", "user"]
    assert sent["input"][1]["content"][0]["text"] == "[llm] native: hello there"
    events = list(c.responses.create(model="native", input="stream it", previous_response_id=second.id, stream=True))
    assert events[-1].type == "response.completed" and events[-1].response.model == "native"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "[llm] native: stream it"
    c.responses.create(model="native", input="last", previous_response_id=events[-1].response.id)
    assert len(llm.received()[-1]["body"]["input"]) == 7


def test_chat_routes_still_translate_on_a_native_model(rgw: Gateway, llm: Upstream) -> None:
    """The flag adds an API; chat clients of the same model are unaffected."""
    c = client(rgw)
    chat = c.chat.completions.create(model="native", messages=[{"role": "user", "content": "hi"}])
    assert chat.model == "native" and llm.received()[-1]["path"] == "/v1/chat/completions"


@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")
def test_a_conversation_continues_on_another_replica(slm: Upstream, llm: Upstream, tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    redis = RedisServer(tmp_path / "r").start()
    args = ["--redis-url", redis.url]
    a = start_gateway(policy(slm, llm), tmp_path / "a", args=args)
    b = start_gateway(policy(slm, llm), tmp_path / "b", args=args)
    try:
        first = client(a).responses.create(model="small", input="remember 42")
        second = client(b).responses.create(model="small", input="what number?", previous_response_id=first.id)
        assert [m["content"] for m in slm.received()[-1]["body"]["messages"]] == [
            "remember 42",
            "[slm] you said: remember 42",
            "what number?",
        ]
        streamed = list(client(a).responses.create(model="small", input="again", previous_response_id=second.id, stream=True))
        assert streamed[-1].type == "response.completed"
        assert len(slm.received()[-1]["body"]["messages"]) == 5
    finally:
        a.stop()
        b.stop()
        redis.stop()


def test_tenants_cannot_continue_each_others_responses(slm: Upstream, llm: Upstream, tmp_path: Path) -> None:
    p = json.loads(policy(slm, llm))
    p["tenants"] = {"a": {"api_keys": ["sk-a"]}, "b": {"api_keys": ["sk-b"]}}
    gw = start_gateway(json.dumps(p), tmp_path)
    try:
        mine = openai.OpenAI(base_url=gw.base_url, api_key="sk-a", max_retries=0)
        theirs = openai.OpenAI(base_url=gw.base_url, api_key="sk-b", max_retries=0)
        first = mine.responses.create(model="small", input="secret plans")
        with pytest.raises(openai.BadRequestError):
            theirs.responses.create(model="small", input="what were the plans?", previous_response_id=first.id)
        assert mine.responses.create(model="small", input="go on", previous_response_id=first.id).status == "completed"
    finally:
        gw.stop()


def test_a_conversation_counts_whole_against_the_size_limit(slm: Upstream, llm: Upstream, tmp_path: Path) -> None:
    """Each turn sends the whole history upstream: a conversation over max_body_bytes is refused, not grown."""
    p = json.loads(policy(slm, llm))
    p["server"]["max_body_bytes"] = 4000
    gw = start_gateway(json.dumps(p), tmp_path)
    try:
        c = client(gw)
        first = c.responses.create(model="small", input="x" * 1500)
        second = c.responses.create(model="small", input="y" * 1500, previous_response_id=first.id)
        with pytest.raises(openai.APIStatusError) as err:
            c.responses.create(model="small", input="z", previous_response_id=second.id)
        assert err.value.status_code == 413
    finally:
        gw.stop()


def test_framing_headers_cannot_be_forwarded(tmp_path: Path) -> None:
    from tests.support.procs import run_router

    bad = {"version": 1, "models": {"m": {"endpoint": {"base_url": "http://127.0.0.1:1/v1", "model": "m"}}}}
    bad["server"] = {"forward_headers": ["x-team", "Transfer-Encoding"]}
    path = tmp_path / "p.yaml"
    path.write_text(json.dumps(bad))
    result = run_router("policy", "validate", str(path))
    assert result.returncode == 1 and "transfer-encoding" in result.stdout.lower() + result.stderr.lower()
