"""McpOidcAuth: the MCP_AUTH_CONFIG the runtime parses, the user pool it may create, failure monitoring,
validated props, and no circular dependency between a function and its own URL."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Annotations, Match, Template

from mcp_lambda.auth.config import AuthConfig
from mcp_lambda_cdk.lambda_service import McpEndpoint, McpLambdaService
from mcp_lambda_cdk.oidc_auth import McpOidcAuth, OidcIssuer
from tests.cdk.conftest import spec

GOOGLE_CLIENT = "123456789012-abcdefghijklmnop.apps.googleusercontent.com"


# -- helpers shared with the stack tests -------------------------------------------------------------------


def render(value: Any) -> str:
    """A template string value with its intrinsics spelled as readable placeholders (``<Ref:X>``; the host of a
    URL, ``Fn::Select`` 2 of its ``Fn::Split`` on ``/``, as ``<Host:...>``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((kind, argument),) = value.items()
        if kind == "Fn::Join":
            separator, parts = argument
            return separator.join(render(p) for p in parts)
        if kind == "Ref":
            return f"<Ref:{argument}>"
        if kind == "Fn::GetAtt":
            return f"<GetAtt:{'.'.join(argument)}>"
        if kind == "Fn::Select" and argument[0] == 2 and argument[1].get("Fn::Split", [None])[0] == "/":
            return f"<Host:{render(argument[1]['Fn::Split'][1])}>"
    raise AssertionError(f"unexpected intrinsic in a string value: {value!r}")


def auth_config(template: Template, handler: str) -> dict[str, Any]:
    """The MCP_AUTH_CONFIG of the function with ``handler``, parsed, tokens as placeholders."""
    functions = template.find_resources("AWS::Lambda::Function", {"Properties": {"Handler": handler}})
    (function,) = functions.values()
    return json.loads(render(function["Properties"]["Environment"]["Variables"]["MCP_AUTH_CONFIG"]))


def references(value: Any) -> set[str]:
    """Logical ids a template value refers to (Ref, Fn::GetAtt, Fn::Sub)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, argument in value.items():
            if key == "Ref" and isinstance(argument, str) and not argument.startswith("AWS::"):
                found.add(argument)
            elif key == "Fn::GetAtt":
                found.add(argument[0] if isinstance(argument, list) else argument.split(".")[0])
            elif key == "Fn::Sub":
                text = argument if isinstance(argument, str) else argument[0]
                found.update(part.split("}")[0].split(".")[0] for part in text.split("${")[1:])
                if isinstance(argument, list):
                    found.update(references(argument[1]))
            else:
                found.update(references(argument))
    elif isinstance(value, list):
        for item in value:
            found.update(references(item))
    return found


def dependency_cycle(template: dict[str, Any]) -> list[str] | None:
    """A cycle among the template's resources (references and DependsOn), or None."""
    resources = template["Resources"]
    edges: dict[str, set[str]] = {}
    for logical_id, resource in resources.items():
        depends_on = resource.get("DependsOn", [])
        depends_on = [depends_on] if isinstance(depends_on, str) else depends_on
        targets = references(resource.get("Properties", {})) | set(depends_on)
        edges[logical_id] = {t for t in targets if t in resources}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


# -- fixtures ------------------------------------------------------------------------------------------------


@pytest.fixture
def stack(make_app) -> cdk.Stack:
    return cdk.Stack(make_app(), "TestStack")


@pytest.fixture
def service(stack: cdk.Stack) -> McpLambdaService:
    return McpLambdaService(
        stack, "Weather", server=spec("weather"), url_auth_type=lambda_.FunctionUrlAuthType.NONE
    )


@pytest.fixture
def protect(stack: cdk.Stack, service: McpLambdaService) -> Callable[..., tuple[McpOidcAuth, Template]]:
    def make(**props: Any) -> tuple[McpOidcAuth, Template]:
        auth = McpOidcAuth(stack, "Auth", **props)
        auth.protect(service)
        return auth, Template.from_stack(stack)

    return make


def logical_id(stack: cdk.Stack, construct: Any) -> str:
    return stack.get_logical_id(construct.node.default_child)


# -- MCP_AUTH_CONFIG ---------------------------------------------------------------------------------------------


def test_google_with_allowed_domains_is_the_guides_configuration(protect) -> None:
    # Given Google sign-in restricted to company accounts, as in the guide's GoogleIdpConfig
    auth, template = protect(google_client_id=GOOGLE_CLIENT, allowed_domains=["Company.com"])

    # Then the function gets exactly the runtime's format, with no resource (derived per request)
    assert auth_config(template, "weather.server.handler") == {
        "providers": [
            {"issuer": "https://accounts.google.com", "audiences": [GOOGLE_CLIENT], "allowed_domains": ["company.com"],
             "id_tokens": True}
        ]
    }
    assert [p.issuer for p in auth.providers] == ["https://accounts.google.com"]


def test_a_created_user_pool_is_trusted_for_its_proxy_client(stack: cdk.Stack, protect) -> None:
    auth, template = protect(create_user_pool=True)
    pool, client = logical_id(stack, auth.user_pool), logical_id(stack, auth.user_pool_client)
    assert auth_config(template, "weather.server.handler") == {
        "providers": [{"issuer": f"https://<GetAtt:{pool}.ProviderURL>", "audiences": [f"<Ref:{client}>"]}]
    }


def test_an_existing_user_pool_is_trusted_for_the_given_clients(stack: cdk.Stack, protect) -> None:
    pool = cognito.UserPool.from_user_pool_arn(
        stack, "Pool", "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbCdEf123"
    )
    auth, template = protect(user_pool=pool, user_pool_client_ids=["client-a", "client-b"],
                             user_pool_allowed_domains=["company.com"])
    assert auth_config(template, "weather.server.handler") == {
        "providers": [
            {
                # the partition's URL suffix (amazonaws.com) is filled in at deploy time
                "issuer": "https://cognito-idp.eu-west-1.<Ref:AWS::URLSuffix>/eu-west-1_AbCdEf123",
                "audiences": ["client-a", "client-b"],
                "allowed_domains": ["company.com"],
            }
        ]
    }
    assert auth.user_pool_client is None and auth.user_pool is pool


def test_every_provider_kind_resource_and_tool_scopes_together(stack: cdk.Stack, protect) -> None:
    # Given Google, a created pool and an enterprise issuer, a custom domain and an extra per-tool scope
    okta = OidcIssuer(
        issuer="https://company.okta.com/oauth2/default",
        audiences=["api://mcp"],
        jwks_uri="https://company.okta.com/oauth2/default/v1/keys",
        allowed_domains=["company.com"],
    )
    auth, template = protect(
        google_client_id=GOOGLE_CLIENT,
        create_user_pool=True,
        oidc_issuers=[okta],
        resource="https://mcp.company.com/mcp",
        tool_scopes={"post_message": ["messages:write"]},
    )
    config = auth_config(template, "weather.server.handler")

    # Then the providers keep their order (Google, the pool, the others) and the optional keys appear
    assert config["resource"] == "https://mcp.company.com/mcp"
    assert [p["issuer"] for p in config["providers"]] == [
        "https://accounts.google.com",
        f"https://<GetAtt:{logical_id(stack, auth.user_pool)}.ProviderURL>",
        "https://company.okta.com/oauth2/default",
    ]
    assert config["providers"][2] == {
        "issuer": "https://company.okta.com/oauth2/default",
        "audiences": ["api://mcp"],
        "jwks_uri": "https://company.okta.com/oauth2/default/v1/keys",
        "allowed_domains": ["company.com"],
    }
    assert config["tool_scopes"] == {"post_message": ["messages:write"]}
    # And the created pool offers the scope named in tool_scopes
    assert auth.scopes == ["messages:write"]


def test_the_runtime_parses_what_the_construct_writes(stack: cdk.Stack, protect) -> None:
    # Given the configuration with deploy-time values filled in as CloudFormation would
    auth, template = protect(
        google_client_id=GOOGLE_CLIENT,
        allowed_domains=["company.com"],
        create_user_pool=True,
        oidc_issuers=[OidcIssuer(issuer="https://login.example.com/", audiences=["api://mcp"])],
        tool_scopes={"whoami": ["profile:read"]},
    )
    functions = template.find_resources("AWS::Lambda::Function", {"Properties": {"Handler": "weather.server.handler"}})
    raw = next(iter(functions.values()))["Properties"]["Environment"]["Variables"]["MCP_AUTH_CONFIG"]
    filled = render(raw).replace(
        f"<GetAtt:{logical_id(stack, auth.user_pool)}.ProviderURL>",
        "cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool",
    ).replace(f"<Ref:{logical_id(stack, auth.user_pool_client)}>", "app-client-1")

    # When the runtime reads it
    config = AuthConfig.from_json(filled)

    # Then each provider is of the kind its rules need
    assert [(p.kind, p.audiences, p.allowed_domains) for p in config.providers] == [
        ("google", (GOOGLE_CLIENT,), ("company.com",)),
        ("cognito", ("app-client-1",), ()),
        ("oidc", ("api://mcp",), ()),
    ]
    assert config.providers[2].issuer == "https://login.example.com/", "a trailing / is part of the identifier"
    assert [p.id_tokens for p in config.providers] == [True, False, False], "ID tokens from Google only"
    assert config.resource is None
    assert config.tool_scopes == {"whoami": ("profile:read",)}


def test_tokens_are_accepted_and_reach_the_configuration(stack: cdk.Stack, protect) -> None:
    client_id = cdk.CfnParameter(stack, "GoogleClientId", type="String").value_as_string
    _, template = protect(google_client_id=client_id)
    assert auth_config(template, "weather.server.handler")["providers"][0]["audiences"] == ["<Ref:GoogleClientId>"]


# -- no circular dependency --------------------------------------------------------------------------------------------


def test_the_configuration_does_not_make_the_function_depend_on_its_own_url(make_app) -> None:
    # Given a service protected with a created pool (the pool and its client are referenced)
    app = make_app()
    stack = cdk.Stack(app, "Acyclic")
    service = McpLambdaService(stack, "Weather", server=spec("weather"), url_auth_type=lambda_.FunctionUrlAuthType.NONE)
    McpOidcAuth(stack, "Auth", create_user_pool=True, google_client_id=GOOGLE_CLIENT).protect(service)

    # When the app is synthesized (CDK's validator rejects circular templates)
    template = app.synth().get_stack_by_name("Acyclic").template

    # Then it succeeds, and no resource reaches itself through references or DependsOn
    assert dependency_cycle(template) is None


def test_the_function_url_as_resource_would_be_circular(make_app) -> None:
    # Why resource defaults to none: the URL belongs to the alias of a version of this very function.
    def protect_with_own_url(app: cdk.App) -> McpLambdaService:
        stack = cdk.Stack(app, "Circular")
        service = McpLambdaService(stack, "Weather", server=spec("weather"), url_auth_type=lambda_.FunctionUrlAuthType.NONE)
        McpOidcAuth(stack, "Auth", google_client_id=GOOGLE_CLIENT, resource=service.url.url).protect(service)
        return service

    # CDK's synth-time validator (cdk.json) refuses the template
    protect_with_own_url(app := make_app())
    with pytest.raises(RuntimeError, match="Circular"):
        app.synth()
    # and without that validator, the cycle check used here finds it
    service = protect_with_own_url(app := make_app(**{"@aws-cdk/core:validateAgainstDefaultRules": False}))
    cycle = dependency_cycle(app.synth().get_stack_by_name("Circular").template)
    assert cycle is not None and logical_id(cdk.Stack.of(service), service.function) in cycle


# -- failure monitoring -----------------------------------------------------------------------------------------------


def test_auth_failures_become_a_metric_per_service(stack: cdk.Stack, service: McpLambdaService, protect) -> None:
    protect(google_client_id=GOOGLE_CLIENT)
    Template.from_stack(stack).has_resource_properties(
        "AWS::Logs::MetricFilter",
        {
            "FilterPattern": '{ $.message = "AUTH_FAILURE" }',
            "LogGroupName": {"Ref": logical_id(stack, service.log_group)},
            "MetricTransformations": [
                {
                    "MetricNamespace": "McpServers",
                    "MetricName": "AuthFailures",
                    "MetricValue": "1",
                    "Unit": "Count",
                    "Dimensions": [{"Key": "service", "Value": "$.service"}],
                }
            ],
        },
    )


def test_the_alarm_fires_at_20_failures_in_5_minutes_by_default(protect) -> None:
    auth, template = protect(google_client_id=GOOGLE_CLIENT)
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "McpServers",
            "MetricName": "AuthFailures",
            "Dimensions": [{"Name": "service", "Value": "weather"}],
            "Statistic": "Sum",
            "Period": 300,
            "EvaluationPeriods": 1,
            "Threshold": 20,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
        },
    )
    assert auth.alarm is auth.protected[0].alarm


def test_alarm_threshold_and_period_are_props(protect) -> None:
    _, template = protect(
        google_client_id=GOOGLE_CLIENT, auth_failure_threshold=50, auth_failure_period=cdk.Duration.minutes(15)
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"MetricName": "AuthFailures", "Threshold": 50, "Period": 900}
    )


def test_a_logs_insights_query_counts_failures_by_5_minutes_reason_and_issuer(
    stack: cdk.Stack, service: McpLambdaService, protect
) -> None:
    auth, template = protect(google_client_id=GOOGLE_CLIENT)
    template.has_resource_properties(
        "AWS::Logs::QueryDefinition",
        {
            "Name": "TestStack/weather/auth-failures",
            "LogGroupNames": [{"Ref": logical_id(stack, service.log_group)}],
            "QueryString": "fields @timestamp, reason, issuer, source_ip\n"
            '| filter message = "AUTH_FAILURE"\n'
            "| stats count() as failures by bin(5m), reason, issuer\n"
            "| sort failures desc",
        },
    )
    assert auth.query_definition is auth.protected[0].query_definition


def test_metric_auth_failures(stack: cdk.Stack, service: McpLambdaService) -> None:
    auth = McpOidcAuth(stack, "Auth", google_client_id=GOOGLE_CLIENT)
    with pytest.raises(ValueError, match="protect"):
        auth.metric_auth_failures()
    auth.protect(service)
    metric = auth.metric_auth_failures()
    assert (metric.namespace, metric.metric_name, metric.dimensions, metric.statistic) == (
        "McpServers", "AuthFailures", {"service": "weather"}, "Sum"
    )
    assert metric.period.to_minutes() == 5
    assert auth.metric_auth_failures("other", period=cdk.Duration.minutes(1)).dimensions == {"service": "other"}


def test_several_services_each_get_their_own_monitoring(stack: cdk.Stack, service: McpLambdaService) -> None:
    other = McpLambdaService(stack, "Other", server=spec("weather-two", "weather"),
                             url_auth_type=lambda_.FunctionUrlAuthType.NONE)
    auth = McpOidcAuth(stack, "Auth", google_client_id=GOOGLE_CLIENT)
    auth.protect(service)
    auth.protect(other)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::Logs::MetricFilter", 2)
    template.resource_count_is("AWS::Logs::QueryDefinition", 2)
    assert [p.service for p in auth.protected] == [service, other]
    with pytest.raises(ValueError, match="already protected"):
        auth.protect(service)


def test_protecting_a_service_behind_an_iam_url_is_flagged(stack: cdk.Stack) -> None:
    service = McpLambdaService(stack, "Iam", server=spec("weather"))  # AWS_IAM by default
    McpOidcAuth(stack, "Auth", google_client_id=GOOGLE_CLIENT).protect(service)
    Annotations.from_stack(stack).has_warning("/TestStack/Iam", Match.string_like_regexp("Authorization header"))


@pytest.mark.parametrize(
    "authorization_type, flagged",
    [(apigw.AuthorizationType.NONE, False), (apigw.AuthorizationType.IAM, True)],
    ids=["public-rest-api", "iam-rest-api"],
)
def test_a_service_behind_a_rest_api_can_be_protected(stack: cdk.Stack, authorization_type, flagged: bool) -> None:
    # Given a service whose endpoint is a REST API (it has no Function URL)
    service = McpLambdaService(stack, "Rest", server=spec("weather"),
                               endpoint=McpEndpoint.rest_api(authorization_type=authorization_type))

    # When it is protected, then sign-in is configured, and an IAM-authorized API is flagged like an IAM URL
    McpOidcAuth(stack, "Auth", google_client_id=GOOGLE_CLIENT).protect(service)
    assert "MCP_AUTH_CONFIG" in Template.from_stack(stack).find_resources("AWS::Lambda::Function")[
        stack.get_logical_id(service.function.node.default_child)]["Properties"]["Environment"]["Variables"]
    warnings = Annotations.from_stack(stack).find_warning("/TestStack/Rest", Match.string_like_regexp("Authorization header"))
    assert bool(warnings) is flagged


def test_protecting_adds_the_sign_in_failures_to_the_services_dashboard(stack: cdk.Stack, service, protect) -> None:
    auth, _ = protect(google_client_id=GOOGLE_CLIENT)
    (dashboard,) = Template.from_stack(stack).find_resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    assert "weather sign-in failures" in body
    assert stack.get_logical_id(auth.alarm.node.default_child) in body


# -- the created user pool ---------------------------------------------------------------------------------------------


def test_created_pool_is_admin_managed_with_optional_mfa_and_threat_protection(protect) -> None:
    _, template = protect(create_user_pool=True)
    template.has_resource_properties(
        "AWS::Cognito::UserPool",
        {
            "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
            "MfaConfiguration": "ON",
            "EnabledMfas": ["SOFTWARE_TOKEN_MFA"],
            "UserPoolTier": "PLUS",
            "UserPoolAddOns": {"AdvancedSecurityMode": "ENFORCED"},
            "UsernameAttributes": ["email"],
            "AccountRecoverySetting": {"RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]},
            "Policies": {"PasswordPolicy": Match.object_like({"MinimumLength": 12, "RequireSymbols": True})},
            "DeletionProtection": "ACTIVE",
        },
    )
    template.has_resource("AWS::Cognito::UserPool", {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"})


def test_without_threat_protection_the_pool_uses_the_essentials_plan(protect) -> None:
    _, template = protect(create_user_pool=True, threat_protection=False,
                          user_pool_removal_policy=cdk.RemovalPolicy.DESTROY)
    template.has_resource_properties(
        "AWS::Cognito::UserPool",
        {"UserPoolTier": "ESSENTIALS", "UserPoolAddOns": Match.absent(), "DeletionProtection": "INACTIVE"},
    )
    template.has_resource("AWS::Cognito::UserPool", {"DeletionPolicy": "Delete"})


def test_proxy_client_is_public_with_the_code_flow_on_loopback_and_the_write_scope(stack: cdk.Stack, protect) -> None:
    auth, template = protect(create_user_pool=True, scopes=["messages:write"])
    server = logical_id(stack, auth.resource_server)
    template.has_resource_properties(
        "AWS::Cognito::UserPoolClient",
        {
            "GenerateSecret": False,  # public: PKCE instead of a secret
            "AllowedOAuthFlows": ["code"],
            "AllowedOAuthFlowsUserPoolClient": True,
            "AllowedOAuthScopes": [
                "openid", "email", "profile", {"Fn::Join": ["", [{"Ref": server}, "/messages:write"]]}
            ],
            "CallbackURLs": [f"http://127.0.0.1:{port}/callback" for port in range(8976, 8981)],
            "SupportedIdentityProviders": ["COGNITO"],
            "PreventUserExistenceErrors": "ENABLED",
            "EnableTokenRevocation": True,
            "AccessTokenValidity": 60,
        },
    )
    template.has_resource_properties(
        "AWS::Cognito::UserPoolResourceServer",
        {"Identifier": "mcp", "Scopes": [Match.object_like({"ScopeName": "messages:write"})]},
    )
    # Groups are what the runtime reads as scopes from Cognito access tokens (cognito:groups)
    template.has_resource_properties("AWS::Cognito::UserPoolGroup", {"GroupName": "messages:write"})


def test_machine_clients_use_client_credentials_with_their_scopes_and_are_trusted(stack: cdk.Stack, protect) -> None:
    """A headless client: confidential, the client-credentials grant only, exactly its resource-server scopes;
    its id joins the app clients whose access tokens the server accepts."""
    auth, template = protect(create_user_pool=True, scopes=["messages:write", "reports:run"],
                             machine_clients={"nightly-digest": ["messages:write"]})
    machine = auth.machine_clients["nightly-digest"]
    server = logical_id(stack, auth.resource_server)
    template.has_resource_properties("AWS::Cognito::UserPoolClient", {
        "ClientName": "nightly-digest",
        "GenerateSecret": True,
        "AllowedOAuthFlows": ["client_credentials"],
        "AllowedOAuthFlowsUserPoolClient": True,
        "AllowedOAuthScopes": [{"Fn::Join": ["", [{"Ref": server}, "/messages:write"]]}],
        "CallbackURLs": Match.absent(),
        "EnableTokenRevocation": True,
    })
    pool, client = logical_id(stack, auth.user_pool), logical_id(stack, auth.user_pool_client)
    [provider] = auth_config(template, "weather.server.handler")["providers"]
    assert provider == {"issuer": f"https://<GetAtt:{pool}.ProviderURL>",
                        "audiences": [f"<Ref:{client}>", f"<Ref:{logical_id(stack, machine)}>"]}


def test_callback_urls_are_a_prop(protect) -> None:
    _, template = protect(create_user_pool=True, callback_urls=["http://127.0.0.1:33418/callback"])
    template.has_resource_properties(
        "AWS::Cognito::UserPoolClient", {"CallbackURLs": ["http://127.0.0.1:33418/callback"]}
    )


def test_sign_in_domain_is_unique_per_account_unless_given(stack: cdk.Stack, service: McpLambdaService) -> None:
    McpOidcAuth(stack, "Auth", create_user_pool=True).protect(service)
    McpOidcAuth(stack, "Named", create_user_pool=True, domain_prefix="company-mcp")
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::Cognito::UserPoolDomain",
        {"Domain": {"Fn::Join": ["-", ["mcp", {"Ref": "AWS::AccountId"}, Match.string_like_regexp(r"^[0-9a-f]{8}$")]]}},
    )
    template.has_resource_properties("AWS::Cognito::UserPoolDomain", {"Domain": "company-mcp"})


def test_access_tokens_get_the_verified_email(stack: cdk.Stack, protect) -> None:
    auth, template = protect(create_user_pool=True)
    template.has_resource_properties(
        "AWS::Cognito::UserPool",
        {
            "LambdaConfig": {
                "PreTokenGenerationConfig": {
                    "LambdaArn": {"Fn::GetAtt": [logical_id(stack, auth.pre_token_generation), "Arn"]},
                    "LambdaVersion": "V2_0",
                }
            }
        },
    )
    # The inline handler: a verified email is added, an unverified one is not
    code = template.to_json()["Resources"][logical_id(stack, auth.pre_token_generation)]["Properties"]["Code"]
    namespace: dict[str, Any] = {}
    exec(code["ZipFile"], namespace)  # noqa: S102 -- the construct's own inline source
    verified = {"request": {"userAttributes": {"email": "a@company.com", "email_verified": "true"}}, "response": {}}
    claims = namespace["handler"](verified, None)["response"]["claimsAndScopeOverrideDetails"]
    added = claims["accessTokenGeneration"]["claimsToAddOrOverride"]
    assert added == {"email": "a@company.com", "email_verified": True}
    unverified = {"request": {"userAttributes": {"email": "b@company.com", "email_verified": "false"}}, "response": {}}
    assert namespace["handler"](unverified, None)["response"] == {}


def test_email_in_access_token_can_be_turned_off(protect) -> None:
    auth, template = protect(create_user_pool=True, email_in_access_token=False)
    assert auth.pre_token_generation is None
    template.has_resource_properties("AWS::Cognito::UserPool", {"LambdaConfig": Match.absent()})


def test_no_scopes_no_resource_server(protect) -> None:
    auth, template = protect(create_user_pool=True)
    assert auth.resource_server is None and auth.groups == []
    template.resource_count_is("AWS::Cognito::UserPoolResourceServer", 0)
    template.has_resource_properties(
        "AWS::Cognito::UserPoolClient", {"AllowedOAuthScopes": ["openid", "email", "profile"]}
    )


# -- validation -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({}, "identity provider"),
        ({"google_client_id": "my-client"}, "googleusercontent"),
        ({"allowed_domains": ["company.com"], "create_user_pool": True}, "needs google_client_id"),
        ({"google_client_id": GOOGLE_CLIENT, "allowed_domains": ["not a domain"]}, "domain name"),
        ({"google_client_id": GOOGLE_CLIENT, "allowed_domains": "company.com"}, "list of domains"),
        ({"user_pool_client_ids": ["abc"], "google_client_id": GOOGLE_CLIENT}, "need a user_pool"),
        ({"user_pool_allowed_domains": ["company.com"], "google_client_id": GOOGLE_CLIENT}, "needs user_pool"),
        ({"create_user_pool": True, "user_pool_allowed_domains": ["company.com"], "email_in_access_token": False},
         "carry no email"),
        ({"create_user_pool": True, "domain_prefix": "my-aws-login"}, "domain_prefix"),
        ({"create_user_pool": True, "domain_prefix": "Upper"}, "domain_prefix"),
        ({"google_client_id": GOOGLE_CLIENT, "domain_prefix": "company-mcp"}, "create_user_pool=True"),
        ({"create_user_pool": True, "callback_urls": ["http://example.com/callback"]}, "loopback"),
        ({"create_user_pool": True, "callback_urls": []}, "at least one"),
        ({"create_user_pool": True, "scopes": ["messages write"]}, "spaces"),
        ({"create_user_pool": True, "scopes": ["a/b"]}, "spaces"),
        ({"google_client_id": GOOGLE_CLIENT, "machine_clients": {"job": ["messages:write"]}}, "create_user_pool"),
        ({"create_user_pool": True, "scopes": ["messages:write"], "machine_clients": {"job": []}}, "list of scopes"),
        ({"create_user_pool": True, "scopes": ["messages:write"], "machine_clients": {"job": "messages:write"}},
         "list of scopes"),
        ({"create_user_pool": True, "scopes": ["messages:write"], "machine_clients": {"job": ["admin"]}},
         "does not offer"),
        ({"create_user_pool": True, "scopes": ["messages:write"], "machine_clients": {"a job": ["messages:write"]}},
         "machine client name"),
        ({"oidc_issuers": [OidcIssuer(issuer="http://login.example.com", audiences=["x"])]}, "https"),
        ({"oidc_issuers": [OidcIssuer(issuer="https://l.example.com", audiences=["x"], jwks_uri="http://k")]},
         "jwks_uri"),
        ({"oidc_issuers": [OidcIssuer(issuer="https://accounts.google.com", audiences=["x"])],
          "google_client_id": GOOGLE_CLIENT}, "once"),
        ({"oidc_issuers": [OidcIssuer(issuer="https://a.example.com/", audiences=["x"]),
                           OidcIssuer(issuer="https://a.example.com", audiences=["y"])]}, "once"),
        ({"oidc_issuers": ["https://login.example.com"]}, "OidcIssuer"),
        ({"google_client_id": GOOGLE_CLIENT, "resource": "http://mcp.example.com/mcp"}, "resource"),
        ({"google_client_id": GOOGLE_CLIENT, "tool_scopes": {"post_message": "messages:write"}}, "tool_scopes"),
        ({"google_client_id": GOOGLE_CLIENT, "tool_scopes": {"post_message": ["a b"]}}, "not a scope"),
        ({"google_client_id": GOOGLE_CLIENT, "auth_failure_threshold": 0}, "auth_failure_threshold"),
        ({"google_client_id": GOOGLE_CLIENT, "auth_failure_period": cdk.Duration.seconds(90)}, "whole minutes"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_rejects_props_that_could_never_sign_anyone_in(stack: cdk.Stack, props: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        McpOidcAuth(stack, "Auth", **props)


def test_a_given_pool_needs_its_client_ids_and_excludes_creating_one(stack: cdk.Stack) -> None:
    pool = cognito.UserPool.from_user_pool_id(stack, "Pool", "eu-west-1_AbCdEf123")
    with pytest.raises(ValueError, match="user_pool_client_ids"):
        McpOidcAuth(stack, "A", user_pool=pool)
    with pytest.raises(ValueError, match="not both"):
        McpOidcAuth(stack, "B", user_pool=pool, user_pool_client_ids=["x"], create_user_pool=True)


def test_an_issuer_without_audiences_is_fine_with_a_configured_resource(stack: cdk.Stack) -> None:
    auth = McpOidcAuth(stack, "Auth", oidc_issuers=[OidcIssuer(issuer="https://login.example.com")],
                       resource="https://mcp.example.com/mcp")
    assert auth.config["providers"] == [{"issuer": "https://login.example.com", "audiences": []}]


def test_an_issuer_without_audiences_is_fine_with_the_derived_resource(stack: cdk.Stack) -> None:
    # An RFC 8707 issuer (McpAuthorizationServer) binds its tokens to the server: aud is the resource the runtime
    # derives from each request, which it always accepts, so no audiences are needed.
    auth = McpOidcAuth(stack, "Auth", oidc_issuers=[OidcIssuer(issuer="https://login.example.com")])
    assert auth.config == {"providers": [{"issuer": "https://login.example.com", "audiences": []}]}
    assert AuthConfig.from_json(json.dumps(auth.config)).providers[0].audiences == ()


def test_google_grants_reach_the_runtime_config_and_need_allowed_domains():
    import json as _json

    import aws_cdk as cdk
    import pytest as _pytest

    from mcp_lambda_cdk.oidc_auth import McpOidcAuth

    stack = cdk.Stack(cdk.App())
    auth = McpOidcAuth(stack, "Auth", google_client_id="1-a.apps.googleusercontent.com",
                       allowed_domains=["company.com"], google_grants=["messages:write"])
    assert auth.config["providers"][0]["grants"] == ["messages:write"]
    assert _json.loads(_json.dumps(auth.config))["providers"][0]["allowed_domains"] == ["company.com"]
    with _pytest.raises(ValueError, match="every Google account"):
        McpOidcAuth(cdk.Stack(cdk.App()), "Auth", google_client_id="1-a.apps.googleusercontent.com",
                    google_grants=["messages:write"])
