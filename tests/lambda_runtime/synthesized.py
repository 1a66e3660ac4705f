"""The functions app.py deploys for the runtime, read from a real synthesis.

Why a subprocess: the CDK CLI hands the app its context (``CDK_CONTEXT_JSON``) and output directory
(``CDK_OUTDIR``) in the environment of a fresh process, and jsii's Node process keeps the environment it was
started with; in a test session that has already imported ``aws_cdk`` a changed environment would be ignored
(and the app would bundle every asset). So app.py runs here as the CLI runs it, with bundling skipped
(``mcp:skipBundling``: the bundles are built separately, for this machine's CPU), and this module, run as a
script, describes each function of ours (a service's, a schema migration's, the authorization server's) as
JSON: where its template is, its logical id, and what its bundle is made of. Everything else about the
function (handler, runtime, memory, timeout, environment) is read from the template itself.
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SynthesizedFunction:
    """One function of ours in the synthesized app and its template resource."""

    path: str
    kind: str  # "service", "tool" (a placed tool's function), "migrations" or "authorization"
    stack: str
    logical_id: str
    template: dict[str, Any]
    bundle: dict[str, Any]  # {"server_folder": ..., "extras": [...]} or {"runtime_subpackage": ..., "extras": [...]}
    server: dict[str, Any] | None = None  # services, tools: the declaration's name, database, sign_in, tasks
    placement: str | None = None  # a tool function's placement name

    @property
    def properties(self) -> dict[str, Any]:
        return self.template["Resources"][self.logical_id]["Properties"]

    @property
    def handler(self) -> str:
        return self.properties["Handler"]

    @property
    def name(self) -> str:
        """What a test calls it: the server's name (a tool function's: ``<server>/<placement>``), or the construct
        path's last part."""
        if self.server and self.placement:
            return f"{self.server['name']}/{self.placement}"
        return self.server["name"] if self.server else self.path.rsplit("/", 1)[-1].lower()


def synthesize(outdir: Path) -> list[SynthesizedFunction]:
    """Run app.py as `cdk synth` does (bundling skipped) into `outdir`; our functions, in stack order."""
    context = {**json.loads((ROOT / "cdk.json").read_text())["context"], "mcp:skipBundling": True}
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(outdir),
           "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    done = subprocess.run([sys.executable, __file__], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"synthesizing app.py failed:\n{done.stderr[-5000:]}")
    described = json.loads(done.stdout.strip().splitlines()[-1])
    templates: dict[str, dict[str, Any]] = {}
    functions = []
    for item in described:
        template_file = item.pop("template_file")
        if template_file not in templates:
            templates[template_file] = json.loads(Path(outdir, template_file).read_text())
        functions.append(SynthesizedFunction(template=templates[template_file], **item))
    return functions


def _describe() -> list[dict[str, Any]]:
    """In the app's process: each function of ours, as `synthesize` reads it back."""
    sys.path[:0] = [str(ROOT / "servers"), str(ROOT)]
    import aws_cdk as cdk

    from mcp_lambda_cdk.authorization_server import AUTHORIZATION_EXTRA, McpAuthorizationServer
    from mcp_lambda_cdk.lambda_service import McpLambdaService
    from mcp_lambda_cdk.migrations import McpSchemaMigrations
    from mcp_lambda_cdk.tool_function import McpToolFunction

    app: cdk.App = runpy.run_path(str(ROOT / "app.py"), run_name="app")["app"]
    assembly = app.synth()
    found = []
    for stack in (child for child in app.node.children if isinstance(child, cdk.Stack)):
        template_file = assembly.get_stack_by_name(stack.stack_name).template_file
        for construct in stack.node.find_all():
            server, placement = None, None
            if isinstance(construct, McpLambdaService | McpToolFunction):
                kind = "service" if isinstance(construct, McpLambdaService) else "tool"
                bundle = {"server_folder": str(construct.server.folder),
                          "extras": ["tracing"] if construct.tracing is not None else []}
                server = {"name": construct.server.name, "database": construct.server.database,
                          "sign_in": construct.server.sign_in, "tasks": construct.server.tasks}
                if isinstance(construct, McpToolFunction):
                    placement = construct.placement.name
                    server["database"] = construct.server.placement_database(construct.placement)
            elif isinstance(construct, McpSchemaMigrations):
                kind, bundle = "migrations", {"server_folder": str(construct.directory)}
            elif isinstance(construct, McpAuthorizationServer):
                kind = "authorization"
                bundle = {"runtime_subpackage": AUTHORIZATION_EXTRA, "extras": [AUTHORIZATION_EXTRA]}
            else:
                continue
            found.append({"path": construct.node.path, "kind": kind, "stack": stack.stack_name,
                          "logical_id": stack.get_logical_id(construct.function.node.default_child),
                          "template_file": template_file, "bundle": bundle, "server": server,
                          "placement": placement})
    return found


if __name__ == "__main__":
    described = _describe()
    sys.stdout.write("\n" + json.dumps(described) + "\n")
