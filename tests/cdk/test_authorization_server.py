"""McpAuthorizationServer: the function, table, signing key, parameter and upstream client the runtime's
authorization server (mcp_lambda/authorization/) needs, with exactly its permissions, an environment of names
only, no circular dependency although everything refers to the URLs, a configuration the runtime parses, and
protected servers that trust it first and accept the tokens it binds to them."""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk
import jwt
import pytest
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Annotations, Match, Template
from cryptography.hazmat.primitives.asymmetric import rsa

from mcp_lambda import contract as c
from mcp_lambda.auth.config import AuthConfig
from mcp_lambda.auth.gate import AuthGate
from mcp_lambda.auth.policy import Access, requires
from mcp_lambda.authorization.config import AuthorizationConfig
from mcp_lambda.authorization.grants import AccessTokens, Grant
from mcp_lambda.authorization.handler import AuthorizationFunction, callback_url
from mcp_lambda.authorization.signing import PemSigner, jwks
from mcp_lambda.authorization.upstream import Identity
from mcp_lambda.events import parse_event
from mcp_lambda.local.events import function_url_event
from mcp_lambda_cdk import McpAuthorizationServer, McpAuthorizationServerOptions, McpLambdaService, ScopeRule
from mcp_lambda_cdk.authorization_server import AUTHORIZATION_HANDLER, SIGNING_ACTIONS, STORE_ACTIONS
from mcp_lambda_cdk.bundling import PythonBundle, runtime_requirement
from mcp_lambda_cdk.lambda_service import McpEndpoint
from mcp_lambda_cdk.oidc_auth import McpOidcAuth
from mcp_lambda_cdk.tasks import TABLE_KEY_ACTIONS
from tests.cdk.conftest import spec
from tests.cdk.test_oidc_auth import dependency_cycle, references

SECURE = spec("secure-messaging", sign_in=True, scopes=("messages:write",))
AS_HOST = "abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws"
MCP_HOST = "zyxwvutsrqponmlkjihgfedcba543210.lambda-url.eu-west-1.on.aws"
POOL = "cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
GOOGLE = "https://accounts.google.com"


# -- helpers ---------------------------------------------------------------------------------------------------


def build(make_app, *, service_props: Mapping[str, Any] | None = None, **props: Any):
    """A created pool (as McpServerStack makes it), the authorization server in front of it, one server it protects."""
    stack = cdk.Stack(make_app(), "TestStack")
    auth = McpOidcAuth(stack, "Auth", create_user_pool=True, scopes=["messages:write"])
    server = McpAuthorizationServer(stack, "AuthorizationServer", user_pool=auth.user_pool,
                                    user_pool_domain=auth.user_pool_domain, also_trusted=auth.providers, **props)
    service = McpLambdaService(stack, "Secure", server=SECURE, auth=server, **(service_props or {}))
    return stack, auth, server, service, Template.from_stack(stack)


def logical_id(stack: cdk.Stack, construct: Any) -> str:
    return stack.get_logical_id(construct.node.default_child)


def evaluate(value: Any, known: Mapping[str, Any]) -> Any:
    """A template value as CloudFormation would resolve it, given the values of references (``Ref`` by logical
    id, ``Fn::GetAtt`` as ``Id.Attribute``, pseudo parameters by name)."""
    if isinstance(value, (str, int)):
        return value
    if isinstance(value, list):
        return [evaluate(item, known) for item in value]
    ((kind, argument),) = value.items()
    if kind == "Ref":
        return known[argument]
    if kind == "Fn::GetAtt":
        return known[".".join(argument)]
    if kind == "Fn::Join":
        return argument[0].join(evaluate(part, known) for part in argument[1])
    if kind == "Fn::Split":
        return evaluate(argument[1], known).split(argument[0])
    if kind == "Fn::Select":
        return evaluate(argument[1], known)[argument[0]]
    raise AssertionError(f"unexpected intrinsic {kind}")


def deployed_values(stack: cdk.Stack, auth: McpOidcAuth, server: McpAuthorizationServer,
                    service: McpLambdaService) -> dict[str, Any]:
    """What CloudFormation would fill in for the references the configurations hold."""
    return {
        f"{logical_id(stack, server.function_url)}.FunctionUrl": f"https://{AS_HOST}/",
        f"{logical_id(stack, service.url)}.FunctionUrl": f"https://{MCP_HOST}/",
        f"{logical_id(stack, auth.user_pool)}.ProviderURL": POOL,
        logical_id(stack, auth.user_pool_client): "proxy-client",
        **({logical_id(stack, server.upstream_client): "as-client"} if server.upstream_client else {}),
        "AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012",
    }


def function_of(stack: cdk.Stack, template: Template, function: lambda_.Function) -> dict[str, Any]:
    return template.to_json()["Resources"][logical_id(stack, function)]["Properties"]


def parameter_value(stack: cdk.Stack, template: Template, server: McpAuthorizationServer, known) -> str:
    parameter = template.to_json()["Resources"][logical_id(stack, server.config_parameter)]["Properties"]
    return evaluate(parameter["Value"], known)


def statements(stack: cdk.Stack, template: Template, role: Any) -> list[dict[str, Any]]:
    (policy,) = template.find_resources(
        "AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": logical_id(stack, role)}]}}
    ).values()
    return policy["Properties"]["PolicyDocument"]["Statement"]


def arn(stack: cdk.Stack, construct: Any) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id(stack, construct), "Arn"]}


# -- the resources ---------------------------------------------------------------------------------------------


def test_the_table_is_the_runtime_stores_with_ttl_pitr_and_the_servers_key(make_app) -> None:
    stack, _, server, _, template = build(make_app)
    template.resource_count_is("AWS::DynamoDB::Table", 1)
    template.has_resource_properties("AWS::DynamoDB::Table", {
        # mcp_lambda/authorization/store.py: partition key pk (S), no sort key, TTL on expires_at
        "KeySchema": [{"AttributeName": c.AS_TABLE_PARTITION_KEY, "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": c.AS_TABLE_PARTITION_KEY, "AttributeType": "S"}],
        "TimeToLiveSpecification": {"AttributeName": c.AS_TABLE_TTL_ATTRIBUTE, "Enabled": True},
        "BillingMode": "PAY_PER_REQUEST",
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": arn(stack, server.encryption_key)},
    })
    template.has_resource("AWS::DynamoDB::Table", {"DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete"})


def test_the_signing_key_is_rsa_2048_for_signing_only_and_follows_the_removal_policy(make_app) -> None:
    stack, _, server, _, template = build(make_app, removal_policy=cdk.RemovalPolicy.RETAIN)
    key = template.to_json()["Resources"][logical_id(stack, server.signing_key)]
    assert key["Properties"]["KeySpec"] == "RSA_2048" and key["Properties"]["KeyUsage"] == "SIGN_VERIFY"
    assert "EnableKeyRotation" not in key["Properties"], "KMS cannot rotate asymmetric keys"
    assert key["Properties"]["PendingWindowInDays"] == 7
    assert (key["DeletionPolicy"], key["UpdateReplacePolicy"]) == ("Retain", "Retain")
    template.has_resource("AWS::DynamoDB::Table", {"DeletionPolicy": "Retain"})


def test_the_function_is_the_runtimes_handler_on_arm64_outside_any_vpc_with_a_capped_concurrency(make_app) -> None:
    stack, _, server, _, template = build(make_app)
    function = function_of(stack, template, server.function)
    assert function["Handler"] == AUTHORIZATION_HANDLER
    module, _, name = AUTHORIZATION_HANDLER.rpartition(".")
    assert isinstance(getattr(importlib.import_module(module), name), AuthorizationFunction)
    assert (function["Runtime"], function["Architectures"], function["Timeout"]) == ("python3.13", ["arm64"], 30)
    assert "VpcConfig" not in function, "it reaches the upstream provider and metadata documents on the internet"
    assert function["ReservedConcurrentExecutions"] == 20
    assert function["KmsKeyArn"] == arn(stack, server.encryption_key)
    assert function["LoggingConfig"] == {"LogGroup": {"Ref": logical_id(stack, server.log_group)}}
    template.has_resource_properties("AWS::Logs::LogGroup", {
        "RetentionInDays": 30, "KmsKeyId": arn(stack, server.encryption_key)})


def test_concurrency_is_a_prop(make_app) -> None:
    stack, _, server, _, template = build(make_app, reserved_concurrent_executions=50)
    assert function_of(stack, template, server.function)["ReservedConcurrentExecutions"] == 50
    stack, _, server, _, template = build(make_app, cap_public_concurrency=False)
    assert "ReservedConcurrentExecutions" not in function_of(stack, template, server.function)


def test_the_bundle_is_the_runtime_with_its_authorization_extra_and_nothing_of_ours() -> None:
    bundle = PythonBundle.for_runtime("authorization", extras=("authorization",),
                                      runtime=lambda_.Runtime.PYTHON_3_13, architecture=lambda_.Architecture.ARM_64)
    assert bundle.requirements == (runtime_requirement(("authorization",)),)
    assert bundle.requirements[0].startswith("mcp-lambda-runtime[authorization]==")
    assert bundle.packages == () and bundle.source_files() == []
    assert [source.name for source in bundle.local_sources] == ["mcp-lambda-runtime"]
    assert bundle.package == "authorization" and bundle.cpu == "aarch64"


def test_the_url_is_public_on_the_live_alias(make_app) -> None:
    stack, _, server, _, template = build(make_app)
    template.has_resource_properties("AWS::Lambda::Url", {
        "AuthType": "NONE", "Qualifier": "live", "TargetFunctionArn": arn(stack, server.function)})
    template.has_resource_properties("AWS::Lambda::Alias", {
        "Name": "live", "FunctionName": {"Ref": logical_id(stack, server.function)}})


# -- names, not references: no cycle ---------------------------------------------------------------------------


def test_the_environment_holds_names_and_nothing_that_depends_on_the_function(make_app) -> None:
    stack, _, server, _, template = build(make_app)
    resources = template.to_json()["Resources"]
    variables = function_of(stack, template, server.function)["Environment"]["Variables"]
    parameter = resources[logical_id(stack, server.config_parameter)]["Properties"]
    secret = resources[logical_id(stack, server.upstream_secret)]["Properties"]

    # The parameter and the secret are named literally, from the stack's name and the construct's path
    assert variables[c.MCP_AS_CONFIG_PARAMETER] == parameter["Name"]
    assert variables[c.MCP_AS_UPSTREAM_SECRET] == secret["Name"]
    assert parameter["Name"].startswith("/mcp/TestStack/AuthorizationServer-")
    assert secret["Name"].startswith("mcp/TestStack/AuthorizationServer-") and secret["Name"].endswith("/upstream")
    # The table and the signing key are references: they depend on nothing of the authorization server
    assert variables[c.MCP_AS_TABLE] == {"Ref": logical_id(stack, server.table)}
    assert variables[c.MCP_AS_KMS_KEY_ID] == {"Ref": logical_id(stack, server.signing_key)}
    assert variables[c.POWERTOOLS_SERVICE_NAME] == "mcp-authorization"
    assert set(variables) == {c.MCP_AS_CONFIG_PARAMETER, c.MCP_AS_UPSTREAM_SECRET, c.MCP_AS_TABLE,
                              c.MCP_AS_KMS_KEY_ID, c.POWERTOOLS_SERVICE_NAME}

    # And nothing the function or its role's policy refers to depends on the function, directly or not
    function_id = logical_id(stack, server.function)
    dependents = _dependents(resources, function_id)
    for referrer in (function_id, logical_id(stack, server.role.node.find_child("DefaultPolicy"))):
        assert references(resources[referrer]["Properties"]) & dependents == set(), referrer


def _dependents(resources: dict[str, Any], target: str) -> set[str]:
    """The resources that reach ``target`` through references or DependsOn."""
    edges = {}
    for name, resource in resources.items():
        depends_on = resource.get("DependsOn", [])
        edges[name] = references(resource.get("Properties", {})) | set(
            [depends_on] if isinstance(depends_on, str) else depends_on)
    found, changed = {target}, True
    while changed:
        changed = False
        for name, targets in edges.items():
            if name not in found and targets & found:
                found.add(name)
                changed = True
    return found - {target}


def test_the_configuration_and_the_callback_refer_to_the_urls_without_a_cycle(make_app) -> None:
    # Synthesis ran CloudFormation's own validation (cdk.json): a circular template would have failed it
    stack, _, server, service, template = build(make_app)
    resources = template.to_json()["Resources"]
    assert dependency_cycle(template.to_json()) is None
    parameter = logical_id(stack, server.config_parameter)
    assert {logical_id(stack, server.function_url), logical_id(stack, service.url),
            logical_id(stack, server.upstream_client)} <= references(resources[parameter]["Properties"])
    client = resources[logical_id(stack, server.upstream_client)]["Properties"]
    assert logical_id(stack, server.function_url) in references(client["CallbackURLs"])


@pytest.mark.parametrize("shortcut", ["parameter in the environment", "parameter granted by reference",
                                      "secret in the environment"])
def test_referring_to_the_parameter_or_secret_would_be_circular(make_app, shortcut: str) -> None:
    # The negative control for the test above: what the literal names avoid.
    stack = cdk.Stack(make_app(), "TestStack")
    auth = McpOidcAuth(stack, "Auth", create_user_pool=True, scopes=["messages:write"])
    server = McpAuthorizationServer(stack, "AuthorizationServer", user_pool=auth.user_pool,
                                    user_pool_domain=auth.user_pool_domain)
    McpLambdaService(stack, "Secure", server=SECURE, auth=server)
    if shortcut == "parameter in the environment":
        server.function.add_environment("SHORTCUT", server.config_parameter.parameter_arn)
    elif shortcut == "parameter granted by reference":
        server.config_parameter.grant_read(server.function)
    else:
        server.function.add_environment("SHORTCUT", server.upstream_secret.secret_arn)
    with pytest.raises(RuntimeError, match="ValidationFailed|Circular"):
        Template.from_stack(stack)


def test_the_parameters_name_follows_its_value_and_nothing_else(make_app) -> None:
    def name(**props: Any) -> str:
        stack, _, server, _, template = build(make_app, **props)
        return template.to_json()["Resources"][logical_id(stack, server.config_parameter)]["Properties"]["Name"]

    # The same app twice: the same name (a new name publishes a new version, moving the alias)
    assert name() == name()
    # Another configuration: another name, so every environment reads the new one
    assert name() != name(access_token_lifetime=cdk.Duration.minutes(30))
    assert name() != name(scope_rules=[ScopeRule("messages:write", everyone=True)])


# -- permissions ---------------------------------------------------------------------------------------------------


def test_the_role_may_do_exactly_what_the_runtime_calls(make_app) -> None:
    stack, _, server, _, template = build(make_app)
    resources = template.to_json()["Resources"]
    parameter = resources[logical_id(stack, server.config_parameter)]["Properties"]["Name"]
    secret = resources[logical_id(stack, server.upstream_secret)]["Properties"]["Name"]

    def built_arn(service: str, resource: str) -> dict[str, Any]:
        return {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":{service}:", {"Ref": "AWS::Region"}, ":",
                                  {"Ref": "AWS::AccountId"}, resource]]}

    assert statements(stack, template, server.role) == [
        {"Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Effect": "Allow", "Resource": arn(stack, server.log_group)},
        # store.py: get_item, put_item, update_item (swap), delete_item (take, delete)
        {"Action": sorted(STORE_ACTIONS), "Effect": "Allow", "Resource": arn(stack, server.table)},
        # what DynamoDB (and Secrets Manager, for the created secret) need of the caller on the key they use
        {"Action": sorted(TABLE_KEY_ACTIONS), "Effect": "Allow", "Resource": arn(stack, server.encryption_key)},
        # signing.py: the public key once, then a signature per token
        {"Action": sorted(SIGNING_ACTIONS), "Effect": "Allow", "Resource": arn(stack, server.signing_key)},
        # by the name the function is given, never by reference
        {"Action": "ssm:GetParameter", "Effect": "Allow", "Resource": built_arn("ssm", f":parameter{parameter}")},
        {"Action": "secretsmanager:GetSecretValue", "Effect": "Allow",
         "Resource": built_arn("secretsmanager", f":secret:{secret}-??????")},
    ]


# -- the configuration the runtime reads ---------------------------------------------------------------------------


def test_the_parameter_holds_what_the_runtime_parses(make_app) -> None:
    # Given the synthesized parameter, with what CloudFormation would fill in
    stack, auth, server, service, template = build(make_app)
    known = deployed_values(stack, auth, server, service)

    # When the runtime reads it
    config = AuthorizationConfig.parse(parameter_value(stack, template, server, known))

    # Then it is this server, for the protected server's resource, in front of the pool through its own client
    assert config.issuer == f"https://{AS_HOST}"
    assert config.resources == (f"https://{MCP_HOST}/mcp",)
    assert (config.upstream.issuer, config.upstream.client_id) == (f"https://{POOL}", "as-client")
    assert config.upstream.scope == "openid email profile" and config.upstream.client_secret is None
    assert [(r.scope, r.groups, r.everyone) for r in config.scope_rules] == [("messages:write", ("messages:write",), False)]
    assert (config.access_token_lifetime, config.refresh_token_lifetime) == (3600, 30 * 24 * 3600)
    assert config.resource_name(f"https://{MCP_HOST}/mcp") == "secure-messaging"
    assert config.allow_private_metadata_urls is False, "client metadata only from public addresses when deployed"
    # And the Cognito client sends people back to exactly the runtime's callback
    client = template.to_json()["Resources"][logical_id(stack, server.upstream_client)]["Properties"]
    assert [evaluate(url, known) for url in client["CallbackURLs"]] == [callback_url(config)]


def test_props_reach_the_configuration(make_app) -> None:
    stack, auth, server, service, template = build(
        make_app,
        allowed_domains=["Company.com"],
        scope_rules=[ScopeRule("messages:write", groups=["writers"], domains=["Company.com"]),
                     ScopeRule("messages:read", everyone=True)],
        resource_names={"secure-messaging": "Team messages"},
        access_token_lifetime=cdk.Duration.minutes(10),
        refresh_token_lifetime=cdk.Duration.days(7),
    )
    config = AuthorizationConfig.parse(parameter_value(stack, template, server, deployed_values(stack, auth, server, service)))
    assert config.upstream.allowed_domains == ("company.com",)
    assert [(r.scope, r.groups, r.domains, r.everyone) for r in config.scope_rules] == [
        ("messages:write", ("writers",), ("company.com",), False), ("messages:read", (), (), True)]
    assert config.resource_name(f"https://{MCP_HOST}/mcp") == "Team messages"
    assert (config.access_token_lifetime, config.refresh_token_lifetime) == (600, 7 * 24 * 3600)


def test_the_cognito_client_is_confidential_with_the_code_flow_and_short_tokens(make_app) -> None:
    stack, auth, server, _, template = build(make_app)
    template.has_resource_properties("AWS::Cognito::UserPoolClient", {
        "UserPoolId": {"Ref": logical_id(stack, auth.user_pool)},
        "GenerateSecret": True,
        "AllowedOAuthFlows": ["code"],
        "AllowedOAuthFlowsUserPoolClient": True,
        "AllowedOAuthScopes": ["openid", "email", "profile"],
        "ExplicitAuthFlows": ["ALLOW_REFRESH_TOKEN_AUTH"],  # the pool's sign-in pages only
        "SupportedIdentityProviders": ["COGNITO"],
        "IdTokenValidity": 5, "AccessTokenValidity": 5, "RefreshTokenValidity": 60,
        "TokenValidityUnits": {"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "minutes"},
    })
    # Its secret goes to Secrets Manager from CloudFormation's own attribute, under the server's key
    secret = template.to_json()["Resources"][logical_id(stack, server.upstream_secret)]["Properties"]
    assert secret["SecretString"] == {"Fn::Join": ["", ['{"client_secret":"', {"Fn::GetAtt": [
        logical_id(stack, server.upstream_client), "ClientSecret"]}, '"}']]}
    assert secret["KmsKeyId"] == arn(stack, server.encryption_key)
    template.resource_count_is("AWS::Lambda::Function", 3)  # the pool's trigger, the server, the MCP server
    # The given domain is used (a pool has one), and the configuration waits for it
    template.resource_count_is("AWS::Cognito::UserPoolDomain", 1)
    template.has_resource("AWS::SSM::Parameter", {"DependsOn": [logical_id(stack, auth.user_pool_domain)]})


def test_a_pool_given_without_its_domain_gets_one(make_app) -> None:
    stack = cdk.Stack(make_app(), "TestStack")
    pool = cognito.UserPool.from_user_pool_id(stack, "Pool", "eu-west-1_AbCdEf123")
    server = McpAuthorizationServer(stack, "AuthorizationServer", user_pool=pool)
    McpLambdaService(stack, "Secure", server=SECURE, auth=server)
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::Cognito::UserPoolDomain", {
        "UserPoolId": "eu-west-1_AbCdEf123", "Domain": Match.any_value()})
    assert server.user_pool_domain is not None


# -- the protected servers ------------------------------------------------------------------------------------------


def test_a_protected_server_trusts_it_first_and_accepts_the_tokens_it_binds_to_that_server(make_app) -> None:
    # Given the protected server's MCP_AUTH_CONFIG and the authorization server's configuration, as deployed
    stack, auth, server, service, template = build(make_app)
    known = deployed_values(stack, auth, server, service)
    variables = function_of(stack, template, service.function)["Environment"]["Variables"]
    auth_config = AuthConfig.from_json(evaluate(variables[c.MCP_AUTH_CONFIG], known))
    config = AuthorizationConfig.parse(parameter_value(stack, template, server, known))
    assert [(p.issuer, p.audiences, p.jwks_uri) for p in auth_config.providers] == [
        (config.issuer, (), f"{config.issuer}/jwks.json"),
        (f"https://{POOL}", ("proxy-client",), None),
    ]
    assert auth_config.resource is None

    # And a token the authorization server issues for the resource it lists (RFC 8707: aud is that resource)
    signer = PemSigner(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    identity = Identity("person-1", "alice@company.com", True, "Alice", frozenset({"messages:write"}))
    tokens = AccessTokens(config.issuer, signer, config.access_token_lifetime)
    token = tokens.issue(Grant(identity, "client-1", "messages:write", config.resources[0], 0), "messages:write")
    elsewhere = tokens.issue(Grant(identity, "client-1", "messages:write", "https://other.example.com/mcp", 0),
                             "messages:write")

    # When the protected server's sign-in gate meets them on a request to its Function URL
    gate = AuthGate(Access(tools={"post_message": requires("messages:write")}), auth_config, "secure-messaging")
    gate.validator._keys[config.issuer]._keys = {k["kid"]: k for k in jwks(signer)["keys"]}  # its JWKS, fetched
    gate.validator._keys[config.issuer]._fetched_at = float("inf")

    def decide(bearer: str):
        event = function_url_event(domain_name=MCP_HOST, headers=[("authorization", f"Bearer {bearer}")],
                                   body=b"{}")
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "post_message"}}
        return gate.decide(parse_event(event), [call], service.mcp_path)

    # Then the resource the server derives is the one listed, its token passes with its scope, another's fails
    request = parse_event(function_url_event(domain_name=MCP_HOST))
    assert gate.resource(request, service.mcp_path) == config.resources[0]
    decision = decide(token)
    assert decision.refusal is None and decision.caller.issuer == config.issuer
    assert "messages:write" in decision.caller.scopes
    refused = decide(elsewhere)
    assert refused.refusal is not None and refused.refusal.status == 401
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == config.resources[0]
    # And its RFC 9728 metadata sends clients to the authorization server first
    metadata = json.loads(gate.metadata(parse_event(function_url_event("GET", "/.well-known/oauth-protected-resource/mcp",
                                                                       domain_name=MCP_HOST)),
                                        service.mcp_path).body)
    assert metadata["authorization_servers"][0] == config.issuer and metadata["resource"] == config.resources[0]


def test_sign_in_failures_are_watched_as_mcp_oidc_auth_watches_them(make_app) -> None:
    stack, _, server, service, template = build(make_app)
    template.has_resource_properties("AWS::Logs::MetricFilter", {
        "FilterPattern": '{ $.message = "AUTH_FAILURE" }', "LogGroupName": {"Ref": logical_id(stack, service.log_group)}})
    template.has_resource_properties("AWS::CloudWatch::Alarm", {
        "MetricName": "AuthFailures", "Dimensions": [{"Name": "service", "Value": "secure-messaging"}], "Threshold": 20})
    template.has_resource_properties("AWS::Logs::QueryDefinition", {"Name": "TestStack/secure-messaging/auth-failures"})
    assert [p.service for p in server.protected] == [service]
    assert server.metric_auth_failures().dimensions == {"service": "secure-messaging"}


def test_the_function_raises_alarms_and_joins_the_protected_servers_dashboard(make_app) -> None:
    stack = cdk.Stack(make_app(), "Alarmed")
    topic = sns.Topic(stack, "Topic")
    auth = McpOidcAuth(stack, "Auth", create_user_pool=True)
    server = McpAuthorizationServer(stack, "AuthorizationServer", user_pool=auth.user_pool,
                                    user_pool_domain=auth.user_pool_domain, alarm_topic=topic)
    McpLambdaService(stack, "Secure", server=SECURE, auth=server)
    template = Template.from_stack(stack)
    for metric in ("Errors", "Throttles"):
        template.has_resource_properties("AWS::CloudWatch::Alarm", {
            "Namespace": "AWS/Lambda", "MetricName": metric, "Statistic": "Sum", "Period": 300, "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching",
            "Dimensions": Match.array_with([{"Name": "Resource", "Value": {"Fn::Join": ["", [
                {"Ref": logical_id(stack, server.function)}, ":live"]]}}]),
            "AlarmActions": [{"Ref": logical_id(stack, topic)}], "OKActions": [{"Ref": logical_id(stack, topic)}],
        })
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    assert "Authorization server: requests and errors" in body and "Authorization server alarms" in body
    assert server.metric_throttles().metric_name == "Throttles"


def test_a_rest_api_with_a_custom_domain_is_protected_at_that_domain(make_app) -> None:
    stack = cdk.Stack(make_app(), "TestStack")
    certificate = acm.Certificate.from_certificate_arn(
        stack, "Certificate", "arn:aws:acm:eu-west-1:123456789012:certificate/abc")
    auth = McpOidcAuth(stack, "Auth", create_user_pool=True)
    server = McpAuthorizationServer(stack, "AuthorizationServer", user_pool=auth.user_pool,
                                    user_pool_domain=auth.user_pool_domain)
    service = McpLambdaService(stack, "Secure", server=SECURE, auth=server, endpoint=McpEndpoint.rest_api(
        domain_name=apigw.DomainNameOptions(domain_name="mcp.company.com", certificate=certificate)))
    # The root mapping's domain (the DomainName resource's Ref is the name): what requestContext.domainName says
    domain = logical_id(stack, service.api.domain_name)
    assert [stack.resolve(r) for r in server.resources] == [{"Fn::Join": ["", ["https://", {"Ref": domain}, "/mcp"]]}]


def test_a_rest_api_on_its_execute_api_url_is_refused(make_app) -> None:
    stack = cdk.Stack(make_app(), "TestStack")
    auth = McpOidcAuth(stack, "Auth", create_user_pool=True)
    server = McpAuthorizationServer(stack, "AuthorizationServer", user_pool=auth.user_pool,
                                    user_pool_domain=auth.user_pool_domain)
    with pytest.raises(ValueError, match="custom domain"):
        McpLambdaService(stack, "Secure", server=SECURE, auth=server, endpoint=McpEndpoint.rest_api())


def test_a_given_resource_is_listed_and_configured(make_app) -> None:
    stack, auth, server, service, template = build(make_app, resource="https://mcp.company.com/mcp")
    assert server.resources == ["https://mcp.company.com/mcp"]
    variables = function_of(stack, template, service.function)["Environment"]["Variables"]
    config = AuthConfig.from_json(evaluate(variables[c.MCP_AUTH_CONFIG], deployed_values(stack, auth, server, service)))
    assert config.resource == "https://mcp.company.com/mcp"


def test_several_servers_each_become_a_resource_with_their_scopes(make_app) -> None:
    stack, auth, server, service, _ = build(make_app)
    other = McpLambdaService(stack, "Reports", server=spec("reports", sign_in=True, scopes=("reports:run",)),
                             auth=server)
    assert len(server.resources) == 2 and [p.service for p in server.protected] == [service, other]
    assert [r.scope for r in server.scope_rules] == ["messages:write", "reports:run"]
    with pytest.raises(ValueError, match="already protected"):
        server.protect(service)


# -- another OpenID Connect provider ---------------------------------------------------------------------------------


def test_any_oidc_provider_with_a_client_registered_by_hand(make_app) -> None:
    stack = cdk.Stack(make_app(), "TestStack")
    secret = secretsmanager.Secret(stack, "GoogleSecret")
    server = McpAuthorizationServer(stack, "AuthorizationServer", upstream_issuer=GOOGLE,
                                    upstream_client_id="123-abc.apps.googleusercontent.com",
                                    upstream_client_secret=secret, allowed_domains=["company.com"])
    service = McpLambdaService(stack, "Secure", server=SECURE, auth=server)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::Cognito::UserPoolClient", 0)
    template.resource_count_is("AWS::SecretsManager::Secret", 2)  # the given one, the server's requestState key
    variables = function_of(stack, template, server.function)["Environment"]["Variables"]
    assert variables[c.MCP_AS_UPSTREAM_SECRET] == {"Ref": logical_id(stack, secret)}  # depends on nothing here
    read = [s for s in statements(stack, template, server.role) if "secretsmanager:GetSecretValue" in s["Action"]]
    assert read == [{"Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"], "Effect": "Allow",
                     "Resource": {"Ref": logical_id(stack, secret)}}]
    # The redirect URI to register is an output
    outputs = template.to_json()["Outputs"]
    (callback,) = (o for name, o in outputs.items() if name.startswith("AuthorizationServerCallbackUrl"))
    known = {f"{logical_id(stack, server.function_url)}.FunctionUrl": f"https://{AS_HOST}/",
             f"{logical_id(stack, service.url)}.FunctionUrl": f"https://{MCP_HOST}/"}
    assert evaluate(callback["Value"], known) == f"https://{AS_HOST}/callback"
    config = AuthorizationConfig.parse(parameter_value(stack, template, server, known))
    assert (config.upstream.issuer, config.upstream.client_id) == (GOOGLE, "123-abc.apps.googleusercontent.com")
    assert config.upstream.allowed_domains == ("company.com",)
    assert dependency_cycle(template.to_json()) is None


# -- validation ---------------------------------------------------------------------------------------------------


def test_a_server_protecting_nothing_does_not_synthesize(make_app) -> None:
    stack = cdk.Stack(make_app(), "TestStack")
    auth = McpOidcAuth(stack, "Auth", create_user_pool=True)
    McpAuthorizationServer(stack, "AuthorizationServer", user_pool=auth.user_pool, user_pool_domain=auth.user_pool_domain,
                           resource_names={"weather": "Weather"})
    with pytest.raises(RuntimeError, match="protects no MCP server") as failure:
        Template.from_stack(stack)
    assert "resource_names names 'weather'" in str(failure.value)


_SECRET = object()  # replaced by a secret in the test


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({}, "needs an upstream"),
        ({"upstream_issuer": GOOGLE}, "upstream_client_id, upstream_client_secret"),
        ({"upstream_issuer": "http://login.example.com", "upstream_client_id": "x", "upstream_client_secret": _SECRET},
         "https"),
        ({"upstream_issuer": f"{GOOGLE}/.well-known/openid-configuration", "upstream_client_id": "x",
          "upstream_client_secret": _SECRET}, "without /.well-known"),
        ({"pool": True, "upstream_issuer": GOOGLE}, "not both"),
        ({"pool": True, "allowed_domains": ["not a domain"]}, "domain name"),
        ({"pool": True, "scope_rules": [ScopeRule("messages write", everyone=True)]}, "no spaces"),
        ({"pool": True, "scope_rules": [ScopeRule("messages:write")]}, "grants to no one"),
        ({"pool": True, "scope_rules": [ScopeRule("m", groups="writers")]}, "must be a list"),
        ({"pool": True, "scope_rules": ScopeRule("m", everyone=True)}, "one rule"),
        ({"pool": True, "access_token_lifetime": cdk.Duration.days(2)}, "access_token_lifetime"),
        ({"pool": True, "access_token_lifetime": cdk.Duration.millis(90500)}, "whole seconds"),
        ({"pool": True, "refresh_token_lifetime": cdk.Duration.minutes(30)}, "refresh_token_lifetime"),
        ({"pool": True, "resource": "http://mcp.example.com/mcp"}, "resource"),
        ({"pool": True, "resource_names": {"secure-messaging": " "}}, "resource_names"),
        ({"pool": True, "memory_size": 64}, "memory_size"),
        ({"pool": True, "reserved_concurrent_executions": 0}, "stop every sign-in"),
        ({"pool": True, "also_trusted": ["https://accounts.google.com"]}, "OidcIssuer"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_rejects_props_that_could_never_sign_anyone_in(make_app, props: dict[str, Any], message: str) -> None:
    stack = cdk.Stack(make_app(), "TestStack")
    props = dict(props)
    if props.pop("pool", False):
        props["user_pool"] = cognito.UserPool.from_user_pool_id(stack, "Pool", "eu-west-1_AbCdEf123")
    if props.get("upstream_client_secret") is _SECRET:
        props["upstream_client_secret"] = secretsmanager.Secret(stack, "Secret")
    with pytest.raises(ValueError, match=message):
        McpAuthorizationServer(stack, "AuthorizationServer", **props)


def test_options_define_the_same_server(make_app) -> None:
    stack = cdk.Stack(make_app(), "TestStack")
    pool = cognito.UserPool.from_user_pool_id(stack, "Pool", "eu-west-1_AbCdEf123")
    options = McpAuthorizationServerOptions(user_pool=pool, allowed_domains=["company.com"],
                                            access_token_lifetime=cdk.Duration.minutes(15))
    server = McpAuthorizationServer.from_options(stack, "AuthorizationServer", options)
    McpLambdaService(stack, "Secure", server=SECURE, auth=server)
    assert server._allowed_domains == ["company.com"] and server._lifetimes[0] == 900
    assert Annotations.from_stack(stack).find_error("*", Match.any_value()) == []
