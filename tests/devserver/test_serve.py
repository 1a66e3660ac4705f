"""`make serve` as a user runs it: a separate process, no DATABASE_URL, the embedded PostgreSQL."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import anyio
from mcp import Client

ROOT = Path(__file__).resolve().parents[2]


def test_local_servers_on_the_embedded_database():
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    process = subprocess.Popen([sys.executable, "-m", "devserver", "--port", "0"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        urls = {}
        for line in process.stdout:
            if match := re.match(r"\s+(\S+)\s+(http://\S+/mcp)$", line):
                urls[match[1]] = match[2]
            if line.startswith("Serving on"):
                break
        assert {"weather", "messaging", "conformance"} <= set(urls), urls

        async def scenario():
            async with Client(urls["weather"]) as weather:
                forecast = await weather.call_tool("get_weather", {"city": "Berlin"})
            async with Client(urls["messaging"]) as messaging:
                posted = await messaging.call_tool("post_message", {"text": "hello from make serve"})
                latest = await messaging.call_tool("get_messages", {"limit": 1})
            return forecast, posted, latest

        forecast, posted, latest = anyio.run(scenario)
        assert forecast.content[0].text.startswith("Weather in Berlin:")
        assert posted.is_error is False
        assert latest.structured_content["result"][0]["id"] == posted.structured_content["id"]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
