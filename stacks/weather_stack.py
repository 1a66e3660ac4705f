"""Case 1: a stateless MCP server (weather) with a public endpoint.

Why public: the weather tools read nothing private, so the example is reachable from any MCP client
without signing requests, as in the guide's weather example. Cases with data add sign-in on top.

Why a Function URL by default: it is the cheapest endpoint and has no timeout of its own. For real public
traffic, ``endpoint=McpEndpoint.rest_api()`` puts the same alias behind a regional REST API with AWS WAF
(SQL injection, known bad inputs, a per-IP rate limit), stage throttling and access logs; see
``constructs_lib.api`` and docs/security.md.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from constructs_lib.lambda_service import McpEndpoint, McpLambdaService

#: The tools of ``lambdas/weather/server.py``: one line each on the dashboard (a test keeps them in sync).
WEATHER_TOOLS = ("get_weather",)


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
            service="weather",
            handler="weather.server.handler",
            endpoint=endpoint or McpEndpoint.function_url(auth_type=lambda_.FunctionUrlAuthType.NONE),
            tools=WEATHER_TOOLS,
            alarm_topic=alarm_topic,
        )
