"""The weather tool as a stdio MCP server (the SDK's FastMCP), the kind of server
run-mcp-servers-with-aws-lambda starts as a child process for each request."""

import hashlib

from mcp.server.fastmcp import FastMCP

mcp = FastMCP("weather")

_CONDITIONS = ("Sunny", "Partly cloudy", "Cloudy", "Light rain", "Thunderstorms", "Fog", "Windy", "Snow")


@mcp.tool()
async def get_weather(city: str) -> str:
    """Returns current weather for specified city (simulated data)"""
    name = " ".join(city.split()) or "Unknown"
    digest = hashlib.sha256(name.casefold().encode()).digest()
    condition = _CONDITIONS[digest[0] % len(_CONDITIONS)]
    fahrenheit = 20 + digest[1] % 81
    return f"Weather in {name}: {condition}, {fahrenheit}°F"


if __name__ == "__main__":
    mcp.run()
