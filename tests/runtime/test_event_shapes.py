"""The handler never raises and never answers 500 for what a client or a misconfigured integration sent.

Lambda documents two HTTP event shapes (payload 2.0: Function URLs and HTTP APIs; 1.0: REST APIs). AWS sends
them well formed, but an integration configured by hand, a test harness or a fuzzer can send anything; and
clients can put anything into the parts AWS passes through (headers, paths, bodies, ids). Every field of
both shapes is replaced, in turn, by values of every JSON type; header names and values, paths and tokens
get characters HTTP cannot carry; JSON-RPC ids get every type JSON-RPC forbids. Each answer must be a Lambda
response with a JSON-RPC error body: 400 for a malformed event or request, never a traceback, never a 500.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.runtime.lambda_events import EVENT_SHAPES, FakeContext, response_json, v2_event

LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
LEGACY = {"mcp-protocol-version": "2025-11-25"}
WRONG_TYPES: dict[str, Any] = {
    "null": None, "int": 7, "float": 1.5, "bool": True, "string": "x", "list": [], "list-of-int": [1],
    "object": {}, "object-of-int": {"a": 1}, "surrogate": "\ud800",
}
# The fields of each shape a handler reads, as paths into the event.
FIELDS = {
    "payload-2.0": [("version",), ("rawPath",), ("rawQueryString",), ("headers",), ("cookies",), ("body",),
                    ("isBase64Encoded",), ("requestContext",), ("requestContext", "http"),
                    ("requestContext", "http", "method"), ("requestContext", "http", "sourceIp"),
                    ("requestContext", "domainName"), ("requestContext", "requestId")],
    "payload-1.0": [("httpMethod",), ("path",), ("headers",), ("multiValueHeaders",), ("queryStringParameters",),
                    ("multiValueQueryStringParameters",), ("body",), ("isBase64Encoded",), ("requestContext",),
                    ("requestContext", "identity"), ("requestContext", "identity", "sourceIp"),
                    ("requestContext", "domainName")],
}


def mutated(event: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(event)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


def cases() -> Iterator[tuple[str, dict[str, Any]]]:
    for shape, build in EVENT_SHAPES.items():
        base = build(body=LIST, headers=LEGACY)
        for path in FIELDS[shape]:
            for name, value in WRONG_TYPES.items():
                yield f"{shape}:{'.'.join(path)}={name}", mutated(base, path, value)
        for name, value in WRONG_TYPES.items():
            if shape == "payload-2.0":
                yield f"{shape}:headers[x]={name}", mutated(base, ("headers", "x-extra"), value)
            else:
                yield f"{shape}:multiValueHeaders[x]={name}", mutated(base, ("multiValueHeaders", "X-Extra"), value)
                yield f"{shape}:multiValueHeaders[x]=[{name}]", mutated(base, ("multiValueHeaders", "X-Extra"), [value])
                yield f"{shape}:queryStringParameters[q]={name}", mutated(base, ("queryStringParameters",), {"q": value})
    # What clients can put into what AWS passes through.
    for name, value in {"non-latin-1 name": "nämé", "surrogate name": "x-\ud800", "empty name": ""}.items():
        yield f"header {name}", v2_event(body=LIST, headers={**LEGACY, value: "1"})
    yield "surrogate header value", v2_event(body=LIST, headers={**LEGACY, "x-note": "a\ud800b"})
    yield "non-latin-1 header value", v2_event(body=LIST, headers={**LEGACY, "x-note": "漢字"})
    yield "surrogate in rawPath", v2_event(body=LIST, headers=LEGACY, path="/mcp\ud800")
    yield "surrogate in rawQueryString", mutated(v2_event(body=LIST, headers=LEGACY), ("rawQueryString",), "a=\ud800")
    yield "surrogate in body", v2_event(body='{"jsonrpc":"2.0","id":1,"method":"tools/list","x":"\ud800"}',
                                        headers=LEGACY)
    yield "cookies [1]", mutated(v2_event(body=LIST, headers=LEGACY), ("cookies",), [1])


CASES = dict(cases())


@pytest.fixture(scope="module")
def handler():
    from tests.runtime.sample_server import build

    _, _, handler = build()
    yield handler
    handler.close()


def check_answer(response: Any) -> dict[str, Any]:
    """A Lambda response whose body is one JSON-RPC error object (or a result), without a trace."""
    assert isinstance(response, dict) and isinstance(response.get("statusCode"), int), response
    assert response["statusCode"] < 500, response
    assert "Traceback" not in json.dumps(response)
    return response_json(response) if response.get("body") else {}


@pytest.mark.parametrize("case", CASES)
def test_no_event_shape_raises_or_answers_500(handler, case):
    response = handler(CASES[case], FakeContext())
    body = check_answer(response)
    if response["statusCode"] >= 400:
        assert body["jsonrpc"] == "2.0" and isinstance(body["error"]["code"], int), body


# -- ids ---------------------------------------------------------------------------------------------------------------

VALID_IDS = {"int": 7, "string": "abc", "negative": -1, "zero": 0, "big int": 2**62}
INVALID_IDS = {"null": None, "bool": True, "float": 1.5, "object": {"a": 1}, "array": [1], "empty array": []}
NON_JSON_NUMBERS = {"NaN": "NaN", "Infinity": "Infinity", "-Infinity": "-Infinity", "1e400": "1e400"}


def call(request_id_json: str, method: str = "tools/call") -> str:
    params = '{"name":"remember","arguments":{"text":"ran"}}' if method == "tools/call" else "{}"
    return f'{{"jsonrpc":"2.0","id":{request_id_json},"method":"{method}","params":{params}}}'


@pytest.fixture
def sample():
    from tests.runtime.sample_server import build

    _, probe, handler = build()
    yield handler, probe
    handler.close()


@pytest.mark.parametrize("revision", ["2025-03-26", "2025-11-25"])
@pytest.mark.parametrize("request_id", VALID_IDS)
def test_valid_ids_are_echoed(sample, revision, request_id):
    handler, probe = sample
    body = call(json.dumps(VALID_IDS[request_id]))
    reply = check_answer(handler(v2_event(body=body, headers={"mcp-protocol-version": revision}), FakeContext()))
    assert reply["id"] == VALID_IDS[request_id] and reply["result"]["content"][0]["text"] == "ran"
    assert probe.seen == ["ran"]


@pytest.mark.parametrize("shape", EVENT_SHAPES)
@pytest.mark.parametrize("request_id", INVALID_IDS)
def test_a_request_with_an_invalid_id_is_refused_and_nothing_runs(sample, shape, request_id):
    handler, probe = sample
    body = call(json.dumps(INVALID_IDS[request_id]))
    response = handler(EVENT_SHAPES[shape](body=body, headers=LEGACY), FakeContext())
    reply = check_answer(response)
    assert response["statusCode"] == 400
    assert reply == {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": reply["error"]["message"]}}
    assert "id" in reply["error"]["message"]
    assert probe.seen == [], "the tool did not run"


@pytest.mark.parametrize("version_header", [None, "1999-01-01"], ids=["no-version", "unknown-version"])
@pytest.mark.parametrize("literal", NON_JSON_NUMBERS)
def test_non_json_numbers_are_a_parse_error_and_never_echoed(sample, literal, version_header):
    handler, probe = sample
    headers = {"mcp-protocol-version": version_header} if version_header else {}
    response = handler(v2_event(body=call(NON_JSON_NUMBERS[literal]), headers=headers), FakeContext())
    reply = check_answer(response)
    assert response["statusCode"] == 400
    assert reply["id"] is None and reply["error"]["code"] == -32700
    json.loads(response["body"], parse_constant=_refuse)  # strictly JSON: no NaN or Infinity in the answer
    assert probe.seen == []


def _refuse(constant: str) -> Any:
    raise AssertionError(f"{constant} is not JSON")


@pytest.mark.parametrize("request_id", INVALID_IDS)
def test_the_runtimes_own_refusals_never_echo_an_invalid_id(sample, request_id):
    handler, _ = sample
    body = call(json.dumps(INVALID_IDS[request_id]), method="tools/list")
    reply = check_answer(handler(v2_event(body=body, headers={"mcp-protocol-version": "v9"}), FakeContext()))
    assert reply["id"] is None


def test_an_invalid_id_in_a_batch_item_is_refused_there_alone(sample):
    handler, probe = sample
    batch = f'[{call("1.5")},{call("2")}]'
    reply = check_answer(handler(v2_event(body=batch, headers={"mcp-protocol-version": "2025-03-26"}), FakeContext()))
    assert [r["id"] for r in reply] == [None, 2]
    assert reply[0]["error"]["code"] == -32600 and reply[1]["result"]["content"][0]["text"] == "ran"
    assert probe.seen == ["ran"]


@pytest.mark.parametrize("path", ["/mcp/", "/mcp//", "/"])
def test_the_endpoint_answers_with_or_without_a_trailing_slash(sample, path):
    handler, _ = sample
    response = handler(v2_event(body=LIST, headers=LEGACY, path=path), FakeContext())
    assert response["statusCode"] == 200, response
    assert [t["name"] for t in response_json(response)["result"]["tools"]][0] == "echo"


def test_metrics_count_only_calls_that_ran(sample, monkeypatch, capsys):
    handler, _ = sample
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    handler(v2_event(body=call("null"), headers=LEGACY), FakeContext())
    handler(v2_event(body=call("3"), headers=LEGACY), FakeContext())
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"ToolCalls"' in line]
    assert sum(sum(line["ToolCalls"]) if isinstance(line["ToolCalls"], list) else line["ToolCalls"]
               for line in lines) == 1

