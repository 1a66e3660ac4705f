"""Case 1: a stateless weather server. No state, no sign-in: the smallest useful MCP server on Lambda."""

from __future__ import annotations

import hashlib

from mcp_lambda import lambda_handler, new_server

mcp = new_server(
    "weather",
    instructions="Current weather for a city. The data is simulated: deterministic per city name.",
)

_CONDITIONS = ("Sunny", "Partly cloudy", "Cloudy", "Light rain", "Thunderstorms", "Fog", "Windy", "Snow")


# `async def` although nothing is awaited: the SDK runs a plain `def` tool in a worker thread, and that hop
# costs more than the tool itself (about 0.7 ms of a 2 ms warm call, measured with bench/).
@mcp.tool()
async def get_weather(city: str) -> str:
    """Returns current weather for specified city (simulated data)"""
    name = " ".join(city.split()) or "Unknown"
    # A stable digest, not hash(): Python salts str hashes per process, and answers must not change.
    digest = hashlib.sha256(name.casefold().encode()).digest()
    condition = _CONDITIONS[digest[0] % len(_CONDITIONS)]
    fahrenheit = 20 + digest[1] % 81
    return f"Weather in {name}: {condition}, {fahrenheit}°F"


handler = lambda_handler(mcp)
