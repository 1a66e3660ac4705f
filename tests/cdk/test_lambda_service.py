"""McpLambdaService: its props are validated early (tokens excepted) and its defaults hold."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Annotations, Match, Template

from mcp_lambda.spec import ServerSpec
from mcp_lambda_cdk.lambda_service import McpEndpoint, McpLambdaService
from tests.cdk.conftest import spec


@pytest.fixture
def stack(make_app) -> cdk.Stack:
    return cdk.Stack(make_app(), "TestStack")


def service(stack: cdk.Stack, **props: Any) -> McpLambdaService:
    return McpLambdaService(stack, "Weather", server=spec("weather"), **props)


@pytest.mark.parametrize(
    "props",
    [
        {"memory_size": 64},
        {"memory_size": 10241},
        {"memory_size": 1000.5},
        {"timeout": cdk.Duration.seconds(0)},
        {"timeout": cdk.Duration.minutes(16)},
        {"provisioned_concurrency": 0},
    ],
    ids=lambda props: "-".join(f"{k}={v}" for k, v in props.items()),
)
def test_rejects_impossible_props(stack: cdk.Stack, props: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        service(stack, **props)


@pytest.mark.parametrize("name", ["Weather", "weather_", "-weather", "w"])
def test_rejects_service_names_unfit_for_paths(name: str) -> None:
    with pytest.raises(ValueError, match="name"):
        spec(name, "weather")


def test_rejects_folders_that_are_no_python_package(tmp_path) -> None:
    with pytest.raises(ValueError, match="package"):
        ServerSpec("hello", tmp_path / "hello-world")


def test_accepts_tokens_and_leaves_them_to_cloudformation(stack: cdk.Stack) -> None:
    # Given props that are only known at deploy time
    memory = cdk.CfnParameter(stack, "Memory", type="Number", default=2048).value_as_number
    seconds = cdk.CfnParameter(stack, "Timeout", type="Number", default=60).value_as_number
    warm = cdk.CfnParameter(stack, "Warm", type="Number", default=2).value_as_number

    # When the service is built from them
    service(stack, memory_size=memory, timeout=cdk.Duration.seconds(seconds), provisioned_concurrency=warm)

    # Then they reach the template as references
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::Lambda::Function", {"MemorySize": {"Ref": "Memory"}, "Timeout": {"Ref": "Timeout"}}
    )
    template.has_resource_properties(
        "AWS::Lambda::Alias",
        {"ProvisionedConcurrencyConfig": {"ProvisionedConcurrentExecutions": {"Ref": "Warm"}}},
    )


def test_defaults_to_an_iam_authenticated_url_and_on_demand_concurrency(stack: cdk.Stack) -> None:
    service(stack)
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::Lambda::Url", {"AuthType": "AWS_IAM", "Qualifier": "live"})
    template.has_resource_properties(
        "AWS::Lambda::Alias", {"ProvisionedConcurrencyConfig": Match.absent()}
    )
    template.resource_count_is("AWS::Lambda::Permission", 0)


@pytest.mark.parametrize(
    "props, reserved",
    [
        ({"url_auth_type": lambda_.FunctionUrlAuthType.NONE}, 20),
        ({"url_auth_type": lambda_.FunctionUrlAuthType.NONE, "reserved_concurrent_executions": 5}, 5),
        ({"url_auth_type": lambda_.FunctionUrlAuthType.NONE, "provisioned_concurrency": 2,
          "max_provisioned_concurrency": 30}, 30),
        ({"url_auth_type": lambda_.FunctionUrlAuthType.NONE, "cap_public_concurrency": False}, None),
        ({"url_auth_type": lambda_.FunctionUrlAuthType.AWS_IAM}, None),
        ({"endpoint": McpEndpoint.rest_api()}, None),
    ],
    ids=["public-url", "public-url-given", "public-url-provisioned", "public-url-uncapped", "iam-url", "rest-api"],
)
def test_a_public_function_url_caps_its_concurrency_by_default(
    stack: cdk.Stack, props: dict[str, Any], reserved: int | None
) -> None:
    service(stack, **props)
    Template.from_stack(stack).has_resource_properties(
        "AWS::Lambda::Function", {"ReservedConcurrentExecutions": reserved if reserved is not None else Match.absent()}
    )


def test_handler_and_service_name_follow_the_server(stack: cdk.Stack) -> None:
    McpLambdaService(stack, "Secure", server=spec("secure-messaging"), code=lambda_.Code.from_inline("x = 1"))
    Template.from_stack(stack).has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "secure_messaging.server.handler",
            "Environment": {"Variables": Match.object_like({"POWERTOOLS_SERVICE_NAME": "secure-messaging"})},
        },
    )


def test_environment_extends_and_overrides_the_defaults(stack: cdk.Stack) -> None:
    service(stack, environment={"POWERTOOLS_METRICS_NAMESPACE": "Custom", "LOG_LEVEL": "DEBUG"})
    Template.from_stack(stack).has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Environment": {
                "Variables": {
                    "POWERTOOLS_SERVICE_NAME": "weather",
                    "POWERTOOLS_METRICS_NAMESPACE": "Custom",
                    "LOG_LEVEL": "DEBUG",
                }
            }
        },
    )


def test_grant_invoke_lets_a_principal_call_the_url_of_the_alias(stack: cdk.Stack) -> None:
    # Given an IAM-authenticated service and a role
    weather = service(stack)
    caller = iam.Role(stack, "Caller", assumed_by=iam.AccountRootPrincipal())

    # When the role is granted
    weather.grant_invoke(caller)

    # Then its policy allows both actions a signed URL call needs, on the alias only
    alias = {"Ref": stack.get_logical_id(weather.alias.node.default_child)}
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like({"Action": "lambda:InvokeFunctionUrl", "Resource": alias}),
                        Match.object_like({"Action": "lambda:InvokeFunction", "Resource": alias}),
                    ]
                )
            }
        },
    )


def test_metrics_are_those_of_the_live_alias(stack: cdk.Stack) -> None:
    weather = service(stack)
    errors, duration = weather.metric_errors(), weather.metric_duration(statistic="p99")
    assert (errors.namespace, errors.metric_name, errors.statistic) == ("AWS/Lambda", "Errors", "Sum")
    assert (duration.metric_name, duration.statistic) == ("Duration", "p99")
    function = {"Ref": stack.get_logical_id(weather.function.node.default_child)}
    for metric in (errors, duration):
        assert stack.resolve(metric.dimensions) == {
            "FunctionName": function,
            "Resource": {"Fn::Join": ["", [function, ":live"]]},
        }


def test_runs_in_the_given_vpc_subnets_and_exposes_its_security_groups(stack: cdk.Stack) -> None:
    # Given a VPC with isolated subnets only
    vpc = ec2.Vpc(
        stack,
        "Vpc",
        max_azs=2,
        nat_gateways=0,
        subnet_configuration=[ec2.SubnetConfiguration(name="App", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)],
    )

    # When the service runs there and another security group lets it in
    weather = service(stack, vpc=vpc, vpc_subnets=ec2.SubnetSelection(subnet_group_name="App"))
    peer = ec2.SecurityGroup(stack, "Peer", vpc=vpc)
    peer.connections.allow_from(weather, ec2.Port.tcp(5432))

    # Then the function has a VpcConfig over the App subnets with its own group, and that group is the peer's source
    template = Template.from_stack(stack)
    subnets = [{"Ref": stack.get_logical_id(s.node.default_child)} for s in vpc.isolated_subnets]
    (group,) = weather.connections.security_groups
    group_id = {"Fn::GetAtt": [stack.get_logical_id(group.node.default_child), "GroupId"]}
    template.has_resource_properties(
        "AWS::Lambda::Function", {"VpcConfig": {"SubnetIds": subnets, "SecurityGroupIds": [group_id]}}
    )
    template.has_resource_properties(
        "AWS::EC2::SecurityGroupIngress", {"FromPort": 5432, "SourceSecurityGroupId": group_id}
    )


def test_grants_to_the_service_go_to_its_function_role(stack: cdk.Stack) -> None:
    weather = service(stack)
    iam.Grant.add_to_principal(grantee=weather, actions=["ssm:GetParameter"], resource_arns=["*"])
    role = {"Ref": stack.get_logical_id(weather.function.role.node.default_child)}
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [role],
            "PolicyDocument": {
                "Statement": Match.array_with([Match.object_like({"Action": "ssm:GetParameter", "Resource": "*"})])
            },
        },
    )


def test_without_a_vpc_it_has_no_connections_and_refuses_vpc_only_props(stack: cdk.Stack) -> None:
    weather = service(stack)
    with pytest.raises(ValueError, match="without a vpc"):
        weather.connections  # noqa: B018
    with pytest.raises(ValueError, match="need a vpc"):
        isolated = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        McpLambdaService(stack, "Other", server=spec("weather"), vpc_subnets=isolated)


# -- concurrency, SnapStart, encryption ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "props",
    [
        {"snap_start": True, "provisioned_concurrency": 1},
        {"snap_start": True, "runtime": lambda_.Runtime.PYTHON_3_11},
        {"max_provisioned_concurrency": 5},
        {"provisioned_concurrency": 5, "max_provisioned_concurrency": 4},
        {"provisioned_concurrency": 2, "max_provisioned_concurrency": 10, "reserved_concurrent_executions": 8},
        {"provisioned_concurrency": 2, "provisioned_utilization_target": 0.95, "max_provisioned_concurrency": 3},
        {"reserved_concurrent_executions": -1},
        {"url_auth_type": lambda_.FunctionUrlAuthType.NONE, "endpoint": None, "_both": True},
    ],
    ids=["snapstart+provisioned", "snapstart-py311", "max-without-min", "max-below-min", "above-reserved",
         "utilization", "negative-reserved", "endpoint-and-url-auth"],
)
def test_rejects_contradictory_concurrency_props(stack: cdk.Stack, props: dict[str, Any]) -> None:
    if props.pop("_both", False):
        props["endpoint"] = McpEndpoint.function_url()
    with pytest.raises(ValueError):
        service(stack, **props)


def test_snap_start_on_published_versions_without_provisioned_concurrency(stack: cdk.Stack) -> None:
    weather = service(stack, snap_start=True)
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::Lambda::Function", {"SnapStart": {"ApplyOn": "PublishedVersions"}})
    template.has_resource_properties("AWS::Lambda::Alias", {"ProvisionedConcurrencyConfig": Match.absent()})
    # CDK's "SnapStart needs published versions" warning is acknowledged: the alias always publishes one.
    assert weather.alias.version.node.id == "CurrentVersion"
    Annotations.from_stack(stack).has_no_warning("*", Match.string_like_regexp("SnapStart only supports"))


def test_provisioned_concurrency_scales_on_utilization_within_reserved_concurrency(stack: cdk.Stack) -> None:
    weather = service(
        stack, provisioned_concurrency=2, max_provisioned_concurrency=10, reserved_concurrent_executions=20
    )
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::Lambda::Function", {"ReservedConcurrentExecutions": 20})
    template.has_resource_properties(
        "AWS::Lambda::Alias", {"ProvisionedConcurrencyConfig": {"ProvisionedConcurrentExecutions": 2}}
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {
            "MinCapacity": 2,
            "MaxCapacity": 10,
            "ScalableDimension": "lambda:function:ProvisionedConcurrency",
            "ServiceNamespace": "lambda",
        },
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "TargetTrackingScalingPolicyConfiguration": {
                "PredefinedMetricSpecification": {"PredefinedMetricType": "LambdaProvisionedConcurrencyUtilization"},
                "TargetValue": 0.7,
            }
        },
    )
    assert weather.provisioned_scaling is not None


def test_environment_logs_and_request_state_secret_use_one_rotating_key(stack: cdk.Stack) -> None:
    weather = service(stack)
    template = Template.from_stack(stack)
    key = {"Fn::GetAtt": [stack.get_logical_id(weather.encryption_key.node.default_child), "Arn"]}
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True, "PendingWindowInDays": 7})
    template.has_resource_properties("AWS::Lambda::Function", {"KmsKeyArn": key})
    template.has_resource_properties("AWS::Logs::LogGroup", {"KmsKeyId": key, "RetentionInDays": 30})
    template.has_resource_properties(
        "AWS::SecretsManager::Secret",
        {"KmsKeyId": key, "GenerateSecretString": {"PasswordLength": 64, "ExcludePunctuation": True}},
    )
    secret = {"Ref": stack.get_logical_id(weather.request_state_secret.node.default_child)}
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": Match.object_like({"MCP_REQUEST_STATE_SECRET_ARN": secret})}},
    )
    # CloudWatch Logs may use the key, but only for log groups of this account and region.
    template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Principal": {
                                    "Service": {"Fn::Join": ["", ["logs.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}
                                },
                                "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": Match.any_value()}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_role_writes_to_its_own_log_group_only(stack: cdk.Stack) -> None:
    weather = service(stack, request_state_secret=False)
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::IAM::Role", {"ManagedPolicyArns": Match.absent()})
    log_group = {"Fn::GetAtt": [stack.get_logical_id(weather.log_group.node.default_child), "Arn"]}
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    {"Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Effect": "Allow", "Resource": log_group}
                ]
            }
        },
    )
