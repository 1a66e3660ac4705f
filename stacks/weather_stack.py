"""Case 1: a stateless MCP server (weather) with a public endpoint.

Why public: the weather tools read nothing private, so the example is reachable from any MCP client
without signing requests, as in the guide's weather example. Cases with data add sign-in on top.

Why a Function URL by default: it is the cheapest endpoint and has no timeout of its own. For real public
traffic, ``endpoint=McpEndpoint.rest_api()`` puts the same alias behind a regional REST API with AWS WAF
(SQL injection, known bad inputs, a per-IP rate limit), stage throttling and access logs; see
``mcp_lambda_cdk.api`` and docs/security.md.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_sns as sns
from constructs import Construct

from mcp_lambda_cdk.lambda_service import McpEndpoint, McpLambdaService
from mcp_servers import WEATHER


class McpWeatherStack(Stack):
    """The weather MCP server; its URL is the stack output ``WeatherUrl...``.

    :param endpoint: how clients reach the server. Default: a public Function URL
        (``McpEndpoint.function_url(auth_type=FunctionUrlAuthType.NONE)``).
    :param alarm_topic: where the service's alarms notify. Default: none.
    :param kwargs: ``Stack`` props (``env``, ``description``, ...).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        endpoint: McpEndpoint | None = None,
        alarm_topic: sns.ITopic | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self.weather = McpLambdaService(
            self,
            "Weather",
            server=WEATHER,
            endpoint=endpoint,
            alarm_topic=alarm_topic,
        )
