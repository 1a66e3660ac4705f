"""Case 1: a stateless MCP server (weather) with a public Function URL.

Why public: the weather tools read nothing private, so the example is reachable from any MCP client
without signing requests, as in the guide's weather example. Cases with data add sign-in on top.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from constructs_lib.lambda_service import McpLambdaService


class McpWeatherStack(Stack):
    """The weather MCP server; its URL is the stack output ``WeatherUrl...``."""

    def __init__(self, scope: Construct, id: str, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        self.weather = McpLambdaService(
            self,
            "Weather",
            service="weather",
            handler="weather.server.handler",
            url_auth_type=lambda_.FunctionUrlAuthType.NONE,
        )
