"""McpServiceMonitoring: the alarms and the dashboard of one MCP service, built in one place.

Why one place: the alarms and the graphs read the same metrics, so they are built here from the
service's ``metric_*`` methods (and those of its REST API), never from hand-written metric names. A
threshold or a statistic then changes in one spot, and a dashboard always shows what the alarms watch.

The guide's thresholds ("Monitoring & Alerting"):

- **Duration**: alert when the p99 of the live alias's ``Duration`` exceeds 3,000 ms. Evaluated per
  minute; 3 of the last 5 minutes must breach, so one slow cold start does not page anyone.
- **Error rate**: alert when ``Errors / Invocations`` exceeds 1 % for 5 consecutive minutes (a metric
  math expression, one-minute periods). Function errors are crashes and timeouts: a tool that reports an
  error to its client is a *tool* error (``ToolErrors``, graphed per tool) and not counted here.

With tasks (``McpTasks``): a row with tasks started, completed, failed and cancelled, the age of the
oldest running task and the worker events in the on-failure queue, and two alarms: failed tasks (at least
``failed_tasks_threshold`` in 5 minutes) and any event in the on-failure queue (a worker Lambda gave up on;
it stays raised until the queue is looked at and emptied).

An authorization server (``McpAuthorizationServer``) gets two alarms of its own
(``McpAuthorizationServerMonitoring``): any function error (it answers every failure of a request itself, so an
error is a configuration it cannot read, a permission it lacks or a crash) and any throttle (its reserved
concurrency is full: people cannot sign in); the dashboard of every server it protects gets its row
(``authorization_server_widgets``).

A placed tool's function (``McpToolFunction``) gets the same two alarms (``McpToolFunctionAlarms``): the front
turns its crashes, timeouts and throttles into tool errors, so they would show nowhere else as what they are;
its row (``tool_function_widgets``: invocations, errors, duration, throttles) joins its server's dashboard.

Missing data (no traffic) is not breaching. Per-tool graphs come from the runtime's EMF metrics
(namespace ``McpServers``, dimensions ``service`` and ``tool``): one line per tool named in ``tools``, or
a ``SEARCH`` expression that finds every tool the service has reported when ``tools`` is not given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from aws_cdk import Duration, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from mcp_lambda import contract as c

if TYPE_CHECKING:
    from mcp_lambda_cdk.database import McpDatabase

#: The guide's "LambdaDuration: Alert >3000ms", applied to the p99.
DEFAULT_DURATION_THRESHOLD = Duration.millis(3000)

#: The guide's "ErrorRate: >1% for 5 consecutive minutes".
DEFAULT_ERROR_RATE_PERCENT = 1.0
ERROR_RATE_MINUTES = 5

#: The runtime's EMF metric names (``mcp_lambda.observability``).

_ONE_MINUTE = Duration.minutes(1)


def any_in_five_minutes(scope: Construct, id: str, metric: cloudwatch.IMetric, description: str) -> cloudwatch.Alarm:
    """An alarm on the first occurrence of ``metric`` (a 5-minute sum) in one period: for events that should
    never happen (a function error where the function answers failures itself, a throttle)."""
    return metric.create_alarm(
        scope,
        id,
        alarm_description=description,
        threshold=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluation_periods=1,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )


def notify(alarms: Sequence[cloudwatch.Alarm], topic: sns.ITopic | None) -> None:
    """Send the alarm and OK notifications of ``alarms`` to ``topic`` (nothing when None)."""
    if topic is None:
        return
    action = cw_actions.SnsAction(topic)
    for alarm in alarms:
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)


class MonitoredService(Protocol):
    """What the monitoring reads: an ``McpLambdaService``."""

    service: str

    def metric_invocations(self, **options: Any) -> cloudwatch.Metric: ...
    def metric_errors(self, **options: Any) -> cloudwatch.Metric: ...
    def metric_throttles(self, **options: Any) -> cloudwatch.Metric: ...
    def metric_duration(self, **options: Any) -> cloudwatch.Metric: ...
    def metric_concurrent_executions(self, **options: Any) -> cloudwatch.Metric: ...
    def metric_provisioned_concurrency_spillover(self, **options: Any) -> cloudwatch.Metric: ...
    def metric_error_rate(self, **options: Any) -> cloudwatch.MathExpression: ...
    def metric_tool(self, metric_name: str, tool: str, **options: Any) -> cloudwatch.Metric: ...
    def metric_all_tools(self, metric_name: str, **options: Any) -> cloudwatch.MathExpression: ...


class MonitoredApi(Protocol):
    """What the monitoring reads of a REST API endpoint: an ``McpRestApi``."""

    def metric_count(self, **options: Any) -> cloudwatch.Metric: ...
    def metric_client_error(self, **options: Any) -> cloudwatch.Metric: ...
    def metric_server_error(self, **options: Any) -> cloudwatch.Metric: ...
    def metric_latency(self, **options: Any) -> cloudwatch.Metric: ...
    def metric_waf_blocked_requests(self, **options: Any) -> cloudwatch.Metric: ...


class MonitoredTasks(Protocol):
    """What the monitoring reads of a service's tasks: an ``McpTasks``."""

    def metric_tasks_started(self, **options: Any) -> cloudwatch.Metric: ...
    def metric_tasks_completed(self, **options: Any) -> cloudwatch.Metric: ...
    def metric_tasks_failed(self, **options: Any) -> cloudwatch.Metric: ...
    def metric_tasks_cancelled(self, **options: Any) -> cloudwatch.Metric: ...
    def metric_task_running_age(self, **options: Any) -> cloudwatch.Metric: ...
    def metric_failed_workers(self, **options: Any) -> cloudwatch.Metric: ...


class MonitoredFunction(Protocol):
    """What the monitoring reads of a function watched by its ``live`` alias: an ``McpToolFunction``, and the base
    of an authorization server's."""

    def metric_invocations(self, **options: Any) -> cloudwatch.Metric: ...
    def metric_errors(self, **options: Any) -> cloudwatch.Metric: ...
    def metric_throttles(self, **options: Any) -> cloudwatch.Metric: ...
    def metric_duration(self, **options: Any) -> cloudwatch.Metric: ...


class MonitoredAuthorizationServer(MonitoredFunction, Protocol):
    """What the monitoring reads of an authorization server: an ``McpAuthorizationServer``."""

    def metric_concurrent_executions(self, **options: Any) -> cloudwatch.Metric: ...


class McpServiceMonitoring(Construct):
    """Alarms (p99 duration, error rate) and a CloudWatch dashboard for one MCP service.

    :param scope: the parent construct.
    :param id: the construct id.
    :param service: the service to watch (an ``McpLambdaService``).
    :param api: its REST API endpoint, if it has one; adds request, error, latency and WAF graphs.
        Default: none.
    :param tasks: its tasks, if it has them; adds their graphs and alarms. Default: none.
    :param failed_tasks_threshold: failed tasks in 5 minutes that raise the failed-tasks alarm. Default: 1.
    :param tools: the service's tool names: one line per tool in the per-tool graphs. Default: a
        ``SEARCH`` expression over every tool the service reported.
    :param alarm_topic: where alarm and OK notifications go. Default: none (the alarms show on the
        dashboard and in the CloudWatch console only).
    :param duration_threshold: the p99 duration that raises the duration alarm. Default: 3,000 ms.
    :param error_rate_percent: the error rate (errors / invocations, in %) that raises the error-rate
        alarm when exceeded for 5 consecutive minutes. Default: 1.
    :param dashboard_name: the dashboard's name. Default: generated by CloudFormation.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        service: MonitoredService,
        api: MonitoredApi | None = None,
        tasks: MonitoredTasks | None = None,
        failed_tasks_threshold: int | float = 1,
        tools: Sequence[str] | None = None,
        alarm_topic: sns.ITopic | None = None,
        duration_threshold: Duration | None = None,
        error_rate_percent: int | float = DEFAULT_ERROR_RATE_PERCENT,
        dashboard_name: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        duration_threshold = duration_threshold or DEFAULT_DURATION_THRESHOLD
        validate_monitoring_props(
            tools=tools,
            duration_threshold=duration_threshold,
            error_rate_percent=error_rate_percent,
            failed_tasks_threshold=failed_tasks_threshold,
        )
        name = service.service
        self.tools = tuple(tools) if tools is not None else None
        threshold_ms = duration_threshold.to_milliseconds()

        self.duration_alarm = service.metric_duration(statistic="p99", period=_ONE_MINUTE).create_alarm(
            self,
            "DurationP99",
            alarm_description=f"{name}: p99 duration of the live alias above {threshold_ms} ms in 3 of 5 minutes",
            threshold=threshold_ms,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        """p99 ``Duration`` of the ``live`` alias above ``duration_threshold``."""

        self.error_rate_alarm = service.metric_error_rate(period=_ONE_MINUTE).create_alarm(
            self,
            "ErrorRate",
            alarm_description=(
                f"{name}: function errors above {error_rate_percent} % of invocations "
                f"for {ERROR_RATE_MINUTES} consecutive minutes"
            ),
            threshold=error_rate_percent,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=ERROR_RATE_MINUTES,
            datapoints_to_alarm=ERROR_RATE_MINUTES,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        """``100 * Errors / Invocations`` of the ``live`` alias above ``error_rate_percent``."""

        self.failed_tasks_alarm: cloudwatch.Alarm | None = None
        """Failed tasks (``TasksFailed``) at or above ``failed_tasks_threshold`` in 5 minutes, or None."""
        self.failed_workers_alarm: cloudwatch.Alarm | None = None
        """Worker events in the tasks' on-failure queue, or None."""
        if tasks is not None:
            self.failed_tasks_alarm = tasks.metric_tasks_failed(period=Duration.minutes(5)).create_alarm(
                self,
                "FailedTasks",
                alarm_description=f"{name}: {failed_tasks_threshold} or more tasks failed in 5 minutes",
                threshold=failed_tasks_threshold,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            self.failed_workers_alarm = tasks.metric_failed_workers(period=_ONE_MINUTE).create_alarm(
                self,
                "FailedWorkers",
                alarm_description=(
                    f"{name}: task worker events in the on-failure queue (Lambda gave up on them: errors after "
                    "retries, or too old); read them, then empty the queue"
                ),
                threshold=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )

        self.alarms: list[cloudwatch.Alarm] = [
            self.duration_alarm,
            self.error_rate_alarm,
            *(alarm for alarm in (self.failed_tasks_alarm, self.failed_workers_alarm) if alarm is not None),
        ]
        """Every alarm created here."""
        notify(self.alarms, alarm_topic)

        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=dashboard_name, default_interval=Duration.hours(3)
        )
        """The service's dashboard; add more with ``dashboard.add_widgets``."""
        self.dashboard.add_widgets(*self._function_widgets(service, threshold_ms, error_rate_percent))
        self.dashboard.add_widgets(*self._tool_widgets(service))
        if tasks is not None:
            self.dashboard.add_widgets(*self._task_widgets(tasks, failed_tasks_threshold))
        if api is not None:
            self.dashboard.add_widgets(*self._api_widgets(api))
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title=f"{name} alarms", alarms=list(self.alarms), width=24, height=3)
        )

    def _function_widgets(
        self, service: MonitoredService, threshold_ms: float, error_rate_percent: float
    ) -> list[cloudwatch.IWidget]:
        minute = {"period": _ONE_MINUTE}
        return [
            cloudwatch.GraphWidget(
                title="Invocations, errors and error rate",
                left=[service.metric_invocations(**minute), service.metric_errors(**minute)],
                right=[service.metric_error_rate(period=_ONE_MINUTE, label="Error rate (%)")],
                right_annotations=[
                    cloudwatch.HorizontalAnnotation(value=error_rate_percent, label="Error-rate alarm")
                ],
                right_y_axis=cloudwatch.YAxisProps(min=0, label="%", show_units=False),
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Duration (ms)",
                left=[
                    service.metric_duration(statistic="p50", label="p50", **minute),
                    service.metric_duration(statistic="p99", label="p99", **minute),
                ],
                left_annotations=[cloudwatch.HorizontalAnnotation(value=threshold_ms, label="p99 alarm")],
                left_y_axis=cloudwatch.YAxisProps(min=0),
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Concurrency and throttles",
                left=[
                    service.metric_concurrent_executions(label="Concurrent executions", **minute),
                    service.metric_provisioned_concurrency_spillover(label="Provisioned spillover", **minute),
                ],
                right=[service.metric_throttles(label="Throttles", **minute)],
                left_y_axis=cloudwatch.YAxisProps(min=0),
                right_y_axis=cloudwatch.YAxisProps(min=0),
                width=8,
            ),
        ]

    def _tool_widgets(self, service: MonitoredService) -> list[cloudwatch.IWidget]:
        graphs = (
            ("Tool calls", c.TOOL_CALLS, cloudwatch.Stats.SUM),
            ("Tool errors", c.TOOL_ERRORS, cloudwatch.Stats.SUM),
            ("Tool latency p99 (ms)", c.TOOL_LATENCY, "p99"),
        )
        widgets: list[cloudwatch.IWidget] = []
        for title, metric_name, statistic in graphs:
            if self.tools is not None:
                lines: list[cloudwatch.IMetric] = [
                    service.metric_tool(metric_name, tool, statistic=statistic, period=_ONE_MINUTE, label=tool)
                    for tool in self.tools
                ]
            else:
                lines = [service.metric_all_tools(metric_name, statistic=statistic, period=_ONE_MINUTE)]
            widgets.append(
                cloudwatch.GraphWidget(title=title, left=lines, left_y_axis=cloudwatch.YAxisProps(min=0), width=8)
            )
        return widgets

    @staticmethod
    def _task_widgets(tasks: MonitoredTasks, failed_tasks_threshold: float) -> list[cloudwatch.IWidget]:
        minute = {"period": _ONE_MINUTE}
        return [
            cloudwatch.GraphWidget(
                title="Tasks",
                left=[
                    tasks.metric_tasks_started(label="Started", **minute),
                    tasks.metric_tasks_completed(label="Completed", **minute),
                    tasks.metric_tasks_failed(label="Failed", **minute),
                    tasks.metric_tasks_cancelled(label="Cancelled", **minute),
                ],
                left_y_axis=cloudwatch.YAxisProps(min=0),
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Oldest running task (s)",
                left=[tasks.metric_task_running_age(label="Age of the oldest running task", **minute)],
                left_y_axis=cloudwatch.YAxisProps(min=0),
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Failed tasks and failed workers",
                left=[tasks.metric_tasks_failed(label="Failed tasks (5 min)", period=Duration.minutes(5))],
                left_annotations=[
                    cloudwatch.HorizontalAnnotation(value=failed_tasks_threshold, label="Failed-tasks alarm")
                ],
                right=[tasks.metric_failed_workers(label="Worker events in the on-failure queue", **minute)],
                left_y_axis=cloudwatch.YAxisProps(min=0),
                right_y_axis=cloudwatch.YAxisProps(min=0),
                width=8,
            ),
        ]

    @staticmethod
    def _api_widgets(api: MonitoredApi) -> list[cloudwatch.IWidget]:
        minute = {"period": _ONE_MINUTE}
        return [
            cloudwatch.GraphWidget(
                title="API requests and errors",
                left=[
                    api.metric_count(label="Requests", **minute),
                    api.metric_client_error(label="4xx", **minute),
                    api.metric_server_error(label="5xx", **minute),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="API latency (ms)",
                left=[
                    api.metric_latency(statistic="p50", label="p50", **minute),
                    api.metric_latency(statistic="p99", label="p99", **minute),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="WAF blocked requests", left=[api.metric_waf_blocked_requests(label="Blocked", **minute)], width=8
            ),
        ]


class FunctionAlarms(Construct):
    """Function errors and throttles of a function that answers request failures itself, each alarmed at the first
    occurrence in 5 minutes: nothing else would say that it crashed, timed out or ran out of concurrency. The
    base of ``McpAuthorizationServerMonitoring`` and ``McpToolFunctionAlarms``, which say what each means.

    :param scope: the parent construct.
    :param id: the construct id.
    :param function: the function to watch (its ``live`` alias's metrics).
    :param errors: the errors alarm's description.
    :param throttles: the throttles alarm's description.
    :param alarm_topic: where alarm and OK notifications go. Default: none.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        function: MonitoredFunction,
        errors: str,
        throttles: str,
        alarm_topic: sns.ITopic | None = None,
    ) -> None:
        super().__init__(scope, id)
        five_minutes = Duration.minutes(5)
        self.errors_alarm = any_in_five_minutes(self, "Errors", function.metric_errors(period=five_minutes), errors)
        """Any function error of the ``live`` alias in 5 minutes."""
        self.throttles_alarm = any_in_five_minutes(
            self, "Throttles", function.metric_throttles(period=five_minutes), throttles)
        """Any throttled invocation of the ``live`` alias in 5 minutes."""
        self.alarms: list[cloudwatch.Alarm] = [self.errors_alarm, self.throttles_alarm]
        """Every alarm created here."""
        notify(self.alarms, alarm_topic)


class McpAuthorizationServerMonitoring(FunctionAlarms):
    """The alarms of an authorization server: function errors and throttles, each at the first occurrence in
    5 minutes (see the module docstring for why one is enough). Built by every ``McpAuthorizationServer``
    (``server.monitoring``).

    :param scope: the parent construct.
    :param id: the construct id.
    :param server: the authorization server to watch.
    :param name: what the alarm descriptions call it.
    :param alarm_topic: where alarm and OK notifications go. Default: none.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        server: MonitoredAuthorizationServer,
        name: str,
        alarm_topic: sns.ITopic | None = None,
    ) -> None:
        super().__init__(
            scope, id, function=server, alarm_topic=alarm_topic,
            errors=f"{name}: the function failed (it answers request failures itself, so this is a configuration it "
            "cannot read, a permission it lacks, or a crash); people may be unable to sign in",
            throttles=f"{name}: requests refused for lack of concurrency (its reserved concurrency is full): sign-ins "
            "and token refreshes fail; raise reserved_concurrent_executions if the traffic is real",
        )


class McpToolFunctionAlarms(FunctionAlarms):
    """The alarms of a placed tool's function: function errors and throttles, each at the first occurrence in
    5 minutes. The front answers either as a tool error, so the client sees a clear message, but nothing else
    would say that the function crashed, timed out or ran out of concurrency. Built by every ``McpToolFunction``
    (``tool_function.monitoring``).

    :param scope: the parent construct.
    :param id: the construct id.
    :param function: the tool function to watch.
    :param name: what the alarm descriptions call it (``<server> <placement>``).
    :param alarm_topic: where alarm and OK notifications go. Default: none.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        function: MonitoredFunction,
        name: str,
        alarm_topic: sns.ITopic | None = None,
    ) -> None:
        super().__init__(
            scope, id, function=function, alarm_topic=alarm_topic,
            errors=f"{name} tool function: invocations crashed or timed out; the front answered them as tool errors "
            "saying the tool may or may not have run",
            throttles=f"{name} tool function: calls refused for lack of concurrency; the front answered them as tool "
            "errors asking to retry (raise the account's concurrency, or give the placement provisioned "
            "concurrency)",
        )


def _invocations_and_duration(function: MonitoredFunction, title: str, invocations: str) -> list[cloudwatch.IWidget]:
    """The first two graphs of a function's row: invocations (labelled ``invocations``) against errors, and
    duration p50/p99, per minute."""
    minute = {"period": _ONE_MINUTE}
    return [
        cloudwatch.GraphWidget(
            title=f"{title}: {invocations.lower()} and errors",
            left=[function.metric_invocations(label=invocations, **minute)],
            right=[function.metric_errors(label="Errors", **minute)],
            left_y_axis=cloudwatch.YAxisProps(min=0),
            right_y_axis=cloudwatch.YAxisProps(min=0),
            width=6,
        ),
        cloudwatch.GraphWidget(
            title=f"{title}: duration (ms)",
            left=[
                function.metric_duration(statistic="p50", label="p50", **minute),
                function.metric_duration(statistic="p99", label="p99", **minute),
            ],
            left_y_axis=cloudwatch.YAxisProps(min=0),
            width=6,
        ),
    ]


def _alarm_status(title: str, alarms: Sequence[cloudwatch.IAlarm]) -> list[cloudwatch.IWidget]:
    """The row's last widget: its alarms' states, when it has any."""
    return [cloudwatch.AlarmStatusWidget(title=title, alarms=list(alarms), width=6, height=6)] if alarms else []


def tool_function_widgets(
    function: MonitoredFunction, name: str, alarms: Sequence[cloudwatch.IAlarm] = ()
) -> list[cloudwatch.IWidget]:
    """Graphs of a placed tool's function ``name``, for ``Dashboard.add_widgets``: one row (its server's dashboard
    adds one per placement): invocations and errors, duration, throttles, and its alarms."""
    title = f"Tool function {name}"
    return [
        *_invocations_and_duration(function, title, "Invocations"),
        cloudwatch.GraphWidget(
            title=f"{title}: throttles",
            left=[function.metric_throttles(label="Throttles", period=_ONE_MINUTE)],
            left_y_axis=cloudwatch.YAxisProps(min=0),
            width=6,
        ),
        *_alarm_status(f"{title} alarms", alarms),
    ]


def authorization_server_widgets(
    server: MonitoredAuthorizationServer, alarms: Sequence[cloudwatch.IAlarm] = ()
) -> list[cloudwatch.IWidget]:
    """Graphs of an authorization server, for ``Dashboard.add_widgets``: one row (a server it protects adds
    them to its dashboard): requests and errors, duration, concurrency and throttles, and its alarms."""
    minute = {"period": _ONE_MINUTE}
    return [
        *_invocations_and_duration(server, "Authorization server", "Requests"),
        cloudwatch.GraphWidget(
            title="Authorization server: concurrency and throttles",
            left=[server.metric_concurrent_executions(label="Concurrent executions", **minute)],
            right=[server.metric_throttles(label="Throttles", **minute)],
            left_y_axis=cloudwatch.YAxisProps(min=0),
            right_y_axis=cloudwatch.YAxisProps(min=0),
            width=6,
        ),
        *_alarm_status("Authorization server alarms", alarms),
    ]


def validate_monitoring_props(
    *,
    tools: Sequence[str] | None,
    duration_threshold: Duration,
    error_rate_percent: int | float,
    failed_tasks_threshold: int | float = 1,
) -> None:
    """Reject impossible props at synth time; tokens are left to CloudFormation."""
    if tools is not None:
        if isinstance(tools, str):
            raise ValueError("tools must be a sequence of tool names, not one string")
        if len(set(tools)) != len(tools) or any(not t for t in tools):
            raise ValueError(f"tools must be distinct, non-empty names, got {list(tools)}")
    if not duration_threshold.is_unresolved() and duration_threshold.to_milliseconds() <= 0:
        raise ValueError("duration_threshold must be positive")
    if not Token.is_unresolved(error_rate_percent) and not 0 < error_rate_percent < 100:
        raise ValueError(f"error_rate_percent must be between 0 and 100, got {error_rate_percent}")
    if not Token.is_unresolved(failed_tasks_threshold) and failed_tasks_threshold < 1:
        raise ValueError(f"failed_tasks_threshold must be at least 1, got {failed_tasks_threshold}")


def database_widgets(database: McpDatabase) -> list[cloudwatch.IWidget]:
    """Graphs of a database's health, for ``Dashboard.add_widgets``: one row of four (a service given the
    database adds them to its dashboard)."""
    return [
        cloudwatch.GraphWidget(
            title="PostgreSQL CPU (%)",
            left=[database.metric_cpu_utilization()],
            left_y_axis=cloudwatch.YAxisProps(min=0, max=100),
            width=6,
        ),
        cloudwatch.GraphWidget(title="Free storage (bytes)", left=[database.metric_free_storage_space()], width=6),
        cloudwatch.GraphWidget(
            title="Connections",
            left=[database.metric_proxy_client_connections(label="Proxy client connections")],
            right=[database.metric_database_connections(label="Database connections")],
            width=6,
        ),
        cloudwatch.AlarmWidget(title="Write IOPS and its anomaly band", alarm=database.write_iops_alarm, width=6),
    ]
