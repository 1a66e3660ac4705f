"""The weather tool on MCPEngine 0.3.0: `MCPEngine.get_lambda_handler()` wraps its HTTP app in Mangum,
which takes API Gateway and Function URL events (mcpengine[lambda])."""

import hashlib

from mcpengine import MCPEngine

mcp = MCPEngine("weather")

_CONDITIONS = ("Sunny", "Partly cloudy", "Cloudy", "Light rain", "Thunderstorms", "Fog", "Windy", "Snow")


@mcp.tool()
async def get_weather(city: str) -> str:
    """Returns current weather for specified city (simulated data)"""
    name = " ".join(city.split()) or "Unknown"
    digest = hashlib.sha256(name.casefold().encode()).digest()
    condition = _CONDITIONS[digest[0] % len(_CONDITIONS)]
    fahrenheit = 20 + digest[1] % 81
    return f"Weather in {name}: {condition}, {fahrenheit}°F"


handler = mcp.get_lambda_handler()
