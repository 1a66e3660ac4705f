"""McpLambdaService(tasks=...): the table, the exact permissions, the variables, the worker settings and the
monitoring the runtime's tasks (mcp_lambda/tasks/) need, synthesized for real (CloudFormation's own
validation runs at synthesis, so a circular dependency fails the build)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Annotations, Match, Template

from mcp_lambda_cdk.lambda_service import McpEndpoint, McpLambdaService
from mcp_lambda_cdk.tasks import TasksOptions
from tests.cdk.conftest import spec
from tests.cdk.test_monitoring import dashboard_metrics


def build(make_app, tasks: TasksOptions | None = None, **props: Any) -> tuple[cdk.Stack, McpLambdaService, Template]:
    stack = cdk.Stack(make_app(), "TestStack")
    service = McpLambdaService(stack, "Reports", server=spec("reports"), tasks=tasks or TasksOptions(), **props)
    return stack, service, Template.from_stack(stack)


def logical_id(stack: cdk.Stack, construct: Any) -> str:
    return stack.get_logical_id(construct.node.default_child)


def arn_of(stack: cdk.Stack, construct: Any) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id(stack, construct), "Arn"]}


def function_arn(name: str, suffix: str = "") -> dict[str, Any]:
    return {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":lambda:", {"Ref": "AWS::Region"}, ":",
                              {"Ref": "AWS::AccountId"}, f":function:{name}{suffix}"]]}


def role_statements(stack: cdk.Stack, service: McpLambdaService, template: Template) -> list[dict[str, Any]]:
    (policy,) = template.find_resources(
        "AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": logical_id(stack, service.role)}]}}
    ).values()
    return policy["Properties"]["PolicyDocument"]["Statement"]


def actions(statement: dict[str, Any]) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def test_the_table_matches_the_runtime_store_with_pitr_ttl_and_the_service_key(make_app) -> None:
    stack, service, template = build(make_app)
    assert service.tasks is not None
    template.resource_count_is("AWS::DynamoDB::Table", 1)
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            # mcp_lambda/tasks/dynamodb.py: partition key task_id (S), no sort key, TTL on expires_at
            "KeySchema": [{"AttributeName": "task_id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "task_id", "AttributeType": "S"}],
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS",
                                 "KMSMasterKeyId": arn_of(stack, service.encryption_key)},
        },
    )
    # Task state expires within the hour: it goes with the stack, like the key that encrypts it.
    template.has_resource("AWS::DynamoDB::Table", {"DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete"})


def test_a_given_key_and_removal_policy_are_used(make_app) -> None:
    stack = cdk.Stack(make_app(), "TestStack")
    key = kms.Key(stack, "SharedKey", enable_key_rotation=True)
    McpLambdaService(stack, "Reports", server=spec("reports"), encryption_key=key,
                     tasks=TasksOptions(removal_policy=cdk.RemovalPolicy.RETAIN))
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::KMS::Key", 1)
    template.has_resource_properties("AWS::DynamoDB::Table", {"SSESpecification": Match.object_like(
        {"KMSMasterKeyId": arn_of(stack, key)})})
    template.has_resource_properties("AWS::SQS::Queue", {"KmsMasterKeyId": arn_of(stack, key)})
    template.has_resource("AWS::DynamoDB::Table", {"DeletionPolicy": "Retain"})


def test_the_role_may_get_and_put_task_items_and_nothing_else_in_dynamodb(make_app) -> None:
    stack, service, template = build(make_app)
    assert service.tasks is not None
    statements = role_statements(stack, service, template)
    dynamodb = [s for s in statements if any(a.startswith("dynamodb:") for a in actions(s))]
    # The only calls DynamoDBTaskStore makes: get_item (consistent reads) and put_item (conditional writes).
    assert dynamodb == [{"Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Effect": "Allow",
                         "Resource": arn_of(stack, service.tasks.table)}]
    # The table's key: what DynamoDB needs of its callers to read and write items, on the service's key only.
    key_statements = [s for s in statements if any(a.startswith("kms:") for a in actions(s))]
    assert [s["Resource"] for s in key_statements] == [arn_of(stack, service.encryption_key)]
    assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(actions(key_statements[0]))


def test_the_function_may_invoke_itself_by_a_fixed_name_without_a_circular_dependency(make_app) -> None:
    # Synthesis ran CloudFormation's validation (Template.from_stack): no circular dependency.
    stack, service, template = build(make_app)
    (function,) = template.find_resources("AWS::Lambda::Function").values()
    name = function["Properties"]["FunctionName"]
    assert isinstance(name, str) and name.startswith("TestStack-Reports-") and len(name) <= 64
    invoke = [s for s in role_statements(stack, service, template) if "lambda:InvokeFunction" in actions(s)]
    assert invoke == [{"Action": "lambda:InvokeFunction", "Effect": "Allow",
                       "Resource": [function_arn(name), function_arn(name, ":*")]}]
    assert logical_id(stack, service.function) not in json.dumps(role_statements(stack, service, template))


def test_a_policy_naming_the_function_by_reference_would_not_synthesize(make_app) -> None:
    # The negative control for the test above: what the fixed name avoids.
    stack = cdk.Stack(make_app(), "TestStack")
    service = McpLambdaService(stack, "Reports", server=spec("reports"))
    service.function.grant_invoke(service.function)
    with pytest.raises(RuntimeError, match="ValidationFailed") as failure:
        Template.from_stack(stack)
    report = re.search(r"found in: (\S+\.json)", str(failure.value))
    assert report is not None and "Circular Dependencies" in Path(report.group(1)).read_text()


def test_the_runtime_settings_are_set(make_app) -> None:
    stack, service, template = build(
        make_app,
        TasksOptions(ttl=cdk.Duration.hours(2), poll_interval=cdk.Duration.millis(1500),
                     heartbeat=cdk.Duration.seconds(10), start_timeout=cdk.Duration.minutes(10)),
    )
    assert service.tasks is not None
    (function,) = template.find_resources("AWS::Lambda::Function").values()
    name = function["Properties"]["FunctionName"]
    variables = function["Properties"]["Environment"]["Variables"]
    assert {k: v for k, v in variables.items() if k.startswith("MCP_TASKS_")} == {
        "MCP_TASKS_TABLE": {"Ref": logical_id(stack, service.tasks.table)},
        "MCP_TASKS_WORKER_ARN": function_arn(name, ":live"),
        "MCP_TASKS_TTL_SECONDS": "7200",
        "MCP_TASKS_POLL_INTERVAL_MS": "1500",
        "MCP_TASKS_HEARTBEAT_SECONDS": "10",
        "MCP_TASKS_START_TIMEOUT_SECONDS": "600",
    }


def test_failed_worker_events_go_to_an_encrypted_queue_after_two_retries_within_the_start_timeout(make_app) -> None:
    stack, service, template = build(make_app)
    assert service.tasks is not None
    queue = arn_of(stack, service.tasks.failure_queue)
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "FunctionName": {"Ref": logical_id(stack, service.function)},
            "Qualifier": Match.object_like({"Fn::Select": [7, Match.any_value()]}),  # the live alias
            "MaximumRetryAttempts": 2,  # safe: a second delivery finds the run claimed and does nothing
            "MaximumEventAgeInSeconds": 300,  # the start timeout: older events' tasks are already failed
            "DestinationConfig": {"OnFailure": {"Destination": queue}},
        },
    )
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {"KmsMasterKeyId": arn_of(stack, service.encryption_key), "MessageRetentionPeriod": 14 * 24 * 3600},
    )
    template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {"PolicyDocument": {"Statement": [Match.object_like(
            {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})], "Version": "2012-10-17"}},
    )
    sends = [s for s in role_statements(stack, service, template) if "sqs:SendMessage" in actions(s)]
    assert [s["Resource"] for s in sends] == [queue], "Lambda sends to the destination with the function's role"


def test_tasks_allow_the_longest_timeout_and_default_to_it(make_app) -> None:
    _, _, template = build(make_app)
    template.has_resource_properties("AWS::Lambda::Function", {"Timeout": 900})
    with pytest.raises(ValueError, match="15 minutes"):
        build(make_app, timeout=cdk.Duration.seconds(901))


def test_a_ttl_shorter_than_the_timeout_is_refused(make_app) -> None:
    with pytest.raises(ValueError, match="expire while its worker runs"):
        build(make_app, TasksOptions(ttl=cdk.Duration.minutes(10)))


def test_behind_a_rest_api_tasks_run_long_while_synchronous_calls_keep_the_gateway_limit(make_app) -> None:
    # Without tasks the REST API's 29 s still bounds the function (a longer call would be a 504).
    with pytest.raises(ValueError, match="integration timeout"):
        McpLambdaService(cdk.Stack(make_app(), "NoTasks"), "Weather", server=spec("weather"),
                         endpoint=McpEndpoint.rest_api(), timeout=cdk.Duration.seconds(60))
    # With tasks the function may run 15 minutes; the gateway still cuts synchronous calls, and says so.
    stack, _, template = build(make_app, endpoint=McpEndpoint.rest_api())
    template.has_resource_properties("AWS::Lambda::Function", {"Timeout": 900})
    template.has_resource_properties("AWS::ApiGateway::Method", {"Integration": Match.object_like(
        {"TimeoutInMillis": 29000})})
    Annotations.from_stack(stack).has_warning("/TestStack/Reports", Match.string_like_regexp("cut off"))


@pytest.mark.parametrize(
    "options",
    [
        {"start_timeout": cdk.Duration.seconds(30)},
        {"start_timeout": cdk.Duration.hours(7)},
        {"failure_retention": cdk.Duration.days(15)},
        {"heartbeat": cdk.Duration.millis(1500)},
        {"heartbeat": cdk.Duration.minutes(2)},
        {"poll_interval": cdk.Duration.millis(10)},
        {"failed_tasks_alarm_threshold": 0},
    ],
    ids=lambda options: "-".join(options),
)
def test_rejects_impossible_task_options(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        TasksOptions(**options)


def test_without_tasks_there_is_no_table_no_fixed_name_and_no_worker_settings(make_app) -> None:
    stack = cdk.Stack(make_app(), "TestStack")
    service = McpLambdaService(stack, "Weather", server=spec("weather"))
    template = Template.from_stack(stack)
    assert service.tasks is None
    for resource_type in ("AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::Lambda::EventInvokeConfig"):
        template.resource_count_is(resource_type, 0)
    template.has_resource_properties("AWS::Lambda::Function", {"FunctionName": Match.absent(), "Timeout": 30})


# -- monitoring ---------------------------------------------------------------------------------------------


def test_the_dashboard_graphs_task_counts_the_oldest_running_task_and_failed_workers(make_app) -> None:
    _, _, template = build(make_app)
    lines = dashboard_metrics(template)
    tasks = {line[1]: line for line in lines if line[0] == "McpServers" and line[1].startswith("Task")}
    assert set(tasks) == {"TasksStarted", "TasksCompleted", "TasksFailed", "TasksCancelled", "TaskRunningAge"}
    for line in tasks.values():
        assert line[2:4] == ["service", "reports"] and len(line) == 5, "dimension service only, as the runtime emits"
    assert tasks["TaskRunningAge"][-1]["stat"] == "Maximum", "the age of the oldest running task"
    queue = [line for line in lines if line[:2] == ["AWS/SQS", "ApproximateNumberOfMessagesVisible"]]
    assert len(queue) == 1


def test_failed_tasks_and_failed_workers_raise_alarms_that_notify_the_topic(make_app) -> None:
    stack = cdk.Stack(make_app(), "TestStack")
    topic = sns.Topic(stack, "Alarms")
    service = McpLambdaService(stack, "Reports", server=spec("reports"), alarm_topic=topic,
                               tasks=TasksOptions(failed_tasks_alarm_threshold=3))
    template = Template.from_stack(stack)
    topic_ref = [{"Ref": logical_id(stack, topic)}]
    notify = {"AlarmActions": topic_ref, "OKActions": topic_ref}
    template.has_resource_properties("AWS::CloudWatch::Alarm", {
        "Namespace": "McpServers", "MetricName": "TasksFailed", "Dimensions": [{"Name": "service", "Value": "reports"}],
        "Statistic": "Sum", "Period": 300, "Threshold": 3, "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching", **notify})
    assert service.tasks is not None
    template.has_resource_properties("AWS::CloudWatch::Alarm", {
        "Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible", "Statistic": "Maximum",
        "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [logical_id(stack, service.tasks.failure_queue),
                                                                       "QueueName"]}}],
        "Threshold": 1, "ComparisonOperator": "GreaterThanOrEqualToThreshold", **notify})
    monitoring = service.monitoring
    assert monitoring.failed_tasks_alarm in monitoring.alarms and monitoring.failed_workers_alarm in monitoring.alarms
    assert len(template.find_resources("AWS::CloudWatch::Alarm")) == 4


def test_the_duration_alarm_watches_for_invocations_nearing_the_timeout(make_app) -> None:
    # Task workers run on the same alias for minutes by design: 3 s would alarm on every report.
    _, _, template = build(make_app)
    template.has_resource_properties("AWS::CloudWatch::Alarm", {"MetricName": "Duration", "Threshold": 720_000})
    _, _, template = build(make_app, duration_alarm_threshold=cdk.Duration.minutes(5))
    template.has_resource_properties("AWS::CloudWatch::Alarm", {"MetricName": "Duration", "Threshold": 300_000})
