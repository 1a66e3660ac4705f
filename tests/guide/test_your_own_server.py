"""docs/your-own-server.md, run as written: a new user's project outside this checkout, with only the built wheels.

The page's blocks are its script. A ``<!-- guide: run -->`` block runs in bash in the project folder (the
project's venv active once it exists) and must succeed; ``<!-- guide: background "TEXT" -->`` starts a
long-running command and waits for TEXT on its output; ``<!-- guide: expect "TEXT" -->`` requires TEXT in the
output of the run block before it; ``<!-- guide: stop -->`` stops the background command as a person does
(SIGTERM, as an IDE's stop button). Blocks without a marker (the install's `export`, deploying, destroying)
are prose. Nothing else is told to the project: no path into this checkout, no DATABASE_URL, a port of its own.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "your-own-server.md"
MARKER = re.compile(r'<!-- guide: (run|background|expect|stop)(?: "([^"]*)")? -->')
FENCE = re.compile(r"```bash\n(.*?)```", re.S)


@dataclass
class Step:
    kind: str
    text: str  # the block's commands, or the awaited/expected text


def steps(markdown: str) -> list[Step]:
    """The page's marked steps, in order."""
    found = []
    for marker in MARKER.finditer(markdown):
        kind, argument = marker.group(1), marker.group(2) or ""
        if kind in ("run", "background"):
            block = FENCE.search(markdown, marker.end())
            assert block and markdown[marker.end():block.start()].strip() == "", f"no bash block after {marker[0]}"
            found.append(Step(kind, block.group(1)))
            if kind == "background":
                found.append(Step("await", argument))
        else:
            found.append(Step(kind, argument))
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_guide_page_is_a_script_that_covers_the_whole_journey():
    kinds = [step.kind for step in steps(GUIDE.read_text())]
    assert kinds.count("run") >= 5 and kinds.count("background") == kinds.count("stop") >= 2
    assert "synth" in " ".join(step.text for step in steps(GUIDE.read_text()) if step.kind == "run")


def test_a_new_project_follows_the_guide_from_the_built_wheels(built_wheels: dict[str, Path], tmp_path: Path):
    wheels = built_wheels["mcp-lambda-runtime"].parent
    project = tmp_path / "notes-project"
    project.mkdir()
    python_dir = str(Path(sys.executable).resolve().parent)  # a Python 3.13 on PATH, as the guide asks for
    environment = {
        **{k: v for k, v in os.environ.items()
           if not k.startswith(("VIRTUAL_ENV", "PYTHON", "DATABASE_URL", "MCP_", "POWERTOOLS_"))},
        "PATH": os.pathsep.join([python_dir, os.environ.get("PATH", "")]),
        "PIP_FIND_LINKS": str(wheels),
        "PORT": str(free_port()),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    background: subprocess.Popen | None = None
    output = ""
    try:
        for step in steps(GUIDE.read_text()):
            if step.kind == "run":
                done = subprocess.run(["bash", "-c", _in_venv(step.text)], cwd=project, env=environment,
                                      capture_output=True, text=True, timeout=900)
                output = done.stdout + done.stderr
                assert done.returncode == 0, f"{step.text}\n{output[-4000:]}"
            elif step.kind == "expect":
                assert step.text in output, output[-2000:]
            elif step.kind == "background":
                background = subprocess.Popen(["bash", "-c", _in_venv("exec " + step.text.strip())],
                                              cwd=project, env=environment, stdout=subprocess.PIPE,
                                              stderr=subprocess.STDOUT, text=True)
            elif step.kind == "await":
                assert background is not None
                seen = []
                for line in background.stdout:
                    seen.append(line)
                    if step.text in line:
                        break
                else:
                    pytest.fail(f"the background command ended before {step.text!r}:\n{''.join(seen)[-4000:]}")
            elif step.kind == "stop":
                assert background is not None
                background.send_signal(signal.SIGTERM)
                assert background.wait(timeout=60) == 0
                background = None
    finally:
        if background is not None and background.poll() is None:
            background.kill()
            background.wait(timeout=10)

    # The stack was synthesized from the project: its function's asset is the notes folder and the runtime,
    # installed from the wheel like any requirement (its local server pruned), with the schema migrations
    template = json.loads((project / "cdk.out" / "McpNotesStack.template.json").read_text())
    resources = template["Resources"].values()
    assert any(r["Type"] == "Custom::McpSchemaMigrations" for r in resources)
    (function,) = (r for r in resources if r["Properties"].get("Handler") == "notes.server.handler")
    asset = project / "cdk.out" / f"asset.{function['Properties']['Code']['S3Key'].removesuffix('.zip')}"
    assert (asset / "notes" / "server.py").is_file() and (asset / "notes" / "migrations" / "001_notes.sql").is_file()
    assert (asset / "mcp_lambda" / "runtime.py").is_file() and not (asset / "mcp_lambda" / "local").exists()
    assert list(asset.glob("mcp_lambda_runtime-*.dist-info")), "the runtime arrived as a distribution"
    installed = subprocess.run([str(project / ".venv" / "bin" / "pip"), "list", "--format=freeze"],
                               capture_output=True, text=True, check=True).stdout
    assert "mcp-lambda-runtime==" in installed and "mcp-lambda-cdk==" in installed
    assert "-e " not in installed and str(ROOT) not in installed, "installed from the wheels, not the checkout"


def _in_venv(commands: str) -> str:
    """Blocks after the install run in its venv, as in the reader's shell where it stays activated."""
    return f"if [ -f .venv/bin/activate ]; then . .venv/bin/activate; fi\n{commands}"
