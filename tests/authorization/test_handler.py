"""The authorization server's Lambda entry point, built from the environment as deployed: the configuration
from an SSM parameter, the upstream client secret from Secrets Manager (by name), the table in DynamoDB and
the signing key in KMS (all on moto), the upstream a real OIDC provider on loopback."""

from __future__ import annotations

import json

import boto3
import jwt
import pytest
from moto import mock_aws

from mcp_lambda import contract as c
from mcp_lambda.authorization.config import AuthorizationConfig, AuthorizationConfigError
from mcp_lambda.authorization.handler import AuthorizationFunction, service_from_environment
from mcp_lambda.authorization.signing import jwks
from mcp_lambda.local.events import function_url_event, response_parts
from mcp_lambda.local.oidc_issuer import serve_issuer
from mcp_lambda.local.oidc_sign_in import RegisteredClient

ISSUER = "https://auth.example.com"
RESOURCE = "https://mcp.example.com/mcp"


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        yield


@pytest.fixture
def deployed(aws):
    """What McpAuthorizationServer deploys, on moto: the environment the function is given."""
    client = RegisteredClient("as-client", "the-secret", f"{ISSUER}/callback")
    with serve_issuer(client=client) as upstream:
        config = {"issuer": ISSUER, "resources": [RESOURCE],
                  "upstream": {"issuer": upstream.issuer, "client_id": "as-client"},
                  "scope_rules": [{"scope": "messages:write", "groups": ["messages:write"]}]}
        boto3.client("ssm").put_parameter(Name="/mcp/as/config", Value=json.dumps(config), Type="String")
        boto3.client("secretsmanager").create_secret(Name="mcp/as/upstream",
                                                     SecretString=json.dumps({"client_secret": "the-secret"}))
        key_id = boto3.client("kms").create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        boto3.client("dynamodb").create_table(
            TableName="as-table", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": c.AS_TABLE_PARTITION_KEY, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": c.AS_TABLE_PARTITION_KEY, "AttributeType": "S"}])
        yield {c.MCP_AS_CONFIG_PARAMETER: "/mcp/as/config", c.MCP_AS_UPSTREAM_SECRET: "mcp/as/upstream",
               c.MCP_AS_KMS_KEY_ID: key_id, c.MCP_AS_TABLE: "as-table"}, upstream


def call(handler: AuthorizationFunction, method: str, path: str, **kwargs) -> tuple[int, dict[str, str], bytes]:
    status, headers, body = response_parts(handler(function_url_event(method, path, domain_name="auth.example.com",
                                                                      **kwargs)))
    return status, dict(headers), body


def test_the_function_serves_from_what_the_construct_deploys(deployed, monkeypatch):
    environment, upstream = deployed
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(c.MCP_AS_CONFIG, raising=False)
    handler = AuthorizationFunction(service_from_environment)

    status, _, body = call(handler, "GET", "/.well-known/oauth-authorization-server")
    assert status == 200 and json.loads(body)["issuer"] == ISSUER

    status, _, body = call(handler, "GET", "/jwks.json")
    [key] = json.loads(body)["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256", "the KMS key's public half"

    # The upstream client's secret is what the token exchange authenticates with (client_secret_basic).
    assert handler.service.upstream._client_secret == "the-secret"
    # A sign-in starts at the upstream provider named by the parameter.
    registered = call(handler, "POST", "/register", headers={"content-type": "application/json"},
                      body=json.dumps({"redirect_uris": ["http://127.0.0.1:1/cb"],
                                       "token_endpoint_auth_method": "none"}).encode())
    assert registered[0] == 201
    client_id = json.loads(registered[2])["client_id"]
    stored = boto3.client("dynamodb").get_item(TableName="as-table",
                                               Key={c.AS_TABLE_PARTITION_KEY: {"S": f"client#{client_id}"}})
    assert "Item" in stored, "registered clients live in the table"


def test_access_tokens_are_signed_by_the_kms_key(deployed, monkeypatch):
    environment, _ = deployed
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    service = service_from_environment()
    from mcp_lambda.authorization.grants import Grant
    from mcp_lambda.authorization.upstream import Identity

    grant = Grant(Identity("sub-1", "a@company.com", True, None, frozenset()), "client", "messages:write", RESOURCE, 0)
    token = service.access_tokens.issue(grant, "messages:write")
    key = jwt.PyJWK(jwks(service.signer)["keys"][0])
    claims = jwt.decode(token, key, algorithms=["RS256"], audience=RESOURCE, issuer=ISSUER)
    assert claims["sub"] == "sub-1" and jwt.get_unverified_header(token)["typ"] == "at+jwt"


def test_a_malformed_event_is_a_400_not_an_exception(deployed, monkeypatch):
    environment, _ = deployed
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    handler = AuthorizationFunction(service_from_environment)
    reply = handler({"Records": [{"eventSource": "aws:sqs"}]}, None)
    assert reply["statusCode"] == 400 and json.loads(reply["body"]) == {"error": "invalid_request"}


@pytest.mark.parametrize("environ, words", [
    ({}, "neither"),
    ({c.MCP_AS_CONFIG: "{}"}, "not a valid configuration"),
    ({c.MCP_AS_CONFIG: json.dumps({"issuer": "http://auth.example.com", "resources": [RESOURCE],
                                   "upstream": {"issuer": "https://x", "client_id": "y"}})}, "https"),
    ({c.MCP_AS_CONFIG: json.dumps({"issuer": ISSUER, "resources": [],
                                   "upstream": {"issuer": "https://x", "client_id": "y"}})}, "no resources"),
    ({c.MCP_AS_CONFIG: json.dumps({"issuer": ISSUER, "resources": [RESOURCE],
                                   "upstream": {"issuer": "https://x", "client_id": "y", "scope": "email"}})}, "openid"),
])
def test_a_bad_configuration_is_refused_at_start_with_its_reason(environ, words):
    with pytest.raises(AuthorizationConfigError, match=words):
        AuthorizationConfig.from_environment(environ)
