"""SigV4: the proxy signs, the local `AWS_IAM` Function URL verifies, and each side refuses what AWS refuses.

- The verifier (`mcp_lambda.local.sigv4`) recomputes every signature with botocore for known test
  credentials: a request signed by the proxy's signer passes; a wrong secret, an unknown key, a stale or
  future date, a changed body, path, query or signed header, a payload hash that is not the body's, another
  service, temporary credentials without their token, and malformed headers are each refused.
- The proxy's signer (`mcp_lambda_proxy.sigv4`) infers service and region from the URL, refreshes expiring
  credentials (a new key on the next request), never signs for another origin, and turns a failed refresh
  into a one-line JSON-RPC error instead of a dropped connection.
- End to end: `mcp-lambda serve --sigv4` with the test credentials in its environment (the default AWS chain)
  serves the conformance server to signed requests only; the proxy with `--sigv4` lists and calls its
  tools, without `--sigv4` or with the wrong secret it stops with a clear reason, and custom `--header`s
  reach the server.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from pathlib import Path

import anyio
import httpx2
import pytest
from botocore.credentials import Credentials, RefreshableCredentials

from mcp_lambda.local.sigv4 import Refusal, SigV4Verifier
from mcp_lambda_proxy.sigv4 import CredentialsError, SigningTarget, SigV4Auth, infer_target
from mcp_lambda_proxy.upstream import FAILURE_HEADER, ProxyHttpClient, parse_header
from tests.local.serving import serving
from tests.proxy.helpers import ROOT, proxied_client, proxy_env, run_proxy

KEY, SECRET = "AKIDTESTSIGV4", "test-secret-key"
URL = "http://127.0.0.1:8080/conformance/mcp"
BODY = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'
LAMBDA = SigningTarget("lambda", "eu-west-1")


def signed(*, key: str = KEY, secret: str = SECRET, token: str | None = None, url: str = URL, body: bytes = BODY,
           target: SigningTarget = LAMBDA, headers: dict[str, str] | None = None) -> httpx2.Request:
    request = httpx2.Request("POST", url, content=body, headers={"content-type": "application/json",
                                                                  "mcp-method": "ping", **(headers or {})})
    SigV4Auth(url, target, None).sign(request, Credentials(key, secret, token).get_frozen_credentials())
    return request


def verify(request: httpx2.Request, *, verifier: SigV4Verifier | None = None, body: bytes | None = None,
           path: str | None = None, query: str | None = None, now: datetime.datetime | None = None):
    verifier = verifier or SigV4Verifier([Credentials(KEY, SECRET)])
    return verifier.verify(request.method, path or request.url.path, query if query is not None else request.url.query.decode(),
                           request.headers.multi_items(), request.content if body is None else body, now=now)


def signed_at(request: httpx2.Request) -> datetime.datetime:
    return datetime.datetime.strptime(request.headers["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)


def replace_header(request: httpx2.Request, name: str, value: str | None) -> httpx2.Request:
    headers = [(k, v) for k, v in request.headers.items() if k.lower() != name]
    if value is not None:
        headers.append((name, value))
    return httpx2.Request(request.method, request.url, content=request.content, headers=headers)


# --- the verifier ---------------------------------------------------------------------------------


def test_a_request_signed_by_the_proxy_is_accepted_with_the_callers_identity():
    caller = verify(signed())
    assert not isinstance(caller, Refusal), caller
    assert caller["accessKey"] == KEY and caller["userArn"].startswith("arn:aws:iam::")
    # Only what no intermediary changes is signed.
    signed_headers = re.search(r"SignedHeaders=([^,]+)", signed().headers["authorization"]).group(1)
    assert signed_headers == "content-type;host;mcp-method;x-amz-date"


def test_headers_outside_the_signature_may_change_on_the_way():
    request = replace_header(signed(), "user-agent", "rewritten-by-a-proxy/1.0")
    assert not isinstance(verify(request), Refusal)


def _other_service() -> httpx2.Request:
    return signed(target=SigningTarget("execute-api", "eu-west-1"))


def _without(name: str):
    return lambda: replace_header(signed(), name, None)


def _twice_authorized() -> httpx2.Request:
    request = signed()
    return httpx2.Request("POST", request.url, content=request.content,
                          headers=[*request.headers.multi_items(), ("authorization", request.headers["authorization"])])


def _scope_date_of_another_day() -> httpx2.Request:
    request = signed()
    return replace_header(request, "authorization", re.sub(r"/(\d{8})/", "/20200101/", request.headers["authorization"]))


def _host_unsigned() -> httpx2.Request:
    request = signed()
    return replace_header(request, "authorization", request.headers["authorization"].replace(";host", ""))


REFUSED = [
    # (case, the request, what the verifier is given instead of the request's own, reason)
    ("wrong secret key", lambda: signed(secret="not-the-secret"), {}, "does not match"),
    ("unknown access key", lambda: signed(key="AKIDSOMEONEELSE"), {}, "unknown access key"),
    ("body changed after signing", signed, {"body": BODY.replace(b"ping", b"pong")}, "does not match"),
    ("path changed after signing", signed, {"path": "/weather/mcp"}, "does not match"),
    ("query added after signing", signed, {"query": "a=1"}, "does not match"),
    ("signed header changed", lambda: replace_header(signed(), "mcp-method", "tools/call"), {}, "does not match"),
    ("declared payload hash of another body",
     lambda: replace_header(signed(), "x-amz-content-sha256", "0" * 64), {}, "X-Amz-Content-SHA256"),
    ("signed for another service", _other_service, {}, "signed for execute-api"),
    ("no Authorization", _without("authorization"), {}, "no Authorization"),
    ("two Authorization values", _twice_authorized, {}, "more than one"),
    ("not a SigV4 Authorization", lambda: replace_header(signed(), "authorization", "Bearer abc"), {}, "AWS4-HMAC-SHA256"),
    ("no X-Amz-Date", _without("x-amz-date"), {}, "X-Amz-Date"),
    ("scope date other than X-Amz-Date", _scope_date_of_another_day, {}, "scope's date"),
    ("host not among the signed headers", _host_unsigned, {}, "SignedHeaders"),
]


@pytest.mark.parametrize("case, make, given, reason", REFUSED, ids=[row[0] for row in REFUSED])
def test_the_verifier_refuses(case, make, given, reason):
    refusal = verify(make(), **given)
    assert isinstance(refusal, Refusal) and reason in refusal.reason, refusal


@pytest.mark.parametrize("minutes", [-6, 6])
def test_a_signature_more_than_five_minutes_from_now_is_expired(minutes):
    request = signed()
    assert not isinstance(verify(request, now=signed_at(request) + datetime.timedelta(minutes=4)), Refusal)
    refusal = verify(request, now=signed_at(request) + datetime.timedelta(minutes=minutes))
    assert isinstance(refusal, Refusal) and "expired" in refusal.reason


def test_temporary_credentials_need_their_session_token():
    verifier = SigV4Verifier([Credentials(KEY, SECRET, "session-token")])
    assert not isinstance(verify(signed(token="session-token"), verifier=verifier), Refusal)
    assert isinstance(verify(signed(), verifier=verifier), Refusal)
    assert isinstance(verify(signed(token="another-token"), verifier=verifier), Refusal)


def test_a_region_is_checked_when_the_verifier_has_one():
    verifier = SigV4Verifier([Credentials(KEY, SECRET)], region="us-east-1")
    refusal = verify(signed(), verifier=verifier)
    assert isinstance(refusal, Refusal) and "eu-west-1" in refusal.reason


# --- the signer -----------------------------------------------------------------------------------

TARGETS = [
    ("https://abc123def.lambda-url.eu-west-1.on.aws/mcp", {}, ("lambda", "eu-west-1")),
    ("https://a1b2c3.execute-api.ap-southeast-2.amazonaws.com/live/mcp", {}, ("execute-api", "ap-southeast-2")),
    ("https://a1b2c3-vpce-0abc.execute-api.us-west-2.vpce.amazonaws.com/live/mcp", {}, ("execute-api", "us-west-2")),
    ("https://a1b2c3.execute-api.cn-north-1.amazonaws.com.cn/live/mcp", {}, ("execute-api", "cn-north-1")),
    ("https://mcp.example.com/mcp", {"region": "eu-central-1"}, ("execute-api", "eu-central-1")),
    ("https://mcp.example.com/mcp", {"default_region": lambda: "sa-east-1"}, ("execute-api", "sa-east-1")),
    ("https://mcp.example.com/mcp", {"region": "eu-central-1", "service": "lambda"}, ("lambda", "eu-central-1")),
    ("https://abc123def.lambda-url.eu-west-1.on.aws/mcp", {"region": "us-east-2"}, ("lambda", "us-east-2")),
    ("http://127.0.0.1:8080/messaging/mcp", {}, ("lambda", "us-east-1")),
]


@pytest.mark.parametrize("url, given, expected", TARGETS, ids=[f"{row[0]} {sorted(row[1])}" for row in TARGETS])
def test_service_and_region_come_from_the_host_unless_given(url, given, expected):
    assert infer_target(url, **given) == SigningTarget(*expected)


def test_a_custom_domain_without_a_region_is_refused_with_what_to_do():
    with pytest.raises(ValueError, match="--region"):
        infer_target("https://mcp.example.com/mcp")


async def _sign_through(auth: SigV4Auth, url: str) -> httpx2.Request:
    flow = auth.async_auth_flow(httpx2.Request("POST", url, content=BODY))
    request = await flow.__anext__()
    await flow.aclose()
    return request


def test_expiring_credentials_are_refreshed_and_each_request_signed_with_the_current_key():
    issued: list[str] = []

    def refresh() -> dict[str, str]:
        issued.append(f"ASIAREFRESHED{len(issued)}")
        expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=1)  # inside botocore's refresh window
        return {"access_key": issued[-1], "secret_key": SECRET, "token": "t", "expiry_time": expiry.isoformat()}

    credentials = RefreshableCredentials.create_from_metadata(refresh(), refresh, "test")
    auth = SigV4Auth(URL, LAMBDA, credentials)
    first = anyio.run(_sign_through, auth, URL)
    second = anyio.run(_sign_through, auth, URL)
    keys = [re.search(r"Credential=([^/]+)/", r.headers["authorization"]).group(1) for r in (first, second)]
    assert keys[0] != keys[1] and set(keys) <= set(issued)
    assert second.headers["x-amz-security-token"] == "t"
    latest = SigV4Verifier([Credentials(keys[1], SECRET, "t")])
    assert not isinstance(verify(second, verifier=latest), Refusal)


def test_requests_to_another_origin_are_not_signed():
    auth = SigV4Auth(URL, LAMBDA, Credentials(KEY, SECRET))
    assert "authorization" in anyio.run(_sign_through, auth, URL.replace("/conformance", "/weather")).headers
    assert "authorization" not in anyio.run(_sign_through, auth, "http://127.0.0.1:9999/mcp").headers
    assert "authorization" not in anyio.run(_sign_through, auth, "https://127.0.0.1:8080/mcp").headers


def test_a_failed_refresh_is_one_json_rpc_error_not_a_dropped_connection():
    def refuse() -> dict[str, str]:
        raise RuntimeError("The SSO session associated with this profile has expired")

    expired = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)
    credentials = RefreshableCredentials.create_from_metadata(
        {"access_key": KEY, "secret_key": SECRET, "token": "t", "expiry_time": expired.isoformat()}, refuse, "test")

    async def post() -> httpx2.Response:
        async with ProxyHttpClient(auth=SigV4Auth(URL, LAMBDA, credentials, description="AWS credentials of profile 'dev'")) as client:
            client.report_failures = False
            return await client.post(URL, content=BODY)

    response = anyio.run(post)
    assert response.status_code == 401 and response.headers[FAILURE_HEADER] == "sign-in-failed"
    message = response.json()["error"]["message"]
    assert "AWS credentials of profile 'dev'" in message and "SSO session" in message


def test_credentials_error_is_what_a_missing_chain_raises():
    from mcp_lambda_proxy.sigv4 import credential_source

    with pytest.raises(CredentialsError, match="no-such-profile"):
        credential_source("no-such-profile")


HEADERS = [
    ("X-Api-Key=abc123", ("x-api-key", "abc123")),
    ("Authorization: Bearer t0k3n", ("authorization", "Bearer t0k3n")),
    ("x-route=a=b", ("x-route", "a=b")),
]


@pytest.mark.parametrize("argument, expected", HEADERS)
def test_header_arguments(argument, expected):
    assert parse_header(argument) == expected


@pytest.mark.parametrize("argument", ["no-separator", "bad name=1", "Host=example.com", "Mcp-Session-Id=1",
                                      "Content-Type: text/plain", "x-a=line\nbreak"])
def test_header_arguments_refused(argument):
    with pytest.raises(ValueError):
        parse_header(argument)


# --- end to end: the proxy and `mcp-lambda serve --sigv4` -------------------------------------------


@pytest.fixture(scope="module")
def signed_server(tmp_path_factory):
    """`mcp-lambda serve servers/conformance --sigv4` with the test credentials as its AWS chain."""
    home = tmp_path_factory.mktemp("serve-home")
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(HOME=str(home), AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET, AWS_EC2_METADATA_DISABLED="true")
    with serving("servers/conformance", "--sigv4", cwd=ROOT, env=env) as (_, urls):
        yield urls["conformance"]


def aws_env(tmp_path: Path, secret: str = SECRET) -> dict[str, str]:
    return proxy_env(tmp_path / "config", AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=secret,
                     AWS_EC2_METADATA_DISABLED="true")


def test_unsigned_requests_get_what_an_aws_iam_function_url_answers(signed_server):
    response = httpx2.post(signed_server, content=BODY, headers={"content-type": "application/json"})
    assert response.status_code == 403 and response.json() == {"Message": "Forbidden"}


def test_the_proxy_with_sigv4_reaches_the_aws_iam_endpoint(signed_server, tmp_path):
    async def session() -> tuple[list[str], str]:
        async with proxied_client("signed", signed_server, "--sigv4", env=aws_env(tmp_path),
                                  stderr=tmp_path / "stderr") as client:
            tools = [tool.name for tool in (await client.list_tools()).tools]
            result = await client.call_tool("test_simple_text", {})
            return tools, result.content[0].text

    tools, text = anyio.run(session)
    assert "test_simple_text" in tools and text


def test_custom_headers_go_to_the_server_only_and_outside_the_signature(signed_server, tmp_path):
    seen: dict[str, httpx2.Headers] = {}

    async def exchange() -> None:
        def record(request: httpx2.Request) -> httpx2.Response:
            seen[str(request.url)] = request.headers
            return httpx2.Response(200, json={})

        async with ProxyHttpClient(transport=httpx2.MockTransport(record), server_url=URL,
                                   server_headers=[("x-team", "blue")]) as client:
            await client.post(URL, content=BODY)
            await client.post("https://auth.example.com/token", content=b"")

    anyio.run(exchange)
    assert seen[URL]["x-team"] == "blue" and "x-team" not in seen["https://auth.example.com/token"]
    # Through the real proxy and server: a signed request carrying the header still verifies.
    done = run_proxy("signed", signed_server, "--sigv4", "--header", "X-Team=blue", "--check", env=aws_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "requests signed, ready" in done.stdout


@pytest.mark.parametrize("extra, secret, expected", [
    ((), SECRET, "if it is an AWS_IAM endpoint, connect with --sigv4"),
    (("--sigv4",), "not-the-secret", "refused the signed request (HTTP 403)"),
])
def test_the_proxy_stops_with_the_reason_when_the_endpoint_refuses(signed_server, tmp_path, extra, secret, expected):
    done = run_proxy("signed", signed_server, *extra, "--check", env=aws_env(tmp_path, secret))
    assert done.returncode == 1 and expected in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_the_claude_entry_keeps_the_signing_options(tmp_path):
    config = tmp_path / "claude.json"
    done = run_proxy("signed", "https://abc123def.lambda-url.eu-west-1.on.aws/mcp", "--sigv4", "--header", "X-Team=blue",
                     "--claude", "--claude-config", str(config), env={**aws_env(tmp_path), "AWS_PROFILE": "dev"})
    assert done.returncode == 0, done.stderr
    args = json.loads(config.read_text())["mcpServers"]["signed"]["args"]
    assert args[args.index("--profile") + 1] == "dev" and "--sigv4" in args
    assert args[args.index("--header") + 1] == "x-team=blue"
