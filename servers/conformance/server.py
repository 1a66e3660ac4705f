"""Fixtures for the official MCP conformance suite (`@modelcontextprotocol/conformance`), served like any
other service: an `MCPServer` from `mcp_lambda.new_server`, written with the SDK's own decorators.

Every tool, resource and prompt the suite's server scenarios call is here, under the names the suite
expects (tests/conformance runs both suite versions against it). Two families:

- Handshake revisions (2024-11-05 .. 2025-11-25): content types, logging, progress, errors, sampling and
  elicitation over the back channel, completion, JSON Schema 2020-12 keywords.
- 2026-07-28: the `input_required` multi-round-trip flow (`InputRequiredResult` + sealed `requestState`),
  missing client capabilities, `x-mcp-header` parameters, not-found resources.
- The Tasks extension (`io.modelcontextprotocol/tasks`, the suite's `tasks-*` scenarios): `greet`,
  `slow_compute`, `failing_job`, `protocol_error_job`, `confirm_delete`, `multi_input`, `test_tool_with_task`.

Some scenarios need a server-to-client channel a stateless server on Lambda cannot have (requests sent to
the client mid-call, notifications outside a response, a GET stream, subscriptions); their fixtures are
still complete, so they work unchanged on a transport that has one. Notifications sent during a call do
arrive, in the call's SSE reply. tests/conformance/expected-failures.json lists what fails here and why.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import struct
import wave
import zlib
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import (
    Audio,
    Context,
    Elicit,
    ElicitationResult,
    Image,
    Resolve,
    Sample,
    UserMessage,
)
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.shared.exceptions import MCPError
from mcp_types import (
    CallToolResult,
    Completion,
    CompletionArgument,
    ContentBlock,
    CreateMessageRequest,
    CreateMessageRequestParams,
    CreateMessageResult,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    EmbeddedResource,
    EmptyResult,
    ImageContent,
    INTERNAL_ERROR,
    InputRequiredResult,
    ListRootsRequest,
    ListRootsResult,
    PromptReference,
    ResourceTemplateReference,
    SamplingMessage,
    SetLevelRequestParams,
    TextContent,
    TextResourceContents,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, Field

from mcp_lambda import lambda_handler, new_server
from mcp_lambda.tasks import Tasks

# -- media ------------------------------------------------------------------------------------------------


def _png_1x1_red() -> bytes:
    """A valid 1x1 red PNG, built rather than pasted so it is obviously what it claims to be."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB
    pixels = zlib.compress(b"\x00\xff\x00\x00")  # filter byte + one red pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _wav_silence() -> bytes:
    """10 ms of 8 kHz mono 16-bit silence: a minimal valid WAV file."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * 80)
    return buffer.getvalue()


PNG = _png_1x1_red()
WAV = _wav_silence()
PNG_B64 = base64.b64encode(PNG).decode()


def _is_modern(ctx: Context) -> bool:
    """True on the 2026-07-28 single-exchange revision (and later), where input is asked via
    `InputRequiredResult` instead of requests sent to the client mid-call."""
    return ctx.protocol_version in MODERN_PROTOCOL_VERSIONS


# -- the JSON Schema 2020-12 tool (SEP-1613, SEP-2106): its inputSchema is given verbatim ----------------

JSON_SCHEMA_2020_12 = "https://json-schema.org/draft/2020-12/schema"

JSON_SCHEMA_2020_12_INPUT: dict[str, Any] = {
    "$schema": JSON_SCHEMA_2020_12,
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


class _Address(BaseModel):
    street: str | None = None
    city: str | None = None


def json_schema_2020_12_tool(
    name: str | None = None,
    address: _Address | None = None,
    contactMethod: Literal["phone", "email"] | None = None,
    phone: str | None = None,
    email: str | None = None,
) -> str:
    """Tool with JSON Schema 2020-12 features"""
    contact = phone if contactMethod == "phone" else email
    return f"Received name={name!r}, address={address.model_dump() if address else None!r}, contact={contact!r}"


# The SDK derives a schema from the signature; the suite checks that a hand-written 2020-12 schema
# ($schema, $defs with $anchor, composition, conditionals, additionalProperties) reaches the client
# untouched, so the derived schema is replaced by that one (arguments are still validated by the SDK
# against the signature).
_json_schema_tool = Tool.from_function(json_schema_2020_12_tool).model_copy(
    update={"parameters": JSON_SCHEMA_2020_12_INPUT}
)

tasks = Tasks()
mcp = new_server(
    "conformance",
    version="1.0.0",
    instructions="Fixtures for the official MCP conformance suite: every tool, resource and prompt it calls.",
    tools=[_json_schema_tool],
    extensions=[tasks],
)


# -- tools: content types -------------------------------------------------------------------------------


@mcp.tool()
def test_simple_text() -> str:
    """Returns a simple text result."""
    return "This is a simple text response for testing."


@mcp.tool()
def test_image_content() -> Image:
    """Returns an image (a 1x1 red PNG)."""
    return Image(data=PNG, format="png")


@mcp.tool()
def test_audio_content() -> Audio:
    """Returns audio (10 ms of WAV silence)."""
    return Audio(data=WAV, format="wav")


@mcp.tool()
def test_embedded_resource() -> EmbeddedResource:
    """Returns an embedded text resource."""
    return EmbeddedResource(
        type="resource",
        resource=TextResourceContents(
            uri="test://embedded-resource", mime_type="text/plain", text="This is an embedded resource content."
        ),
    )


@mcp.tool()
def test_multiple_content_types() -> list[ContentBlock]:
    """Returns text, an image and an embedded resource in one result."""
    return [
        TextContent(type="text", text="Multiple content types test:"),
        ImageContent(type="image", data=PNG_B64, mime_type="image/png"),
        EmbeddedResource(
            type="resource",
            resource=TextResourceContents(
                uri="test://mixed-content-resource",
                mime_type="application/json",
                text=json.dumps({"test": "data", "value": 123}),
            ),
        ),
    ]


@mcp.tool()
def test_error_handling() -> str:
    """Always fails: the error is reported as a tool result with isError: true."""
    # ToolError is the SDK's "anticipated failure": its text reaches the client (a crash's does not).
    raise ToolError("This tool intentionally returns an error for testing")


@mcp.tool()
def test_reconnection() -> str:
    """For the SSE polling scenario: a server with an event store would close the stream mid-call here."""
    return "Reconnection test completed successfully"


# -- tools: notifications during a call -----------------------------------------------------------------


@mcp.tool()
async def test_tool_with_logging(ctx: Context) -> str:
    """Sends three info-level log notifications while it runs."""
    await ctx.info("Tool execution started")
    await asyncio.sleep(0.05)
    await ctx.info("Tool processing data")
    await asyncio.sleep(0.05)
    await ctx.info("Tool execution completed")
    return "Tool with logging executed successfully"


@mcp.tool()
async def test_logging_tool(ctx: Context) -> str:
    """Logs at info; on 2026-07-28 nothing may be sent unless the request's _meta asked for a log level."""
    await ctx.info("test_logging_tool ran")
    return "Logged"


@mcp.tool()
async def test_tool_with_progress(ctx: Context) -> str:
    """Reports progress 0, 50, 100 (of 100) when the call carries a progress token."""
    for step, progress in enumerate((0, 50, 100)):
        if step:
            await asyncio.sleep(0.05)
        await ctx.report_progress(progress, 100)
    return "Tool with progress executed successfully"


@mcp.tool()
async def test_trigger_tool_change(ctx: Context) -> str:
    """Publishes a tools list-changed event (delivered on `subscriptions/listen` streams, where served)."""
    await ctx.notify_tools_changed()
    return "Tools list change published"


@mcp.tool()
async def test_trigger_prompt_change(ctx: Context) -> str:
    """Publishes a prompts list-changed event (delivered on `subscriptions/listen` streams, where served)."""
    await ctx.notify_prompts_changed()
    return "Prompts list change published"


# -- tools: asking the client (sampling, elicitation) ---------------------------------------------------
# Written with the SDK's resolvers: on handshake revisions the request goes to the client mid-call (which
# needs a back channel); on 2026-07-28 it is returned as an InputRequiredResult and the call resumes on
# the client's retry.


def _ask_llm(prompt: str) -> Sample:
    return Sample([SamplingMessage(role="user", content=TextContent(type="text", text=prompt))], max_tokens=100)


@mcp.tool()
async def test_sampling(prompt: str, reply: Annotated[CreateMessageResult, Resolve(_ask_llm)]) -> str:
    """Asks the client's LLM (sampling/createMessage) and returns its answer."""
    text = reply.content.text if isinstance(reply.content, TextContent) else str(reply.content)
    return f"LLM response: {text}"


class _UserInfo(BaseModel):
    username: str = Field(description="User's response")
    email: str = Field(description="User's email address")


def _ask_user(message: str) -> Elicit[_UserInfo]:
    return Elicit(message, _UserInfo)


@mcp.tool()
async def test_elicitation(message: str, answer: Annotated[ElicitationResult[_UserInfo], Resolve(_ask_user)]) -> str:
    """Asks the user (elicitation/create) for a username and email and reports the outcome."""
    content = answer.data.model_dump() if answer.action == "accept" else None
    return f"User response: action={answer.action}, content={json.dumps(content)}"


def _ask_missing_capability() -> Sample:
    return Sample([SamplingMessage(role="user", content=TextContent(type="text", text="Say hello"))], max_tokens=10)


@mcp.tool()
async def test_missing_capability(reply: Annotated[CreateMessageResult, Resolve(_ask_missing_capability)]) -> str:
    """Needs sampling: a client that did not declare the capability gets MissingRequiredClientCapability."""
    return "sampled"


class _Confirmation(BaseModel):
    confirmed: bool = Field(description="Whether to proceed")


def _ask_confirmation() -> Elicit[_Confirmation]:
    return Elicit("Proceed with the streaming elicitation test?", _Confirmation)


@mcp.tool()
async def test_streaming_elicitation(
    answer: Annotated[ElicitationResult[_Confirmation], Resolve(_ask_confirmation)],
) -> str:
    """Elicits once; on 2026-07-28 the question is the response itself, never a request on the stream."""
    return f"Elicitation outcome: {answer.action}"


# The two SEP elicitation fixtures need exact schema shapes (defaults, titled/legacy enums) that a
# pydantic model does not render, so they send the request through the session directly.

_SEP1034_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "User name", "default": "John Doe"},
        "age": {"type": "integer", "description": "User age", "default": 30},
        "score": {"type": "number", "description": "User score", "default": 95.5},
        "status": {
            "type": "string",
            "description": "User status",
            "enum": ["active", "inactive", "pending"],
            "default": "active",
        },
        "verified": {"type": "boolean", "description": "Verification status", "default": True},
    },
    "required": [],
}

_SEP1330_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
        "titledSingle": {
            "type": "string",
            "oneOf": [
                {"const": "value1", "title": "First Option"},
                {"const": "value2", "title": "Second Option"},
                {"const": "value3", "title": "Third Option"},
            ],
        },
        "legacyEnum": {
            "type": "string",
            "enum": ["opt1", "opt2", "opt3"],
            "enumNames": ["Option One", "Option Two", "Option Three"],
        },
        "untitledMulti": {"type": "array", "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
        "titledMulti": {
            "type": "array",
            "items": {
                "anyOf": [
                    {"const": "value1", "title": "First Choice"},
                    {"const": "value2", "title": "Second Choice"},
                    {"const": "value3", "title": "Third Choice"},
                ]
            },
        },
    },
    "required": [],
}


async def _elicit_raw(ctx: Context, message: str, schema: dict[str, Any]) -> str:
    result = await ctx.session.elicit_form(message, schema, related_request_id=ctx.request_context.request_id)
    return f"Elicitation completed: action={result.action}, content={json.dumps(result.content)}"


@mcp.tool()
async def test_elicitation_sep1034_defaults(ctx: Context) -> str:
    """Elicits with a default value for every primitive type (SEP-1034)."""
    return await _elicit_raw(ctx, "Test client default value handling - please accept with defaults", _SEP1034_SCHEMA)


@mcp.tool()
async def test_elicitation_sep1330_enums(ctx: Context) -> str:
    """Elicits with all five enum schema variants (SEP-1330)."""
    return await _elicit_raw(ctx, "Test enum schema variants", _SEP1330_SCHEMA)


# -- tools: the 2026-07-28 input_required flow, hand-written (the suite fixes the input request keys) ----


def _elicit_request(message: str, properties: dict[str, Any], required: list[str]) -> ElicitRequest:
    schema = {"type": "object", "properties": properties, "required": required}
    return ElicitRequest(params=ElicitRequestFormParams(message=message, requested_schema=schema))


def _sampling_request(text: str, max_tokens: int) -> CreateMessageRequest:
    return CreateMessageRequest(
        params=CreateMessageRequestParams(
            messages=[SamplingMessage(role="user", content=TextContent(type="text", text=text))],
            max_tokens=max_tokens,
        )
    )


def _require_modern(ctx: Context, tool: str) -> None:
    if not _is_modern(ctx):
        raise ValueError(f"{tool} demonstrates the 2026-07-28 input_required flow; call it on that revision")


def _accepted(ctx: Context, key: str) -> dict[str, Any] | None:
    """The content of an accepted elicitation answer under `key`, if the retry carries one."""
    answer = (ctx.input_responses or {}).get(key)
    if isinstance(answer, ElicitResult) and answer.action == "accept":
        return dict(answer.content or {})
    return None


def _sampled_text(ctx: Context, key: str) -> str | None:
    answer = (ctx.input_responses or {}).get(key)
    if isinstance(answer, CreateMessageResult):
        return answer.content.text if isinstance(answer.content, TextContent) else str(answer.content)
    return None


def _roots(ctx: Context, key: str) -> list[str] | None:
    answer = (ctx.input_responses or {}).get(key)
    if isinstance(answer, ListRootsResult):
        return [str(root.uri) for root in answer.roots]
    return None


@mcp.tool()
def test_input_required_result_elicitation(ctx: Context) -> CallToolResult | InputRequiredResult:
    """Round 1 asks for the user's name (key `user_name`); a retry carrying it completes."""
    _require_modern(ctx, "test_input_required_result_elicitation")
    answer = _accepted(ctx, "user_name")
    if answer is None or not isinstance(answer.get("name"), str):
        # First round, or a retry without a usable answer: ask (again) rather than fail.
        return InputRequiredResult(
            input_requests={
                "user_name": _elicit_request("What is your name?", {"name": {"type": "string"}}, ["name"])
            }
        )
    return CallToolResult(content=[TextContent(type="text", text=f"Hello, {answer['name']}!")])


@mcp.tool()
def test_input_required_result_sampling(ctx: Context) -> CallToolResult | InputRequiredResult:
    """Round 1 asks the client's LLM a question (key `capital_question`); a retry with the answer completes."""
    _require_modern(ctx, "test_input_required_result_sampling")
    text = _sampled_text(ctx, "capital_question")
    if text is None:
        return InputRequiredResult(
            input_requests={"capital_question": _sampling_request("What is the capital of France?", 100)}
        )
    return CallToolResult(content=[TextContent(type="text", text=f"LLM says: {text}")])


@mcp.tool()
def test_input_required_result_list_roots(ctx: Context) -> CallToolResult | InputRequiredResult:
    """Round 1 asks for the client's roots (key `client_roots`); a retry with them completes."""
    _require_modern(ctx, "test_input_required_result_list_roots")
    roots = _roots(ctx, "client_roots")
    if roots is None:
        return InputRequiredResult(input_requests={"client_roots": ListRootsRequest()})
    return CallToolResult(content=[TextContent(type="text", text=f"Client roots: {', '.join(roots) or '(none)'}")])


@mcp.tool()
def test_input_required_result_request_state(ctx: Context) -> CallToolResult | InputRequiredResult:
    """Round 1 returns a confirmation request plus requestState; the retry must echo the state."""
    _require_modern(ctx, "test_input_required_result_request_state")
    answer = _accepted(ctx, "confirm")
    if answer is None or ctx.request_state != "awaiting-confirmation":
        return InputRequiredResult(
            input_requests={"confirm": _elicit_request("Please confirm", {"ok": {"type": "boolean"}}, ["ok"])},
            request_state="awaiting-confirmation",
        )
    return CallToolResult(content=[TextContent(type="text", text=f"state-ok: confirmed={answer.get('ok')}")])


@mcp.tool()
def test_input_required_result_multiple_inputs(ctx: Context) -> CallToolResult | InputRequiredResult:
    """Round 1 asks for an elicitation, a sampling and the roots at once; the retry answers all three."""
    _require_modern(ctx, "test_input_required_result_multiple_inputs")
    name, greeting, roots = _accepted(ctx, "user_name"), _sampled_text(ctx, "greeting"), _roots(ctx, "client_roots")
    if name is None or greeting is None or roots is None or ctx.request_state != "multiple-inputs":
        return InputRequiredResult(
            input_requests={
                "user_name": _elicit_request("What is your name?", {"name": {"type": "string"}}, ["name"]),
                "greeting": _sampling_request("Generate a greeting", 50),
                "client_roots": ListRootsRequest(),
            },
            request_state="multiple-inputs",
        )
    summary = f"name={name.get('name')}, greeting={greeting}, roots={', '.join(roots)}"
    return CallToolResult(content=[TextContent(type="text", text=f"All inputs received: {summary}")])


@mcp.tool()
def test_input_required_result_multi_round(ctx: Context) -> CallToolResult | InputRequiredResult:
    """Three rounds: name, then colour (each with its own requestState), then the result."""
    _require_modern(ctx, "test_input_required_result_multi_round")
    state = json.loads(ctx.request_state) if ctx.request_state else {"round": 1}
    if state["round"] == 1:
        name = _accepted(ctx, "step1") if ctx.request_state else None
        if name is None:
            return InputRequiredResult(
                input_requests={
                    "step1": _elicit_request("Step 1: What is your name?", {"name": {"type": "string"}}, ["name"])
                },
                request_state=json.dumps({"round": 1}),
            )
        state = {"round": 2, "name": name.get("name")}
        return InputRequiredResult(
            input_requests={
                "step2": _elicit_request(
                    "Step 2: What is your favorite color?", {"color": {"type": "string"}}, ["color"]
                )
            },
            request_state=json.dumps(state),
        )
    color = _accepted(ctx, "step2")
    if color is None:
        return InputRequiredResult(
            input_requests={
                "step2": _elicit_request(
                    "Step 2: What is your favorite color?", {"color": {"type": "string"}}, ["color"]
                )
            },
            request_state=json.dumps(state),
        )
    text = f"{state.get('name')}'s favorite color is {color.get('color')}"
    return CallToolResult(content=[TextContent(type="text", text=text)])


@mcp.tool()
def test_input_required_result_tampered_state(ctx: Context) -> CallToolResult | InputRequiredResult:
    """Round 1 returns a requestState; the SDK seals it, so a modified echo is refused before this runs."""
    _require_modern(ctx, "test_input_required_result_tampered_state")
    answer = _accepted(ctx, "confirm")
    if answer is None or ctx.request_state != "integrity-protected":
        return InputRequiredResult(
            input_requests={"confirm": _elicit_request("Please confirm", {"ok": {"type": "boolean"}}, ["ok"])},
            request_state="integrity-protected",
        )
    return CallToolResult(content=[TextContent(type="text", text="state verified")])


@mcp.tool()
def test_input_required_result_capabilities(ctx: Context) -> CallToolResult | InputRequiredResult:
    """Asks only for what the client declared it can answer (sampling, elicitation, roots)."""
    _require_modern(ctx, "test_input_required_result_capabilities")
    if ctx.input_responses:
        return CallToolResult(content=[TextContent(type="text", text=f"Received {sorted(ctx.input_responses)}")])
    capabilities = ctx.client_capabilities
    requests: dict[str, Any] = {}
    if capabilities is not None and capabilities.sampling is not None:
        requests["question"] = _sampling_request("What is the capital of France?", 100)
    if capabilities is not None and capabilities.elicitation is not None:
        requests["user_name"] = _elicit_request("What is your name?", {"name": {"type": "string"}}, ["name"])
    if capabilities is not None and capabilities.roots is not None:
        requests["client_roots"] = ListRootsRequest()
    if not requests:
        return CallToolResult(content=[TextContent(type="text", text="The client declared nothing to ask with")])
    return InputRequiredResult(input_requests=requests)


# -- tools: x-mcp-header (SEP-2243) ---------------------------------------------------------------------


_REGION_HEADER = {"x-mcp-header": "Region"}


@mcp.tool()
def test_headers(
    region: Annotated[str, Field(description="Sent as the Mcp-Param-Region header", json_schema_extra=_REGION_HEADER)],
    query: str = "",
) -> str:
    """Echoes a parameter that 2026-07-28 clients mirror into the Mcp-Param-Region header."""
    return f"region={region}, query={query}"


# -- tools: the Tasks extension (SEP-2663) ----------------------------------------------------------------
# A task tool is answered with CreateTaskResult when the request declares the extension, and its body runs
# in a worker (an asynchronous invocation on Lambda, a worker thread locally).


@mcp.tool()
def greet(name: str) -> str:
    """Synchronous only: never becomes a task."""
    return f"Hello, {name}!"


@tasks.tool(mcp)
async def slow_compute(seconds: Annotated[float, Field(ge=0, le=900)], label: str = "") -> str:
    """Sleeps `seconds`, then answers; a cancelled task stops sleeping at the worker's next heartbeat."""
    await asyncio.sleep(seconds)
    return f"Computed {label or 'result'} after {seconds:g} s"


@tasks.tool(mcp, support="required")
async def failing_job() -> str:
    """Runs only as a task and ends in a tool error (a completed task whose result has isError: true)."""
    await asyncio.sleep(1)
    raise ToolError("failing_job failed, as it always does")


@tasks.tool(mcp)
async def protocol_error_job() -> str:
    """Ends in a JSON-RPC error, which makes its task `failed` with that error."""
    raise MCPError(code=INTERNAL_ERROR, message="protocol_error_job raised a protocol error")


def _confirmation(filename: str) -> ElicitRequest:
    return _elicit_request(f"Delete {filename}?", {"confirm": {"type": "boolean"}}, ["confirm"])


@tasks.tool(mcp)
def confirm_delete(filename: str, ctx: Context) -> CallToolResult | InputRequiredResult:
    """Asks for confirmation from inside the task (the task waits in input_required), then 'deletes'."""
    answer = _accepted(ctx, "confirm")
    if answer is None:
        return InputRequiredResult(input_requests={"confirm": _confirmation(filename)})
    verdict = "deleted" if answer.get("confirm") else "kept"
    return CallToolResult(content=[TextContent(type="text", text=f"{filename} {verdict}")])


@tasks.tool(mcp)
def multi_input(ctx: Context) -> CallToolResult | InputRequiredResult:
    """Asks two questions at once; the task stays input_required until both are answered."""
    first, second = _accepted(ctx, "first"), _accepted(ctx, "second")
    if first is None or second is None:
        schema = {"name": {"type": "string"}, "confirm": {"type": "boolean"}}
        return InputRequiredResult(input_requests={
            "first": _elicit_request("First question: your name?", schema, ["name"]),
            "second": _elicit_request("Second question: your name?", schema, ["name"]),
        })
    return CallToolResult(content=[TextContent(type="text", text=f"Got {first.get('name')} and {second.get('name')}")])


class _Name(BaseModel):
    name: str = Field(description="Your name")


def _ask_name() -> Elicit[_Name]:
    return Elicit("What is your name?", _Name)


@tasks.tool(mcp, support="required")
async def test_tool_with_task(answer: Annotated[ElicitationResult[_Name], Resolve(_ask_name)]) -> str:
    """Asks for a name first (synchronously, before any task exists), then works on as a task."""
    await asyncio.sleep(0.5)
    name = answer.data.name if answer.action == "accept" else "stranger"
    return f"Hello, {name}, from a task"


# -- resources ------------------------------------------------------------------------------------------


@mcp.resource("test://static-text", name="static-text", description="A static text resource", mime_type="text/plain")
def static_text() -> str:
    return "This is the content of the static text resource."


@mcp.resource(
    "test://static-binary", name="static-binary", description="A static binary resource (PNG)", mime_type="image/png"
)
def static_binary() -> bytes:
    return PNG


@mcp.resource(
    "test://watched-resource",
    name="watched-resource",
    description="The resource the subscription scenarios watch",
    mime_type="text/plain",
)
def watched_resource() -> str:
    return "Watched resource content."


@mcp.resource(
    "test://template/{id}/data",
    name="template-data",
    description="A resource template: {id} is substituted into the data",
    mime_type="application/json",
)
def template_data(id: str) -> str:
    return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})


# -- prompts --------------------------------------------------------------------------------------------


@mcp.prompt(description="A simple prompt without arguments")
def test_simple_prompt() -> str:
    return "This is a simple prompt for testing."


@mcp.prompt(description="A prompt with two required arguments")
def test_prompt_with_arguments(
    arg1: Annotated[str, Field(description="First test argument")],
    arg2: Annotated[str, Field(description="Second test argument")],
) -> str:
    return f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"


@mcp.prompt(description="A prompt embedding the resource named by its argument")
def test_prompt_with_embedded_resource(
    resourceUri: Annotated[str, Field(description="URI of the resource to embed")],
) -> list[UserMessage]:
    return [
        UserMessage(
            EmbeddedResource(
                type="resource",
                resource=TextResourceContents(
                    uri=resourceUri, mime_type="text/plain", text="Embedded resource content for testing."
                ),
            )
        ),
        UserMessage("Please process the embedded resource above."),
    ]


@mcp.prompt(description="A prompt with an image")
def test_prompt_with_image() -> list[UserMessage]:
    return [UserMessage(Image(data=PNG, format="png")), UserMessage("Please analyze the image above.")]


@mcp.prompt(description="A prompt that first asks the user for context (2026-07-28 input_required flow)")
def test_input_required_result_prompt(ctx: Context) -> list[UserMessage] | InputRequiredResult:
    if not _is_modern(ctx):
        return [UserMessage("This prompt asks for context on the 2026-07-28 revision.")]
    answer = _accepted(ctx, "user_context")
    if answer is None:
        return InputRequiredResult(
            input_requests={
                "user_context": _elicit_request(
                    "What context should the prompt use?", {"context": {"type": "string"}}, ["context"]
                )
            }
        )
    return [UserMessage(f"Use this context: {answer.get('context')}")]


# -- completion and logging -----------------------------------------------------------------------------

_COMPLETIONS: dict[tuple[str, str], list[str]] = {
    ("test_prompt_with_arguments", "arg1"): ["paris", "park", "party", "test", "testing"],
    ("test_prompt_with_arguments", "arg2"): ["world", "wonder", "test"],
    ("test://template/{id}/data", "id"): ["1", "2", "3", "123"],
}


@mcp.completion()
async def complete(
    ref: PromptReference | ResourceTemplateReference, argument: CompletionArgument, context: Any
) -> Completion:
    key = ref.name if isinstance(ref, PromptReference) else ref.uri
    values = [v for v in _COMPLETIONS.get((key, argument.name), []) if v.startswith(argument.value)]
    return Completion(values=values, total=len(values), has_more=False)


async def _set_logging_level(ctx: Any, params: SetLevelRequestParams) -> EmptyResult:
    # Handshake revisions only (2026-07-28 removed the method; the SDK refuses it there). A stateless
    # server has no session to keep the level in, and a log notification can only ride the response of
    # the request that produced it, so the level is accepted and every level is sent.
    return EmptyResult()


# MCPServer has no decorator for logging/setLevel (deprecated by 2026-07-28); the SDK's documented route
# for re-providing it to legacy clients is the low-level Server.add_request_handler.
mcp._lowlevel_server.add_request_handler("logging/setLevel", SetLevelRequestParams, _set_logging_level)  # noqa: SLF001

handler = lambda_handler(mcp)
