"""The one mapping from an error to HTTP: status, headers and the OpenAI (or Anthropic) body; 5xx text
scrubbed of what a caller must not see."""

from __future__ import annotations

import orjson

from router.errors import (
    NotFound,
    UpstreamError,
    anthropic_error_parts,
    error_parts,
    internal_error,
    shutting_down,
)


def test_an_error_becomes_its_status_headers_and_openai_body() -> None:
    status, headers, body = error_parts(NotFound("no such model", param="model"), {"x-request-id": "rid"})
    assert (status, headers["x-request-id"], headers["content-type"]) == (404, "rid", "application/json")
    assert orjson.loads(body) == {
        "error": {"message": "no such model", "type": "invalid_request_error", "param": "model", "code": "model_not_found"}
    }


def test_draining_and_internal_faults_say_the_same_on_every_endpoint() -> None:
    status, headers, _ = error_parts(shutting_down())
    assert (status, headers["retry-after"]) == (503, "1")
    status, _, body = error_parts(internal_error())
    assert status == 500 and orjson.loads(body)["error"]["message"] == "internal error in the gateway"


def test_a_5xx_message_is_scrubbed_in_either_shape() -> None:
    leak = UpstreamError("failed at http://10.0.0.5:8000/v1 with Bearer sk-abcdefghijkl in /srv/app/key.py")
    for render in (error_parts, anthropic_error_parts):
        _, _, body = render(leak, None)
        text = body.decode()
        assert "10.0.0.5" not in text and "sk-abcdefghijkl" not in text and "/srv/app" not in text
    _, headers, body = anthropic_error_parts(NotFound("gone"), {"x-request-id": "rid"})
    assert headers["request-id"] == "rid" and orjson.loads(body)["error"]["type"] == "not_found_error"
