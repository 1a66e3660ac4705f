"""McpRestApi: an API Gateway REST API (regional) in front of an MCP function, behind AWS WAF.

Why a REST API and not only a Function URL: a Function URL cannot carry a WAF web ACL, per-client
throttling or access logs of its own. The REST API adds, in front of the same ``live`` alias:

- stage throttling (steady rate and burst) and a per-IP rate rule in WAF, so one client cannot exhaust
  the function's concurrency;
- AWS managed WAF rules against SQL injection and known-bad inputs (the guide's "Enable AWS WAF against
  SQL injection"), with the ``authorization`` header redacted from the WAF logs;
- JSON access logs and ERROR-level execution logs, both in KMS-encrypted log groups with a retention;
- a request validator on every method: a ``POST`` must carry a ``Content-Type`` and a JSON object or array
  (a JSON-RPC message or batch), checked before the function is invoked.

Routes, all Lambda proxy integrations on the function's alias: ``POST``/``GET``/``DELETE`` on ``/mcp`` and
``/`` (the runtime answers ``GET`` and ``DELETE`` with 405 and ``Allow: POST``, as the specification asks of
a server without an SSE stream; left unrouted, API Gateway would answer 403 instead), and ``GET`` on
``/.well-known/oauth-protected-resource/{proxy+}`` for the RFC 9728 metadata of servers with sign-in.

Differences from a Function URL that clients can see:

- REST APIs rename a function's ``WWW-Authenticate`` response header to
  ``x-amzn-Remapped-WWW-Authenticate``. The runtime therefore also puts the metadata URL into the JSON-RPC
  error's ``data.resource_metadata``, and the project's proxy CLI reads either header.
- The execute-api URL carries the stage (``https://<id>.execute-api.<region>.amazonaws.com/<stage>/mcp``),
  so the RFC 9728 well-known URL derived from it (``https://<host>/.well-known/oauth-protected-resource/<stage>/mcp``)
  lies outside the stage and cannot be served. Servers with sign-in give the API a custom domain
  (``domain_name``), which maps the stage at the root: the resource is then ``https://<domain>/mcp`` and
  its metadata ``https://<domain>/.well-known/oauth-protected-resource/mcp``.
- The integration timeout is 29 seconds unless the account's quota was raised: a function allowed to run
  longer would be cut off by a 504 while it goes on running (and billing). ``McpLambdaService`` refuses a
  function timeout above ``integration_timeout``.
- A body that is not a JSON object or array is refused by the validator with API Gateway's own
  ``400 {"message": "Invalid request body"}`` rather than the runtime's JSON-RPC parse error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from mcp_lambda import contract as c

from mcp_lambda_cdk.policy import acknowledge

#: The MCP endpoint's path segment, as the runtime serves it by default.
MCP_PATH = c.DEFAULT_MCP_PATH.strip("/")

#: The RFC 9728 metadata prefix the runtime serves (``mcp_lambda.auth.gate.WELL_KNOWN``).
WELL_KNOWN_PATH = c.PROTECTED_RESOURCE_WELL_KNOWN.strip("/")

#: API Gateway's default maximum integration timeout for REST APIs.
DEFAULT_INTEGRATION_TIMEOUT = Duration.seconds(29)

#: The HTTP methods routed to the function on ``/mcp`` and ``/``.
MCP_METHODS = ("POST", "GET", "DELETE")

_MIN_WAF_RATE_LIMIT = 10
_MAX_WAF_RATE_LIMIT = 2_000_000_000
_WAF_WINDOWS_SECONDS = (60, 120, 300, 600)
_MIN_INTEGRATION_TIMEOUT_MS = 50


class McpRestApi(Construct):
    """A regional REST API that proxies MCP requests to ``handler``, with WAF, throttling and logs.

    :param scope: the parent construct.
    :param id: the construct id.
    :param handler: the function (usually the ``live`` alias) every route invokes.
    :param service: the service's name; names the API, the stage description and the WAF metrics.
    :param encryption_key: encrypts the access, execution and WAF log groups; its key policy must let
        CloudWatch Logs use it. Default: the log groups use CloudWatch Logs' own encryption.
    :param authorization_type: ``NONE`` (the server authenticates, or the service is public) or ``IAM``
        (SigV4-signed callers allowed with ``grant_invoke``). Default: ``AuthorizationType.NONE``.
    :param stage_name: the stage, the first segment of the execute-api URL's path. Default: ``live``.
    :param throttling_rate_limit: steady-state requests per second for the whole stage. Default: 100.
    :param throttling_burst_limit: the burst (token bucket size) for the whole stage. Default: 200.
    :param waf_rate_limit: requests one IP address may send per ``waf_rate_window`` before WAF blocks it.
        Default: 1000.
    :param waf_rate_window: the window ``waf_rate_limit`` counts over: 1, 2, 5 or 10 minutes.
        Default: 5 minutes.
    :param integration_timeout: how long API Gateway waits for the function, 50 ms to 29 s (more needs
        a quota increase). Default: 29 seconds.
    :param log_retention: retention of the access, execution and WAF logs. Default: ``RetentionDays.ONE_MONTH``.
    :param cloud_watch_role: create the account-wide role API Gateway writes logs with (one per account
        and region; the logs need it). Set False when the account already has one. Default: True.
    :param domain_name: a custom domain mapped to the stage at the root (needed for RFC 9728 discovery).
        Default: none (the execute-api URL only).
    :param validate_request_body: let API Gateway refuse bodies that are not a JSON object or array.
        Default: True.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        handler: lambda_.IFunction,
        service: str,
        encryption_key: kms.IKey | None = None,
        authorization_type: apigw.AuthorizationType = apigw.AuthorizationType.NONE,
        stage_name: str = "live",
        throttling_rate_limit: int | float = 100,
        throttling_burst_limit: int | float = 200,
        waf_rate_limit: int | float = 1000,
        waf_rate_window: Duration | None = None,
        integration_timeout: Duration | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        cloud_watch_role: bool = True,
        domain_name: apigw.DomainNameOptions | None = None,
        validate_request_body: bool = True,
    ) -> None:
        super().__init__(scope, id)
        waf_rate_window = waf_rate_window or Duration.minutes(5)
        integration_timeout = integration_timeout or DEFAULT_INTEGRATION_TIMEOUT
        validate_rest_api_props(
            authorization_type=authorization_type,
            throttling_rate_limit=throttling_rate_limit,
            throttling_burst_limit=throttling_burst_limit,
            waf_rate_limit=waf_rate_limit,
            waf_rate_window=waf_rate_window,
            integration_timeout=integration_timeout,
        )
        self.service = service
        self.authorization_type = authorization_type
        """``NONE`` or ``IAM``: whether callers sign requests with SigV4."""
        self.integration_timeout = integration_timeout
        """How long API Gateway waits for the function; the function's timeout must not exceed it."""

        self.access_log_group = logs.LogGroup(
            self,
            "AccessLogs",
            retention=log_retention,
            encryption_key=encryption_key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        """One JSON line per request: caller IP, status, latency, WAF verdict, request id."""

        self.api = apigw.RestApi(
            self,
            "Api",
            description=f"MCP server {service}",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=cloud_watch_role,
            # Kept on stack deletion: it is account-wide, and another stack may rely on it.
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN if cloud_watch_role else None,
            domain_name=domain_name,
            deploy_options=apigw.StageOptions(
                stage_name=stage_name,
                throttling_rate_limit=throttling_rate_limit,
                throttling_burst_limit=throttling_burst_limit,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # full requests in the logs would include bearer tokens
                metrics_enabled=True,
                tracing_enabled=True,
                access_log_destination=apigw.LogGroupLogDestination(self.access_log_group),
                access_log_format=_access_log_format(),
            ),
        )
        """The REST API; ``api.url`` is the stage's base URL (ending in ``/``)."""

        # API Gateway creates the execution log group on first use, without retention or encryption;
        # creating it here first gives it both.
        self.execution_log_group = logs.LogGroup(
            self,
            "ExecutionLogs",
            log_group_name=f"API-Gateway-Execution-Logs_{self.api.rest_api_id}/{stage_name}",
            retention=log_retention,
            encryption_key=encryption_key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        """ERROR-level execution logs (the name API Gateway writes to)."""
        self.api.deployment_stage.node.add_dependency(self.execution_log_group)

        self.request_validator = self.api.add_request_validator(
            "RequestValidator",
            validate_request_body=validate_request_body,
            validate_request_parameters=True,
        )
        """Checks required parameters and the body model of every method (set on each method: the
        ``default_method_options`` of this aws-cdk-lib would silently drop it)."""
        self.message_model = self.api.add_model(
            "JsonRpcMessage",
            content_type="application/json",
            description="A JSON-RPC message (object) or batch (array)",
            schema=apigw.JsonSchema(
                schema=apigw.JsonSchemaVersion.DRAFT4,
                title="JsonRpcMessage",
                type=[apigw.JsonSchemaType.OBJECT, apigw.JsonSchemaType.ARRAY],
            ),
        )
        """The model a ``POST`` body must match when ``validate_request_body``."""

        integration = apigw.LambdaIntegration(
            handler,
            proxy=True,
            allow_test_invoke=False,  # no console test-invoke permissions on the function
            timeout=integration_timeout,
        )
        self.methods: list[apigw.Method] = []
        """Every method of the API, in creation order."""
        mcp = self.api.root.add_resource(MCP_PATH)
        for resource in (self.api.root, mcp):
            for http_method in MCP_METHODS:
                posting = http_method == "POST"
                self.methods.append(
                    resource.add_method(
                        http_method,
                        integration,
                        authorization_type=authorization_type,
                        request_validator=self.request_validator,
                        request_parameters={"method.request.header.Content-Type": True} if posting else None,
                        request_models={"application/json": self.message_model}
                        if posting and validate_request_body
                        else None,
                    )
                )
        well_known = self.api.root.resource_for_path(WELL_KNOWN_PATH).add_resource("{proxy+}")
        self.methods.append(
            well_known.add_method(
                "GET",
                integration,
                authorization_type=apigw.AuthorizationType.NONE,  # RFC 9728 metadata is public by design
                request_validator=self.request_validator,
                request_parameters={"method.request.path.proxy": True},
            )
        )

        for method in self.methods:
            acknowledge(
                method,
                "AwsSolutions-COG4",
                "MCP clients sign in with the server's own OIDC providers (RFC 9728 discovery, per-tool scopes, "
                "several issuers), which the runtime validates; a Cognito authorizer would replace its 401 challenge",
            )
            if method.node.path.endswith("{proxy+}/GET") or authorization_type == apigw.AuthorizationType.NONE:
                acknowledge(
                    method,
                    "AwsSolutions-APIG4",
                    "public by design: the RFC 9728 metadata, or a server that authenticates bearer tokens itself "
                    "(or serves public tools); the gateway adds WAF, throttling and validation in front",
                )
        if cloud_watch_role:
            acknowledge(
                self.api,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
                "the account's API Gateway logging role (one per account and region, needed by access and execution "
                "logs); AWS's policy for it covers exactly the log actions API Gateway performs",
            )

        self.web_acl = _web_acl(self, service, waf_rate_limit, waf_rate_window)
        """The WAFv2 web ACL (regional) attached to the stage."""
        self.web_acl_association = wafv2.CfnWebACLAssociation(
            self, "WebAclAssociation", resource_arn=self.api.deployment_stage.stage_arn, web_acl_arn=self.web_acl.attr_arn
        )

        stack = Stack.of(self)
        # WAF requires the aws-waf-logs- prefix; the stack and path make the name unique per deployment.
        self.waf_log_group = logs.LogGroup(
            self,
            "WafLogs",
            log_group_name=f"aws-waf-logs-{stack.stack_name}-{self.node.addr[:8]}",
            retention=log_retention,
            encryption_key=encryption_key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        """WAF's log of every request it matched, with the ``authorization`` header redacted."""
        self.waf_logging = wafv2.CfnLoggingConfiguration(
            self,
            "WafLogging",
            resource_arn=self.web_acl.attr_arn,
            # WAF wants the log group ARN without the ':*' suffix of LogGroup.log_group_arn.
            log_destination_configs=[
                stack.format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=self.waf_log_group.log_group_name,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
            redacted_fields=[wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": "authorization"})],
        )

    @property
    def url(self) -> str:
        """The MCP endpoint: the stage URL (or the custom domain) followed by ``mcp``."""
        if self.api.domain_name is not None:
            return f"https://{self.api.domain_name.domain_name}/{MCP_PATH}"
        return self.api.url_for_path(f"/{MCP_PATH}")

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` call every method of the stage (needed with ``IAM`` authorization)."""
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["execute-api:Invoke"],
            resource_arns=[self.api.arn_for_execute_api("*", "/*", self.api.deployment_stage.stage_name)],
        )

    # -- metrics -------------------------------------------------------------------------------------

    def metric_count(self, **options: Any) -> cloudwatch.Metric:
        """Requests to the stage; takes ``cloudwatch.MetricOptions``. Default: sum over 5 minutes."""
        return self.api.deployment_stage.metric_count(**options)

    def metric_client_error(self, **options: Any) -> cloudwatch.Metric:
        """4xx responses (validation, throttling, WAF-free refusals); default: sum over 5 minutes."""
        return self.api.deployment_stage.metric_client_error(**options)

    def metric_server_error(self, **options: Any) -> cloudwatch.Metric:
        """5xx responses (integration failures and timeouts); default: sum over 5 minutes."""
        return self.api.deployment_stage.metric_server_error(**options)

    def metric_latency(self, **options: Any) -> cloudwatch.Metric:
        """Time from request to response at the gateway, in ms; default: average over 5 minutes."""
        return self.api.deployment_stage.metric_latency(**options)

    def metric_waf_blocked_requests(self, **options: Any) -> cloudwatch.Metric:
        """Requests WAF blocked, all rules; takes ``cloudwatch.MetricOptions``. Default: sum over 5 minutes."""
        return cloudwatch.Metric(
            namespace="AWS/WAFV2",
            metric_name="BlockedRequests",
            dimensions_map={"WebACL": _web_acl_metric_name(self.service), "Region": Stack.of(self).region, "Rule": "ALL"},
            **{"statistic": cloudwatch.Stats.SUM, "period": Duration.minutes(5), **options},
        )


def validate_rest_api_props(
    *,
    authorization_type: apigw.AuthorizationType,
    throttling_rate_limit: int | float,
    throttling_burst_limit: int | float,
    waf_rate_limit: int | float,
    waf_rate_window: Duration,
    integration_timeout: Duration,
) -> None:
    """Reject impossible props at synth time; tokens are left to CloudFormation."""
    if authorization_type not in (apigw.AuthorizationType.NONE, apigw.AuthorizationType.IAM):
        raise ValueError(
            "authorization_type must be NONE or IAM; bearer tokens are validated by the server (McpOidcAuth)"
        )
    for name, value in (("throttling_rate_limit", throttling_rate_limit), ("throttling_burst_limit", throttling_burst_limit)):
        if not Token.is_unresolved(value) and not value > 0:
            raise ValueError(f"{name} must be positive, got {value}")
    if (
        not Token.is_unresolved(throttling_rate_limit)
        and not Token.is_unresolved(throttling_burst_limit)
        and throttling_burst_limit < throttling_rate_limit
    ):
        raise ValueError(
            f"throttling_burst_limit ({throttling_burst_limit}) must be at least throttling_rate_limit "
            f"({throttling_rate_limit}): a smaller bucket caps the rate at the burst"
        )
    if not Token.is_unresolved(waf_rate_limit) and not (
        float(waf_rate_limit).is_integer() and _MIN_WAF_RATE_LIMIT <= waf_rate_limit <= _MAX_WAF_RATE_LIMIT
    ):
        raise ValueError(f"waf_rate_limit must be a whole number from {_MIN_WAF_RATE_LIMIT}, got {waf_rate_limit}")
    if not waf_rate_window.is_unresolved() and waf_rate_window.to_seconds() not in _WAF_WINDOWS_SECONDS:
        raise ValueError(f"waf_rate_window must be 1, 2, 5 or 10 minutes, got {waf_rate_window.to_seconds()} seconds")
    if not integration_timeout.is_unresolved():
        milliseconds = integration_timeout.to_milliseconds()
        if milliseconds < _MIN_INTEGRATION_TIMEOUT_MS:
            raise ValueError(f"integration_timeout must be at least 50 ms, got {milliseconds} ms")


def _access_log_format() -> apigw.AccessLogFormat:
    return apigw.AccessLogFormat.custom(
        # Field by field, so that no header (an Authorization, say) can ever reach the log.
        '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",'
        '"requestTime":"$context.requestTimeEpoch","httpMethod":"$context.httpMethod",'
        '"resourcePath":"$context.resourcePath","status":"$context.status",'
        '"protocol":"$context.protocol","responseLength":"$context.responseLength",'
        '"userAgent":"$context.identity.userAgent","responseLatency":"$context.responseLatency",'
        '"integrationLatency":"$context.integration.latency","integrationStatus":"$context.integration.status",'
        '"integrationError":"$context.integration.error","errorMessage":"$context.error.message",'
        '"wafStatus":"$context.waf.status","wafResponseCode":"$context.wafResponseCode",'
        '"lambdaRequestId":"$context.integration.requestId"}'
    )


def _web_acl_metric_name(service: str) -> str:
    return f"mcp-{service}"


def _managed_rule(name: str, priority: int) -> wafv2.CfnWebACL.RuleProperty:
    return wafv2.CfnWebACL.RuleProperty(
        name=name,
        priority=priority,
        statement=wafv2.CfnWebACL.StatementProperty(
            managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(vendor_name="AWS", name=name)
        ),
        override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
        visibility_config=_visibility(name),
    )


def _visibility(metric_name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=metric_name, sampled_requests_enabled=True
    )


def _web_acl(scope: Construct, service: str, rate_limit: int | float, rate_window: Duration) -> wafv2.CfnWebACL:
    rules: Sequence[wafv2.CfnWebACL.RuleProperty] = [
        # Cheapest first: a flooding IP is blocked before the managed groups inspect its requests.
        wafv2.CfnWebACL.RuleProperty(
            name="RatePerIp",
            priority=0,
            statement=wafv2.CfnWebACL.StatementProperty(
                rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                    aggregate_key_type="IP",
                    limit=rate_limit,
                    evaluation_window_sec=rate_window.to_seconds() if not rate_window.is_unresolved() else None,
                )
            ),
            action=wafv2.CfnWebACL.RuleActionProperty(block={}),
            visibility_config=_visibility("RatePerIp"),
        ),
        _managed_rule("AWSManagedRulesKnownBadInputsRuleSet", 1),
        _managed_rule("AWSManagedRulesSQLiRuleSet", 2),
    ]
    return wafv2.CfnWebACL(
        scope,
        "WebAcl",
        scope="REGIONAL",
        description=f"MCP server {service}: per-IP rate limit, known bad inputs, SQL injection",
        default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
        rules=list(rules),
        visibility_config=_visibility(_web_acl_metric_name(service)),
    )
