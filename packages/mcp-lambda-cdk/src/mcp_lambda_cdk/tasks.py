"""McpTasks: what a service's long-running tools (the MCP Tasks extension) need on AWS.

The runtime side (``mcp_lambda/tasks/``) answers a task tool's ``tools/call`` at once, keeps the
task in DynamoDB and runs the tool in an asynchronous invocation of the same function (an
``{"mcp_task": ...}`` event to the ``live`` alias). So a service with tasks needs:

- **a table** as ``DynamoDBTaskStore`` expects it: partition key ``task_id`` (S), no sort key, TTL on
  ``expires_at``; on-demand (tasks come in bursts and idle otherwise), point-in-time recovery, encrypted
  with the service's customer managed key. Task state lives an hour by default, so the table goes with
  the stack (``removal_policy``) like the key that encrypts it.
- **exactly the calls the runtime makes**: ``dynamodb:GetItem`` (consistent reads) and ``dynamodb:PutItem``
  (every write is a conditional put) on the table, the key actions DynamoDB needs of its callers, and
  ``lambda:InvokeFunction`` on the function itself (its own ARN and qualified ARNs).
- **the ``MCP_TASKS_*`` variables** (``mcp_lambda.tasks.config``).
- **an on-failure destination** for worker events Lambda gave up on: an SQS queue under the same key.

Why the function needs a name fixed at synthesis (``worker_function_name``): its role's policy must name
the function, but CloudFormation creates the role's policy before the function (the function depends on
it), so the policy cannot refer to the function's ``Arn`` attribute without a circular dependency. The
ARN is therefore built from the name (``Stack.format_arn``), which the function is also given.

Why two retries are safe: a worker first *claims* its run with a conditional write (``TaskLifecycle.claim``:
only a ``working`` task whose current run has no worker yet), and the worker records every outcome of the
tool itself and returns normally, so Lambda retries only invocations that failed before or while claiming
(DynamoDB unreachable, an init error) or crashed outright (out of memory). A retry of the first kind now
claims and runs the tool; of the second it finds the run claimed and ends at once ("skipped"); a task is
never run twice. Events older than the start timeout are dropped to the queue: by then the task has been
reported failed (the runtime fails a task whose worker did not start within it), so running it would help
no one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aws_cdk import ArnFormat, Duration, Names, RemovalPolicy, Stack, Token, Tokenization
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from mcp_lambda import contract as c

from mcp_lambda_cdk.policy import acknowledge

#: The only DynamoDB calls ``DynamoDBTaskStore`` makes.
TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem")

#: What DynamoDB needs of the caller on a table under a customer managed key to read and write items (the
#: key actions of aws-cdk-lib's ``grantReadWriteData``, which its generic ``grant`` leaves out).
TABLE_KEY_ACTIONS = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*")

#: Lambda's retries of a failed worker event; see the module docstring for why retrying is safe.
WORKER_RETRY_ATTEMPTS = 2

_MIN_EVENT_AGE, _MAX_EVENT_AGE = Duration.minutes(1), Duration.hours(6)
_MIN_RETENTION, _MAX_RETENTION = Duration.minutes(1), Duration.days(14)


@dataclass(frozen=True)
class TasksOptions:
    """Tasks for an ``McpLambdaService`` (``tasks=TasksOptions()``); the runtime's ``MCP_TASKS_*`` settings.

    :param ttl: how long a task and its result stay readable after creation (``MCP_TASKS_TTL_SECONDS``, the
        table's TTL); at least the function's timeout. Default: 1 hour.
    :param poll_interval: the polling interval suggested to clients (``MCP_TASKS_POLL_INTERVAL_MS``).
        Default: 2 seconds.
    :param heartbeat: how often a running worker renews its lease, in whole seconds; three missed beats
        fail the task (``MCP_TASKS_HEARTBEAT_SECONDS``). Default: 5 seconds.
    :param start_timeout: how long a task may wait for its worker to start before it is reported failed
        (``MCP_TASKS_START_TIMEOUT_SECONDS``), and so the maximum age of a worker event (1 minute to
        6 hours). Default: 5 minutes.
    :param removal_policy: what happens to the table when it leaves the stack. Default:
        ``RemovalPolicy.DESTROY`` (tasks expire within ``ttl``; the service's default key goes too).
    :param failure_retention: how long the on-failure queue keeps the events of workers that never ran
        (1 minute to 14 days). Default: 14 days.
    :param failed_tasks_alarm_threshold: failed tasks in 5 minutes that raise the failed-tasks alarm.
        Default: 1.
    """

    ttl: Duration = field(default_factory=lambda: Duration.hours(1))
    poll_interval: Duration = field(default_factory=lambda: Duration.seconds(2))
    heartbeat: Duration = field(default_factory=lambda: Duration.seconds(5))
    start_timeout: Duration = field(default_factory=lambda: Duration.minutes(5))
    removal_policy: RemovalPolicy = RemovalPolicy.DESTROY
    failure_retention: Duration = field(default_factory=lambda: Duration.days(14))
    failed_tasks_alarm_threshold: int = 1

    def __post_init__(self) -> None:
        _within("start_timeout", self.start_timeout, _MIN_EVENT_AGE, _MAX_EVENT_AGE)
        _within("failure_retention", self.failure_retention, _MIN_RETENTION, _MAX_RETENTION)
        _within("heartbeat", self.heartbeat, Duration.seconds(1), Duration.minutes(1))
        if not self.heartbeat.is_unresolved() and not float(self.heartbeat.to_seconds(integral=False)).is_integer():
            raise ValueError(f"heartbeat must be whole seconds, got {self.heartbeat.to_human_string()}")
        _within("poll_interval", self.poll_interval, Duration.millis(100), Duration.minutes(5))
        _within("ttl", self.ttl, Duration.minutes(1), Duration.days(30))
        threshold = self.failed_tasks_alarm_threshold
        if not Token.is_unresolved(threshold) and not (float(threshold).is_integer() and threshold >= 1):
            raise ValueError(f"failed_tasks_alarm_threshold must be a whole number >= 1, got {threshold}")

    def validate_for(self, timeout: Duration) -> None:
        """Reject a ``ttl`` shorter than the function's ``timeout``: a task could expire while it runs."""
        if not (self.ttl.is_unresolved() or timeout.is_unresolved()) and (
            self.ttl.to_milliseconds() < timeout.to_milliseconds()
        ):
            raise ValueError(
                f"tasks ttl ({self.ttl.to_human_string()}) is shorter than the function timeout "
                f"({timeout.to_human_string()}): a task could expire while its worker runs"
            )


def worker_function_name(scope: Construct) -> str:
    """The fixed name for the function of the service ``scope``: unique in the app (path and hash), at
    most Lambda's 64 characters. Fixed at synthesis so the role's policy can name it (module docstring)."""
    return Names.unique_resource_name(scope, max_length=64, separator="-")


class McpTasks(Construct):
    """The table, permissions, variables and on-failure destination of a service's tasks; built by
    ``McpLambdaService(tasks=TasksOptions(...))`` (``service.tasks``), where its metrics reach the dashboard.

    :param scope: the parent construct.
    :param id: the construct id.
    :param function: the service's function, created with ``function_name``.
    :param function_name: the function's fixed name (``worker_function_name``).
    :param alias: the alias workers are invoked through (``MCP_TASKS_WORKER_ARN``), which carries the
        asynchronous-invocation settings.
    :param encryption_key: encrypts the table and the queue.
    :param metrics_namespace: the namespace of the runtime's metrics. Default: ``McpServers``.
    :param metrics_service: their ``service`` dimension.
    :param options: the settings.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        function: lambda_.Function,
        function_name: str,
        alias: lambda_.Alias,
        encryption_key: kms.IKey,
        metrics_service: str,
        options: TasksOptions,
        metrics_namespace: str = c.METRICS_NAMESPACE,
    ) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        self.options = options
        self.metrics_namespace, self.metrics_service = metrics_namespace, metrics_service

        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=c.TASK_TABLE_PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            time_to_live_attribute=c.TASK_TABLE_TTL_ATTRIBUTE,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=encryption_key,
            removal_policy=options.removal_policy,
        )
        """Task state: one item per task, expired by DynamoDB's TTL."""
        self.table.grant(function, *TABLE_ACTIONS)
        encryption_key.grant(function, *TABLE_KEY_ACTIONS)

        self.function_arn = stack.format_arn(
            service="lambda", resource="function", resource_name=function_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        """The function's unqualified ARN, built from its name (no reference to the function itself)."""
        self.worker_arn = f"{self.function_arn}:{alias.alias_name}"
        """What the runtime invokes to run a task: the alias, whose on-failure settings apply."""
        iam.Grant.add_to_principal(
            grantee=function,
            actions=["lambda:InvokeFunction"],
            resource_arns=[self.function_arn, f"{self.function_arn}:*"],
        )

        self._encryption_key = encryption_key
        self._settings = {
            c.MCP_TASKS_TABLE: self.table.table_name,
            c.MCP_TASKS_TTL_SECONDS: _number(options.ttl.to_seconds()),
            c.MCP_TASKS_POLL_INTERVAL_MS: _number(options.poll_interval.to_milliseconds()),
            c.MCP_TASKS_HEARTBEAT_SECONDS: _number(options.heartbeat.to_seconds()),
            c.MCP_TASKS_START_TIMEOUT_SECONDS: _number(options.start_timeout.to_seconds()),
        }
        for name, value in {**self._settings, c.MCP_TASKS_WORKER_ARN: self.worker_arn}.items():
            function.add_environment(name, value)

        self.failure_queue = sqs.Queue(
            self,
            "FailedWorkers",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=encryption_key,
            enforce_ssl=True,
            retention_period=options.failure_retention,
        )
        """Worker events Lambda gave up on (all retries failed, or older than ``start_timeout``)."""
        acknowledge(
            self.failure_queue,
            "AwsSolutions-SQS3",
            "this queue is itself the on-failure destination of the task workers; nothing consumes it "
            "automatically, so there is nothing to dead-letter",
        )

        self._configure_worker(alias)
        role = function.role
        assert role is not None
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{_nag_arn(self, self.function_arn)}:*]",
            "the function invokes itself asynchronously to run tasks, through its live alias: its own "
            "qualified ARNs only",
        )
        _acknowledge_key_actions(role)

    def add_worker(self, function: lambda_.Function, alias: lambda_.Alias) -> None:
        """Let ``function`` (a placed task tool's, ``ToolPlacement(tasks=True)``) run the tasks the front makes
        of its tools and dispatches to ``alias``: read and write the task table (and its key), the task settings
        (no worker ARN: it dispatches nothing, the front does), and the front's retries and on-failure queue
        for the asynchronous invocations that reach it. Nothing else of the front's: no invoke permission."""
        self.table.grant(function, *TABLE_ACTIONS)
        self._encryption_key.grant(function, *TABLE_KEY_ACTIONS)
        for name, value in self._settings.items():
            function.add_environment(name, value)
        self._configure_worker(alias)
        assert function.role is not None
        _acknowledge_key_actions(function.role)

    def _configure_worker(self, alias: lambda_.Alias) -> None:
        """Asynchronous invocations of ``alias`` (task events): retried, then kept in the on-failure queue."""
        alias.configure_async_invoke(
            on_failure=destinations.SqsDestination(self.failure_queue),
            retry_attempts=WORKER_RETRY_ATTEMPTS,
            max_event_age=self.options.start_timeout,
        )

    # -- metrics ---------------------------------------------------------------------------------------

    def metric(self, metric_name: str, **options: object) -> cloudwatch.Metric:
        """One of the runtime's task metrics (``service`` dimension). Default: the sum over 5 minutes."""
        return cloudwatch.Metric(
            namespace=self.metrics_namespace,
            metric_name=metric_name,
            dimensions_map={"service": self.metrics_service},
            **{"statistic": cloudwatch.Stats.SUM, "period": Duration.minutes(5), **options},
        )

    def metric_tasks_started(self, **options: object) -> cloudwatch.Metric:
        """Tool calls that became tasks. Default: sum over 5 minutes."""
        return self.metric(c.TASKS_STARTED, **options)

    def metric_tasks_completed(self, **options: object) -> cloudwatch.Metric:
        """Tasks that completed (a tool result, ``isError`` included). Default: sum over 5 minutes."""
        return self.metric(c.TASKS_COMPLETED, **options)

    def metric_tasks_failed(self, **options: object) -> cloudwatch.Metric:
        """Tasks that failed: a JSON-RPC error, a worker that did not start, crashed or hit the timeout.
        Default: sum over 5 minutes."""
        return self.metric(c.TASKS_FAILED, **options)

    def metric_tasks_cancelled(self, **options: object) -> cloudwatch.Metric:
        """Tasks cancelled by their clients. Default: sum over 5 minutes."""
        return self.metric(c.TASKS_CANCELLED, **options)

    def metric_task_running_age(self, **options: object) -> cloudwatch.Metric:
        """Seconds since the oldest running task was created (each heartbeat reports its task's age).
        Default: maximum over 5 minutes."""
        return self.metric(c.TASK_RUNNING_AGE, **{"statistic": cloudwatch.Stats.MAXIMUM, **options})

    def metric_failed_workers(self, **options: object) -> cloudwatch.Metric:
        """Worker events waiting in the on-failure queue. Default: maximum over 5 minutes."""
        return self.failure_queue.metric_approximate_number_of_messages_visible(
            **{"statistic": cloudwatch.Stats.MAXIMUM, "period": Duration.minutes(5), **options}
        )


def _acknowledge_key_actions(role: iam.IRole) -> None:
    for action in ("kms:ReEncrypt*", "kms:GenerateDataKey*"):
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Action::{action}]",
            "the data-key actions DynamoDB and SQS need of a caller of an encrypted table or queue, "
            "on the service's own key only",
        )


def _within(name: str, value: Duration, low: Duration, high: Duration) -> None:
    if value.is_unresolved():
        return
    if not low.to_milliseconds() <= value.to_milliseconds() <= high.to_milliseconds():
        raise ValueError(
            f"{name} must be from {low.to_human_string()} to {high.to_human_string()}, got {value.to_human_string()}"
        )


def _number(value: float) -> str:
    """An environment value for a number that may be a token."""
    return Tokenization.stringify_number(value) if Token.is_unresolved(value) else f"{value:g}"


def _nag_arn(scope: Construct, arn: str) -> str:
    """``arn`` as cdk-nag writes it in finding ids: references as ``<AWS::Region>``, the rest verbatim."""
    resolved = Stack.of(scope).resolve(arn)
    if isinstance(resolved, str):
        return resolved
    parts = resolved["Fn::Join"][1]
    return "".join(part if isinstance(part, str) else f"<{part['Ref']}>" for part in parts)
