"""The runtimes compared side by side: the same one-tool weather server on each, each in its own venv.

Peers are the weather server written the way each project documents a Lambda handler (bench/peers/<key>/);
they import nothing from this repository. Ours is `weather.server:handler` with `PYTHONPATH=servers` and the
runtime under the Lambda pins (bench/ours-requirements.txt); the bare SDK app (scenarios.SDK) shares that venv.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.scenarios import SDK

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "bench" / "peers"
OURS_REQUIREMENTS = ROOT / "bench" / "ours-requirements.txt"
PLOT_REQUIREMENTS = ROOT / "bench" / "plot-requirements.txt"
# What servers/weather/server.py answers for Lisbon; every runtime must answer exactly this.
EXPECTED_WEATHER = "Weather in Lisbon: Thunderstorms, 40°F"


@dataclass(frozen=True)
class Runtime:
    key: str
    label: str
    venv: str
    requirements: Path
    cwd: Path
    probe: dict  # {"module": ...} for a Lambda handler, {"setup": ...} for a snippet defining exchange()
    pythonpath: tuple[Path, ...] = ()
    calls: int = 200  # warm tools/call per process
    code: tuple[Path, ...] = ()  # the function's own code, added to its installed size
    sized: bool = True  # False where the venv is another runtime's (its size says nothing of this one)


def peer(key: str, label: str, calls: int = 200) -> Runtime:
    return Runtime(key, label, key, PEERS / key / "requirements.txt", PEERS / key, {"module": "server"},
                   (PEERS / key,), calls, (PEERS / key,))


EMPTY = Runtime("empty", "empty interpreter", "ours", OURS_REQUIREMENTS, ROOT, {}, sized=False)
BARE_SDK = Runtime("sdk", "bare SDK app (mcp 2.3.0 over ASGI, no Lambda layer)", "ours", OURS_REQUIREMENTS, ROOT,
                   {"setup": SDK}, sized=False)
OURS = Runtime("ours", "our handler (weather.server, mcp 2.3.0)", "ours", OURS_REQUIREMENTS, ROOT / "servers",
               {"module": "weather.server"}, (ROOT / "servers",),
               code=(ROOT / "packages" / "mcp-lambda-runtime" / "src" / "mcp_lambda", ROOT / "servers" / "weather"))
AWSLABS = peer("awslabs", "awslabs-mcp-lambda-handler 0.1.15")
MCPENGINE = peer("mcpengine", "mcpengine 0.3.0 (Mangum)")
# Every request starts, initializes and stops a stdio server: a few calls per process are plenty.
RMSL = peer("rmsl", "run-mcp-servers-with-aws-lambda 0.5.22 (stdio child per request)", calls=5)

PEER_RUNTIMES = (AWSLABS, MCPENGINE, RMSL)
ALL = (EMPTY, BARE_SDK, OURS, *PEER_RUNTIMES)
