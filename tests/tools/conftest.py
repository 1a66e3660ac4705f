"""The repository's app synthesized once for the tools' tests, as `cdk synth -c mcp:skipBundling=true` would
(the CLI runs `python app.py` with the context in CDK_CONTEXT_JSON and the output folder in CDK_OUTDIR)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def cdk_json_context() -> dict:
    return json.loads((ROOT / "cdk.json").read_text())["context"]


@pytest.fixture(scope="session")
def synthesize(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """`synthesize(**context)`: the app's templates with that context, bundling skipped, in a folder of their own."""

    def run(**context: object) -> Path:
        out = tmp_path_factory.mktemp("cdk.out")
        merged = {**cdk_json_context(), "mcp:skipBundling": True, **context}
        env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(merged), "CDK_OUTDIR": str(out),
               "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
        for variable in ("CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION"):
            env.pop(variable, None)
        subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
        return out

    return run


@pytest.fixture(scope="session")
def templates(synthesize) -> Path:
    return synthesize()
