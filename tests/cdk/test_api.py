"""McpLambdaService behind a REST API (McpRestApi): routes, validation, WAF, throttling, logs, timeouts."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template

from mcp_lambda_cdk.lambda_service import McpEndpoint, McpLambdaService
from tests.cdk.conftest import spec


@pytest.fixture(scope="module")
def stack(make_app) -> cdk.Stack:
    stack = cdk.Stack(make_app(), "TestStack")
    McpLambdaService(stack, "Weather", server=spec("weather"), endpoint=McpEndpoint.rest_api())
    return stack


@pytest.fixture(scope="module")
def template(stack: cdk.Stack) -> Template:
    return Template.from_stack(stack)


def weather(stack: cdk.Stack) -> McpLambdaService:
    return stack.node.find_child("Weather")  # type: ignore[return-value]


def test_regional_api_without_a_function_url(stack: cdk.Stack, template: Template) -> None:
    template.has_resource_properties("AWS::ApiGateway::RestApi", {"EndpointConfiguration": {"Types": ["REGIONAL"]}})
    template.resource_count_is("AWS::Lambda::Url", 0)
    service = weather(stack)
    assert service.url is None and service.api is service.rest_api.api
    # The output is the MCP endpoint: the stage URL followed by mcp.
    outputs = template.find_outputs("*", {"Description": Match.string_like_regexp("MCP endpoint")})
    (output,) = outputs.values()
    assert json.dumps(output["Value"]).endswith('"/mcp"]]}')


def test_routes_reach_the_alias_through_lambda_proxy_integrations(stack: cdk.Stack, template: Template) -> None:
    methods = template.find_resources("AWS::ApiGateway::Method")
    resources = template.find_resources("AWS::ApiGateway::Resource")
    paths = {logical_id: r["Properties"]["PathPart"] for logical_id, r in resources.items()}

    def path_of(method: dict[str, Any]) -> str:
        resource = method["Properties"]["ResourceId"]
        return "/" if "Fn::GetAtt" in resource else paths[resource["Ref"]]

    routes = sorted((method["Properties"]["HttpMethod"], path_of(method)) for method in methods.values())
    assert routes == sorted(
        [(m, p) for p in ("/", "mcp") for m in ("POST", "GET", "DELETE")] + [("GET", "{proxy+}")]
    )
    alias = stack.get_logical_id(weather(stack).alias.node.default_child)
    for method in methods.values():
        integration = method["Properties"]["Integration"]
        assert integration["Type"] == "AWS_PROXY" and integration["TimeoutInMillis"] == 29000
        assert alias in json.dumps(integration["Uri"])
    assert sorted(paths.values()) == [".well-known", "mcp", "oauth-protected-resource", "{proxy+}"]


def test_every_method_has_the_request_validator(template: Template) -> None:
    (validator_id,) = template.find_resources(
        "AWS::ApiGateway::RequestValidator", {"Properties": {"ValidateRequestBody": True, "ValidateRequestParameters": True}}
    )
    for method in template.find_resources("AWS::ApiGateway::Method").values():
        assert method["Properties"]["RequestValidatorId"] == {"Ref": validator_id}
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "POST",
            "RequestParameters": {"method.request.header.Content-Type": True},
            "RequestModels": {"application/json": Match.any_value()},
        },
    )
    template.has_resource_properties(
        "AWS::ApiGateway::Model",
        {"ContentType": "application/json", "Schema": Match.object_like({"type": ["object", "array"]})},
    )


def test_stage_is_throttled_logged_and_traced(stack: cdk.Stack, template: Template) -> None:
    access_logs = weather(stack).rest_api.access_log_group
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": "live",
            "TracingEnabled": True,
            "AccessLogSetting": {
                "DestinationArn": Match.any_value(),
                "Format": Match.string_like_regexp(r"\$context.identity.sourceIp"),
            },
            "MethodSettings": [
                Match.object_like(
                    {
                        "HttpMethod": "*",
                        "ResourcePath": "/*",
                        "ThrottlingRateLimit": 100,
                        "ThrottlingBurstLimit": 200,
                        "LoggingLevel": "ERROR",
                        "DataTraceEnabled": False,
                    }
                )
            ],
        },
    )
    # Into the access log group; no header (Authorization included) ever reaches it.
    stage = next(iter(template.find_resources("AWS::ApiGateway::Stage").values()))
    assert stack.get_logical_id(access_logs.node.default_child) in json.dumps(stage["Properties"]["AccessLogSetting"])
    assert "header" not in stage["Properties"]["AccessLogSetting"]["Format"]


def test_waf_blocks_floods_sql_injection_and_known_bad_inputs(stack: cdk.Stack, template: Template) -> None:
    template.has_resource_properties(
        "AWS::WAFv2::WebACL",
        {
            "Scope": "REGIONAL",
            "DefaultAction": {"Allow": {}},
            "Rules": [
                Match.object_like(
                    {
                        "Name": "RatePerIp",
                        "Action": {"Block": {}},
                        "Statement": {
                            "RateBasedStatement": {"AggregateKeyType": "IP", "Limit": 1000, "EvaluationWindowSec": 300}
                        },
                    }
                ),
                Match.object_like(
                    {"Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": "AWSManagedRulesKnownBadInputsRuleSet"}}}
                ),
                Match.object_like(
                    {"Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": "AWSManagedRulesSQLiRuleSet"}}}
                ),
            ],
        },
    )
    rest_api = weather(stack).rest_api
    template.has_resource_properties(
        "AWS::WAFv2::WebACLAssociation",
        {
            "WebACLArn": {"Fn::GetAtt": [stack.get_logical_id(rest_api.web_acl), "Arn"]},
            "ResourceArn": Match.object_like({"Fn::Join": ["", Match.array_with(["/stages/"])]}),
        },
    )
    template.has_resource_properties(
        "AWS::WAFv2::LoggingConfiguration",
        {"RedactedFields": [{"SingleHeader": {"Name": "authorization"}}]},
    )
    template.has_resource_properties(
        "AWS::Logs::LogGroup", {"LogGroupName": Match.string_like_regexp("^aws-waf-logs-TestStack-")}
    )


def test_function_timeout_follows_the_integration_timeout(make_app) -> None:
    stack = cdk.Stack(make_app(), "Timeouts")
    McpLambdaService(stack, "Default", server=spec("weather"), endpoint=McpEndpoint.rest_api())
    McpLambdaService(
        stack,
        "Longer",
        server=spec("weather"),
        timeout=cdk.Duration.seconds(60),
        endpoint=McpEndpoint.rest_api(integration_timeout=cdk.Duration.seconds(90)),
    )
    template = Template.from_stack(stack)
    assert sorted(f["Properties"]["Timeout"] for f in template.find_resources("AWS::Lambda::Function").values()) == [
        29,
        60,
    ]
    with pytest.raises(ValueError, match="504"):
        McpLambdaService(stack, "TooLong", server=spec("weather"), timeout=cdk.Duration.seconds(30),
                         endpoint=McpEndpoint.rest_api())


@pytest.mark.parametrize(
    "props",
    [
        {"authorization_type": apigw.AuthorizationType.COGNITO},
        {"throttling_rate_limit": 0},
        {"throttling_rate_limit": 100, "throttling_burst_limit": 50},
        {"waf_rate_limit": 5},
        {"waf_rate_window": cdk.Duration.minutes(3)},
        {"integration_timeout": cdk.Duration.millis(10)},
    ],
    ids=["cognito", "zero-rate", "burst-below-rate", "waf-rate", "waf-window", "integration-timeout"],
)
def test_rejects_impossible_api_props(props: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        McpEndpoint.rest_api(**props)


def test_iam_authorization_and_grant_invoke(make_app) -> None:
    stack = cdk.Stack(make_app(), "Iam")
    service = McpLambdaService(
        stack, "Weather", server=spec("weather"),
        endpoint=McpEndpoint.rest_api(authorization_type=apigw.AuthorizationType.IAM, cloud_watch_role=False),
    )
    caller = iam.Role(stack, "Caller", assumed_by=iam.AccountRootPrincipal())
    service.grant_invoke(caller)
    template = Template.from_stack(stack)
    auth = {m["Properties"]["HttpMethod"] + " " + m["Properties"]["AuthorizationType"]
            for m in template.find_resources("AWS::ApiGateway::Method").values()}
    # The RFC 9728 metadata stays public; everything else needs SigV4.
    assert auth == {"POST AWS_IAM", "GET AWS_IAM", "DELETE AWS_IAM", "GET NONE"}
    template.resource_count_is("AWS::ApiGateway::Account", 0)
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {"PolicyDocument": {"Statement": [Match.object_like({"Action": "execute-api:Invoke"})]}},
    )
