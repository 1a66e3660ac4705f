"""The authorization server's function, run as Lambda runs it, with its synthesized configuration.

Its variables name an SSM parameter (the configuration: its own URL as issuer, the MCP server's URL, the Cognito
pool as upstream provider), a DynamoDB table, an RSA KMS key and the upstream client's secret by name; each is a
stand-in rendered from the template (moto, and the development issuer over HTTPS for the pool). Through its
Function URL: RFC 8414 metadata naming its URL, the JWK Set holding the KMS key's public half (GetPublicKey),
a dynamic client registration kept in the table, a sign-in sent on to the upstream provider (its discovery
document fetched over TLS); an event that is no HTTP request is a 400 response, not a function error. It holds
nothing to close, so SIGTERM ends it as the signal's default action does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import signal
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from cryptography.hazmat.primitives.serialization import load_der_public_key

from mcp_lambda import contract as c
from tests.lambda_runtime.conftest import by_kind
from tests.lambda_runtime.harness import Client

REDIRECT = "http://127.0.0.1:8976/callback"


def b64url_int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


@pytest.mark.timeout(300)
def test_the_authorization_server_function_serves_from_its_synthesized_configuration(deployment):
    (function,) = by_kind(deployment.functions, "authorization")
    configured = deployment.configure(function)
    host, auth_type = deployment.url(function)
    assert auth_type == "NONE", "browsers and clients reach it unsigned"
    config = json.loads(deployment.stand_ins.client("ssm").get_parameter(
        Name=configured.variables[c.MCP_AS_CONFIG_PARAMETER])["Parameter"]["Value"])
    environment = deployment.start(configured)
    try:
        client = Client(environment, host, auth_type)

        metadata = client.http("GET", "/.well-known/oauth-authorization-server")
        assert metadata.status == 200
        assert metadata.json()["issuer"] == config["issuer"] == f"https://{host}"
        assert metadata.json()["registration_endpoint"] == f"https://{host}/register"

        keys = client.http("GET", "/jwks.json").json()["keys"]
        der = deployment.stand_ins.client("kms").get_public_key(KeyId=configured.variables[c.MCP_AS_KMS_KEY_ID])
        public = load_der_public_key(der["PublicKey"]).public_numbers()
        assert [(b64url_int(k["n"]), b64url_int(k["e"]), k["alg"]) for k in keys] == [(public.n, public.e, "RS256")]

        registered = client.post(json.dumps({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none",
                                             "client_name": "harness"}).encode(), path="/register")
        assert registered.status == 201, registered.body
        client_id = registered.json()["client_id"]
        stored = deployment.stand_ins.client("dynamodb").get_item(
            TableName=configured.variables[c.MCP_AS_TABLE],
            Key={c.AS_TABLE_PARTITION_KEY: {"S": f"client#{client_id}"}})
        assert "Item" in stored, "registered clients live in the table"

        verifier = "v" * 64
        query = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "state": "s1",
                 "code_challenge": base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode()
                 .rstrip("="), "code_challenge_method": "S256", "resource": config["resources"][0]}
        sign_in = client.http("GET", "/authorize?" + urlencode(query))
        assert sign_in.status == 302, sign_in.body
        upstream = urlsplit(sign_in.headers["location"])
        assert f"{upstream.scheme}://{upstream.netloc}" == config["upstream"]["issuer"]
        assert parse_qs(upstream.query)["client_id"] == [config["upstream"]["client_id"]]

        kind, answer = environment.invoke({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]})
        assert kind == "response" and answer["statusCode"] == 400
        assert json.loads(answer["body"]) == {"error": "invalid_request"}

        environment.api.wait_idle(timeout=30)  # a guard: it asks for the next event right after answering
        assert environment.shut_down() == -signal.SIGTERM, environment.output()[-3000:]
    finally:
        environment.close()

