"""The weather tool behind run-mcp-servers-with-aws-lambda, as its README shows for a Lambda function
URL: `LambdaFunctionURLEventHandler` over `StdioServerAdapterRequestHandler`, which starts
`weather_stdio.py` as a child process, initializes it and forwards the one request, on every invocation."""

import sys
from pathlib import Path

from mcp.client.stdio import StdioServerParameters
from mcp_lambda import LambdaFunctionURLEventHandler, StdioServerAdapterRequestHandler

server_params = StdioServerParameters(
    command=sys.executable,
    args=[str(Path(__file__).with_name("weather_stdio.py"))],
)

request_handler = StdioServerAdapterRequestHandler(server_params)
event_handler = LambdaFunctionURLEventHandler(request_handler)


def handler(event, context):
    return event_handler.handle(event, context)
