"""What crosses the proxy, and that it crosses unchanged.

- Against the `conformance` Lambda service (tools, resources, templates, prompts, completion, errors):
  every answer through the proxy equals the answer of a direct connection in the same mode.
- The 2026-07-28 translations for a handshake-era desktop client: `input_required` answered by asking
  the client, `Mcp-Param-*` headers, `logging/setLevel`.
- Against a stateful SSE server: progress and log notifications, requests to the client mid-call
  (sampling, elicitation, roots, a vendor method), vendor request methods and notifications both
  ways, error data, cancellation, and the protocol headers the server receives.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import (
    CreateMessageResult,
    ElicitResult,
    ErrorData,
    ListRootsResult,
    PromptReference,
    Request,
    ResourceTemplateReference,
    Root,
    TextContent,
)
from pydantic import TypeAdapter

from tests.proxy.helpers import RawPeer, proxied_client, proxy_env
from tests.proxy.servers import RichServer

pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")

RAW = TypeAdapter(dict[str, Any])


@pytest.fixture(scope="module")
def conformance_server(local_servers):
    return local_servers.url("conformance")


@pytest.fixture(scope="module")
def rich_server():
    with RichServer() as server:
        yield server


@pytest.fixture
def env(tmp_path):
    return proxy_env(tmp_path / "config")


def dump(result: Any) -> Any:
    return result.model_dump(by_alias=True, mode="json", exclude_none=True)


async def exercise(client: Client) -> dict[str, Any]:
    """One of everything a desktop client asks a server; results and errors as plain data."""
    out: dict[str, Any] = {}

    async def record(label: str, call: Any) -> None:
        try:
            out[label] = ("result", dump(await call))
        except MCPError as exc:
            out[label] = ("error", exc.code, exc.message, exc.data)

    await record("tools/list", client.list_tools())
    await record("tools/call content", client.call_tool("test_multiple_content_types", {}))
    await record("tools/call isError", client.call_tool("test_error_handling", {}))
    await record("tools/call 2020-12 schema", client.call_tool("json_schema_2020_12_tool", {"name": "x", "email": "e"}))
    await record("tools/call unknown tool", client.call_tool("no_such_tool", {}))
    await record("resources/list", client.list_resources())
    await record("resources/templates/list", client.list_resource_templates())
    await record("resources/read text", client.read_resource("test://static-text"))
    await record("resources/read binary", client.read_resource("test://static-binary"))
    await record("resources/read template", client.read_resource("test://template/42/data"))
    await record("resources/read missing", client.read_resource("test://missing"))
    await record("prompts/list", client.list_prompts())
    await record("prompts/get", client.get_prompt("test_prompt_with_arguments", {"arg1": "a", "arg2": "b"}))
    await record("prompts/get image", client.get_prompt("test_prompt_with_image"))
    await record("prompts/get missing argument", client.get_prompt("test_prompt_with_arguments", {"arg1": "a"}))
    await record(
        "completion/complete prompt",
        client.complete(PromptReference(type="ref/prompt", name="test_prompt_with_arguments"), {"name": "arg1", "value": "pa"}),
    )
    await record(
        "completion/complete template",
        client.complete(ResourceTemplateReference(type="ref/resource", uri="test://template/{id}/data"),
                        {"name": "id", "value": "1"}),
    )
    await record("vendor method", client.session.send_request(Request[dict, str](method="vendor/unknown", params={"x": 1}), RAW))
    return out


@pytest.mark.parametrize(("protocol", "client_mode"), [("legacy", "legacy"), ("auto", "auto"), ("2026-07-28", "auto")])
def test_every_answer_equals_a_direct_connection(conformance_server, env, tmp_path, protocol, client_mode):
    async def scenario():
        async with Client(conformance_server, mode=client_mode) as direct:
            expected = await exercise(direct)
        async with proxied_client("conformance", conformance_server, "--protocol", protocol, env=env,
                                  stderr=tmp_path / "stderr", mode=client_mode) as client:
            actual = await exercise(client)
        return expected, actual

    expected, actual = anyio.run(scenario)
    assert actual.keys() == expected.keys()
    for label in expected:
        assert actual[label] == expected[label], label
    assert expected["vendor method"][:2] == ("error", -32601), "a method nobody serves: the server's own error"
    assert expected["resources/read missing"][0] == "error"


def test_a_handshake_client_on_a_2026_connection_sees_handshake_answers(conformance_server, env, tmp_path):
    """The proxy speaks 2026-07-28 upstream; a 2025 client gets what a 2025 connection would have answered."""

    def without_meta(results: dict[str, Any]) -> dict[str, Any]:
        cleaned = {}
        for label, value in results.items():
            if value[0] == "result":
                value = ("result", {k: v for k, v in value[1].items() if k != "_meta"})
            cleaned[label] = value
        return cleaned

    async def scenario():
        async with Client(conformance_server, mode="legacy") as direct:
            expected = await exercise(direct)
        async with proxied_client("conformance", conformance_server, "--protocol", "2026-07-28", env=env,
                                  stderr=tmp_path / "stderr", mode="legacy") as client:
            version = client.protocol_version
            actual = await exercise(client)
        return version, expected, actual

    version, expected, actual = anyio.run(scenario)
    assert version == "2025-11-25"
    expected, actual = without_meta(expected), without_meta(actual)
    same = [label for label in expected if actual[label] == expected[label]]
    # The revisions answer these differently, by design of the specification (not of the proxy):
    revision_specific = {
        "resources/read missing",  # 2026-07-28 has a dedicated not-found error
        "prompts/get missing argument",
        "tools/call unknown tool",
    }
    assert set(expected) - set(same) <= revision_specific, {k: (expected[k], actual[k]) for k in set(expected) - set(same)}


def test_2026_only_fields_do_not_reach_a_handshake_client(conformance_server, env, tmp_path):
    async def scenario():
        async with RawPeer.start("conformance", conformance_server, "--protocol", "2026-07-28", env=env,
                                 stderr=tmp_path / "stderr") as peer:
            init = await peer.handshake("2025-06-18")
            answers = [
                await peer.request("tools/list"),
                await peer.request("tools/call", {"name": "test_simple_text", "arguments": {}}),
                await peer.request("resources/read", {"uri": "test://static-text"}),
                await peer.request("prompts/get", {"name": "test_simple_prompt"}),
                await peer.request("completion/complete", {
                    "ref": {"type": "ref/prompt", "name": "test_prompt_with_arguments"},
                    "argument": {"name": "arg1", "value": "p"}}),
            ]
        return init, answers

    init, answers = anyio.run(scenario)
    assert init["result"]["protocolVersion"] == "2025-06-18", "the client's own revision"
    assert init["result"]["serverInfo"]["name"] == "conformance"
    assert "tools" in init["result"]["capabilities"]
    for answer in answers:
        assert "result" in answer, answer
        assert not {"resultType", "ttlMs", "cacheScope", "inputRequests", "requestState"} & set(answer["result"])


async def _elicit(context: Any, params: Any) -> ElicitResult:
    message = params.message
    if "color" in message:
        return ElicitResult(action="accept", content={"color": "blue"})
    if "context" in message:
        return ElicitResult(action="accept", content={"context": "tests"})
    if "confirm" in message.lower():
        return ElicitResult(action="accept", content={"ok": True})
    return ElicitResult(action="accept", content={"name": "Ada"})


async def _sample(context: Any, params: Any) -> CreateMessageResult:
    return CreateMessageResult(role="assistant", content=TextContent(type="text", text="Paris"), model="test-model")


async def _roots(context: Any) -> ListRootsResult:
    return ListRootsResult(roots=[Root(uri="file:///tmp/project", name="project")])


CALLBACKS = {"elicitation_callback": _elicit, "sampling_callback": _sample, "list_roots_callback": _roots}

INPUT_REQUIRED = [
    ("test_input_required_result_elicitation", "Hello, Ada!"),
    ("test_input_required_result_sampling", "LLM says: Paris"),
    ("test_input_required_result_list_roots", "Client roots: file:///tmp/project"),
    ("test_input_required_result_request_state", "state-ok: confirmed=True"),
    ("test_input_required_result_multi_round", "Ada's favorite color is blue"),
    ("test_input_required_result_multiple_inputs", "All inputs received: name=Ada, greeting=Paris, roots=file:///tmp/project"),
]


@pytest.mark.parametrize("client_mode", ["legacy", "auto"])
def test_input_required_is_answered_by_the_desktop_client(conformance_server, env, tmp_path, client_mode):
    """At 2026-07-28 the server asks for input in its result: the proxy asks a handshake client itself;
    a 2026 client gets the result as it is and asks itself (both through the proxy)."""

    async def scenario():
        async with proxied_client("conformance", conformance_server, "--protocol", "2026-07-28", env=env,
                                  stderr=tmp_path / "stderr", mode=client_mode, **CALLBACKS) as client:
            texts = {}
            for tool, _ in INPUT_REQUIRED:
                result = await client.call_tool(tool, {})
                texts[tool] = result.content[0].text
            prompt = await client.get_prompt("test_input_required_result_prompt")
            return texts, prompt

    texts, prompt = anyio.run(scenario)
    assert texts == dict(INPUT_REQUIRED)
    assert prompt.messages[0].content.text == "Use this context: tests"


@pytest.mark.parametrize("client_mode", ["legacy", "auto"])
def test_mcp_param_headers_at_2026(conformance_server, env, tmp_path, client_mode):
    """A tool with an `x-mcp-header` argument needs `Mcp-Param-Region` on the 2026-07-28 wire."""

    async def scenario():
        async with proxied_client("conformance", conformance_server, "--protocol", "2026-07-28", env=env,
                                  stderr=tmp_path / "stderr", mode=client_mode) as client:
            await client.list_tools()
            listed = await client.call_tool("test_headers", {"region": "eu-west-1", "query": "q"})
        async with proxied_client("conformance", conformance_server, "--protocol", "2026-07-28", env=env,
                                  stderr=tmp_path / "stderr", mode="legacy") as client:
            unlisted = await client.call_tool("test_headers", {"region": "us-east-1"})  # never listed first
        return listed, unlisted

    listed, unlisted = anyio.run(scenario)
    assert listed.content[0].text == "region=eu-west-1, query=q"
    assert unlisted.content[0].text == "region=us-east-1, query="


# -- a stateful server that streams (SSE) ----------------------------------------------------------


def test_notifications_and_requests_to_the_client(rich_server, env, tmp_path):
    progress: list[tuple[float, float | None, str | None]] = []
    logs: list[Any] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    async def on_log(params: Any) -> None:
        logs.append(params.data)

    start = len(rich_server.requests)

    async def scenario():
        async with proxied_client("rich", rich_server.url, "--protocol", "legacy", env=env, stderr=tmp_path / "stderr",
                                  mode="legacy", logging_callback=on_log, **CALLBACKS) as client:
            await client.session.set_logging_level("info")
            done = await client.call_tool("progress_and_log", {}, progress_callback=on_progress)
            llm = await client.call_tool("ask_llm", {"prompt": "Capital of France?"})
            user = await client.call_tool("ask_user", {})
            roots = await client.call_tool("ask_roots", {})
            return client.server_info, client.session.instructions, done, llm, user, roots

    server_info, instructions, done, llm, user, roots = anyio.run(scenario)
    assert (server_info.name, server_info.version) == ("rich", "2.0.0")
    assert instructions == "A server for the proxy's forwarding tests."
    assert done.content[0].text == "done"
    assert progress == [(1.0, 2.0, "first half"), (2.0, 2.0, "second half")]
    assert logs == ["halfway"]
    assert llm.content[0].text == "LLM: Paris"
    assert user.content[0].text == "User: Ada"
    assert roots.content[0].text == "Roots: file:///tmp/project"

    # The server saw the desktop client's own handshake, then the negotiated revision on every request.
    mine = rich_server.requests[start:]
    assert mine[0]["body"]["id"] == "mcp-lambda-proxy-preflight" and mine[0]["rpc"] == "ping"
    initialize = mine[1]
    assert initialize["rpc"] == "initialize"
    assert initialize["params"]["clientInfo"]["name"] == "mcp", "the desktop client's own identity"
    assert initialize["params"]["capabilities"].keys() >= {"sampling", "elicitation", "roots"}
    later = [r for r in mine[2:] if r["http"] == "POST"]
    assert [r["rpc"] for r in later[:2]] == ["notifications/initialized", "logging/setLevel"]
    assert all(r["version"] == initialize["params"]["protocolVersion"] for r in later), "the negotiated revision"
    assert len({r["session"] for r in later}) == 1 and later[0]["session"], "the server's session id is kept"


def test_the_2026_translation_of_logging_and_progress(rich_server, env, tmp_path):
    """A handshake client on a 2026-07-28 connection: logging/setLevel becomes the per-request opt-in."""
    progress: list[float] = []
    logs: list[Any] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async def on_log(params: Any) -> None:
        logs.append(params.data)

    async def scenario():
        async with proxied_client("rich", rich_server.url, "--protocol", "2026-07-28", env=env,
                                  stderr=tmp_path / "stderr", mode="legacy", logging_callback=on_log) as client:
            quiet = await client.call_tool("progress_and_log", {}, progress_callback=on_progress)
            before = list(logs)
            await client.session.set_logging_level("info")
            await client.call_tool("progress_and_log", {}, progress_callback=on_progress)
            return client.protocol_version, quiet, before

    version, quiet, before = anyio.run(scenario)
    assert version == "2025-11-25"
    assert quiet.content[0].text == "done"
    assert before == [], "at 2026-07-28 no log messages without the opt-in"
    assert logs == ["halfway"]
    assert progress == [1.0, 2.0, 1.0, 2.0]
    assert any(r.get("rpc") == "server/discover" for r in rich_server.requests)


@pytest.mark.parametrize("protocol", ["legacy", "2026-07-28"])
def test_vendor_methods_and_error_data_cross_unchanged(rich_server, env, tmp_path, protocol):
    params = {"text": "héllo", "list": [1, None, {"deep": True}], "null": None}

    async def scenario():
        async with RawPeer.start("rich", rich_server.url, "--protocol", protocol, env=env, stderr=tmp_path / "stderr") as peer:
            await peer.handshake()
            echo = await peer.request("vendor/echo", params)
            failure = await peer.request("vendor/fail", {"why": "test"})
            missing = await peer.request("vendor/nothing")
        return echo, failure, missing

    echo, failure, missing = anyio.run(scenario)
    assert echo["result"]["echo"] == params
    assert echo["result"]["nested"] == {"list": [1, None, True], "empty": {}}
    assert echo["result"]["unicode"] == "héllo ✓"
    assert failure["error"] == {"code": -32050, "message": "vendor failure", "data": {"why": ["a", 1, None], "ok": False}}
    assert missing["error"]["code"] == -32601


def test_vendor_messages_from_the_server_reach_the_client_and_back(rich_server, env, tmp_path):
    async def scenario():
        async with RawPeer.start("rich", rich_server.url, "--protocol", "legacy", env=env, stderr=tmp_path / "stderr") as peer:
            await peer.handshake()
            await peer.send({"jsonrpc": "2.0", "id": "call-1", "method": "tools/call",
                             "params": {"name": "vendor_roundtrip", "arguments": {}}})
            event = await peer.next(lambda m: m.get("method") == "vendor/event")
            ask = await peer.next(lambda m: m.get("method") == "vendor/ask")
            await peer.send({"jsonrpc": "2.0", "id": ask["id"], "result": {"answer": 42, "extra": [None, "x"]}})
            result = await peer.next(lambda m: m.get("id") == "call-1")
            await peer.send({"jsonrpc": "2.0", "method": "vendor/client-event", "params": {"k": [1, None]}})
            await peer.send({"jsonrpc": "2.0", "method": "notifications/roots/list_changed"})
            await peer.request("ping")
            with anyio.fail_after(10):
                while "notifications/roots/list_changed" not in rich_server.methods():
                    await anyio.sleep(0.05)
        return event, ask, result

    event, ask, result = anyio.run(scenario)
    assert event["params"] == {"n": 1, "nested": {"x": None}}
    # The server's SDK may add the trace context to what it sends (`_meta.traceparent`) when a test earlier in this
    # process set OpenTelemetry's global tracer provider: the vendor's own parameters must arrive unchanged.
    assert {k: v for k, v in ask["params"].items() if k != "_meta"} == {"question": "six times seven?"}
    assert set(ask["params"].get("_meta", {})) <= {"traceparent", "tracestate"}
    assert json.loads(result["result"]["content"][0]["text"]) == {"answer": 42, "extra": [None, "x"]}
    sent = [r for r in rich_server.requests if r.get("rpc") == "vendor/client-event"]
    assert sent and sent[0]["params"] == {"k": [1, None]}


def test_a_client_error_answer_reaches_the_server_intact(rich_server, env, tmp_path):
    async def scenario():
        async with RawPeer.start("rich", rich_server.url, "--protocol", "legacy", env=env, stderr=tmp_path / "stderr") as peer:
            await peer.handshake()
            await peer.send({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                             "params": {"name": "vendor_roundtrip", "arguments": {}}})
            ask = await peer.next(lambda m: m.get("method") == "vendor/ask")
            await peer.send({"jsonrpc": "2.0", "id": ask["id"],
                             "error": {"code": -32601, "message": "no such method here", "data": {"method": "vendor/ask"}}})
            return await peer.next(lambda m: m.get("id") == 7)

    result = anyio.run(scenario)
    assert json.loads(result["result"]["content"][0]["text"]) == {
        "error": {"code": -32601, "message": "no such method here", "data": {"method": "vendor/ask"}}
    }


def test_cancelling_a_call_cancels_it_on_the_server(rich_server, env, tmp_path):
    async def scenario():
        async with RawPeer.start("rich", rich_server.url, "--protocol", "legacy", env=env, stderr=tmp_path / "stderr") as peer:
            await peer.handshake()
            before = len(rich_server.cancelled)
            await peer.send({"jsonrpc": "2.0", "id": 99, "method": "tools/call", "params": {"name": "slow", "arguments": {}}})
            await anyio.sleep(1)
            await peer.send({"jsonrpc": "2.0", "method": "notifications/cancelled",
                             "params": {"requestId": 99, "reason": "user pressed stop"}})
            with anyio.fail_after(10):
                while len(rich_server.cancelled) == before:
                    await anyio.sleep(0.05)
            answer = await peer.request("ping")
            leftover = [m for m in peer.inbox if m.get("id") == 99]
        return answer, leftover

    answer, leftover = anyio.run(scenario)
    assert answer["result"] == {}
    assert leftover == [], "a cancelled request is not answered"
    call = [r for r in rich_server.requests if r.get("rpc") == "tools/call" and r["params"]["name"] == "slow"][-1]
    cancel = [r for r in rich_server.requests if r.get("rpc") == "notifications/cancelled"][-1]
    assert cancel["params"]["requestId"] == call["body"]["id"], "the cancellation names the server's own request id"


def test_ping_before_the_handshake_is_answered(rich_server, env, tmp_path):
    async def scenario():
        async with RawPeer.start("rich", rich_server.url, env=env, stderr=tmp_path / "stderr") as peer:
            return await peer.request("ping")

    assert anyio.run(scenario)["result"] == {}


def test_error_result_of_a_client_callback(conformance_server, env, tmp_path):
    """The desktop client refuses an input request: the refusal reaches the caller as the error it was."""

    async def refuse(context: Any, params: Any) -> ErrorData:
        return ErrorData(code=-32042, message="not now", data={"reason": "busy"})

    async def scenario():
        async with proxied_client("conformance", conformance_server, "--protocol", "2026-07-28", env=env,
                                  stderr=tmp_path / "stderr", mode="legacy", elicitation_callback=refuse) as client:
            with pytest.raises(MCPError) as refused:
                await client.call_tool("test_input_required_result_elicitation", {})
            return refused.value

    error = anyio.run(scenario)
    assert (error.code, error.message, error.data) == (-32042, "not now", {"reason": "busy"})


def test_leaving_ends_the_server_s_session(rich_server, env, tmp_path):
    """When the desktop client closes the proxy's stdin, a stateful server is told the session is over."""
    start = len(rich_server.requests)

    async def scenario():
        async with RawPeer.start("rich", rich_server.url, "--protocol", "legacy", env=env, stderr=tmp_path / "stderr") as peer:
            await peer.handshake()
            await peer.request("tools/list")
        return peer.process.returncode

    assert anyio.run(scenario) == 0
    mine = rich_server.requests[start:]
    session = next(r["session"] for r in mine if r.get("rpc") == "tools/list")
    assert {"http": "DELETE", "session": session} in [{"http": r["http"], "session": r["session"]} for r in mine]
