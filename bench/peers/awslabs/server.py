"""The weather tool on awslabs-mcp-lambda-handler, as its README shows: `MCPLambdaHandler` and a
`lambda_handler(event, context)` that hands every API Gateway / Function URL event to `handle_request`.

The tool is a plain `def`: this library calls tools synchronously (a coroutine would be returned as is).
"""

import hashlib

from awslabs.mcp_lambda_handler import MCPLambdaHandler

mcp = MCPLambdaHandler(name="weather", version="1.0.0")

_CONDITIONS = ("Sunny", "Partly cloudy", "Cloudy", "Light rain", "Thunderstorms", "Fog", "Windy", "Snow")


@mcp.tool()
def get_weather(city: str) -> str:
    """Returns current weather for specified city (simulated data)"""
    name = " ".join(city.split()) or "Unknown"
    digest = hashlib.sha256(name.casefold().encode()).digest()
    condition = _CONDITIONS[digest[0] % len(_CONDITIONS)]
    fahrenheit = 20 + digest[1] % 81
    return f"Weather in {name}: {condition}, {fahrenheit}°F"


def handler(event, context):
    return mcp.handle_request(event, context)
