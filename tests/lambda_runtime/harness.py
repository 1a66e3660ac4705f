"""The synthesized app, deployed locally: each function's bundle, configuration and environments, and a client.

`Deployment` turns a synthesized function into what Lambda would run: its bundle built by the project's bundler
(`PythonBundle.for_server` / `for_runtime`, as its construct builds it, for this machine's CPU, once per asset
hash), checked against the template's asset (the placeholder hash of skipped bundling names the same folder),
its configuration from the template resource (name, handler, memory, timeout, log group) and its variables
rendered to the stand-ins. `Client` speaks MCP to an environment with Function URL events as Lambda builds them
for the function's own URL (with the signer's identity where the URL's auth type is `AWS_IAM`).
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import aws_lambda as lambda_

from mcp_lambda.local.events import function_url_event, response_parts
from mcp_lambda_cdk.bundling import PythonBundle
from tests.lambda_runtime.environment import ACCOUNT, ExecutionEnvironment, LambdaFunction
from tests.lambda_runtime.image import RuntimeImage
from tests.lambda_runtime.runtime_api import InvokeApi
from tests.lambda_runtime.stand_ins import NoStandIn, StandIns
from tests.lambda_runtime.synthesized import SynthesizedFunction

#: This machine's CPU as a Lambda architecture: the bundles' native wheels must load here.
ARCHITECTURE = {"x86_64": lambda_.Architecture.X86_64, "aarch64": lambda_.Architecture.ARM_64,
                "arm64": lambda_.Architecture.ARM_64}[platform.machine()]
RUNTIMES = {runtime.name: runtime for runtime in (lambda_.Runtime.PYTHON_3_12, lambda_.Runtime.PYTHON_3_13,
                                                   lambda_.Runtime.PYTHON_3_14)}
HANDSHAKE = "2025-11-25"
MODERN = "2026-07-28"
IAM_CALLER = {"accessKey": "ASIACALLER", "accountId": ACCOUNT, "callerId": "AROACALLER:caller",
              "cognitoIdentity": None, "principalOrgId": None,
              "userArn": f"arn:aws:sts::{ACCOUNT}:assumed-role/caller/caller", "userId": "AROACALLER:caller"}


def bundle_of(function: SynthesizedFunction) -> PythonBundle:
    """The function's bundle as its construct makes it, for this machine's CPU; the template's asset must be that
    bundle's (the placeholder of skipped bundling, which names the same package)."""
    runtime = RUNTIMES[function.properties["Runtime"]]
    spec = function.bundle
    if "server_folder" in spec:
        bundle = PythonBundle.for_server(Path(spec["server_folder"]), runtime=runtime, architecture=ARCHITECTURE,
                                         extras=tuple(spec.get("extras", ())))
    else:
        bundle = PythonBundle.for_runtime(spec["runtime_subpackage"], extras=tuple(spec["extras"]), runtime=runtime,
                                          architecture=ARCHITECTURE)
    # CDK names a custom-hash asset by the SHA-256 of the hash it is given.
    asset = function.properties["Code"]["S3Key"]
    if asset != f"{hashlib.sha256(bundle.placeholder_hash().encode()).hexdigest()}.zip":
        raise AssertionError(f"{function.path}: its asset {asset} is not the {bundle.package} bundle")
    return bundle


@dataclass
class Deployment:
    """The synthesized app on this machine: the image, the stand-ins, the functions."""

    image: RuntimeImage
    stand_ins: StandIns
    lambda_api: InvokeApi
    functions: list[SynthesizedFunction]

    def configure(self, function: SynthesizedFunction, database_url: str | None = None) -> LambdaFunction:
        """What Lambda knows of `function`, its bundle built and its variables rendered."""
        props, stack, template = function.properties, function.stack, function.template
        if props.get("Layers"):
            raise NoStandIn(f"{function.path}: its layers (an extension, say) have no local stand-in")
        variables = props.get("Environment", {}).get("Variables", {})
        log_group = props.get("LoggingConfig", {}).get("LogGroup")
        return LambdaFunction(
            name=self.stand_ins.function_name(stack, template, function.logical_id),
            handler=function.handler,
            task_root=self.image.task_root(bundle_of(function)),
            variables=self.stand_ins.environment(stack, template, variables, database_url),
            memory_size=int(props.get("MemorySize", 128)),
            timeout=int(props.get("Timeout", 3)),
            log_group=self.stand_ins.render(stack, template, log_group) if log_group else None,
        )

    def start(self, configured: LambdaFunction, **options: Any) -> ExecutionEnvironment:
        return ExecutionEnvironment(self.image, configured, stand_ins=self.stand_ins.endpoint_variables, **options)

    def url(self, function: SynthesizedFunction) -> tuple[str, str]:
        """The host of the function's Function URL stand-in, and the URL's auth type."""
        for logical_id, resource in function.template["Resources"].items():
            props = resource.get("Properties", {})
            if resource["Type"] == "AWS::Lambda::Url" and props.get("TargetFunctionArn") == {
                    "Fn::GetAtt": [function.logical_id, "Arn"]}:
                url = self.stand_ins.render(function.stack, function.template,
                                            {"Fn::GetAtt": [logical_id, "FunctionUrl"]})
                return url.split("/")[2], props["AuthType"]
        raise LookupError(f"{function.path} has no Function URL")


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """MCP over Function URL events to one environment, as a client reaching the function's URL."""

    def __init__(self, environment: ExecutionEnvironment, host: str, auth_type: str = "NONE",
                 token: str | None = None) -> None:
        self.environment = environment
        self.host = host
        self.iam = auth_type == "AWS_IAM"
        self.token = token
        self._ids = 0

    def http(self, method: str, target: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> Reply:
        """One request to the function's URL (`target`: path and query), its answer as a client sees it."""
        path, _, query = target.partition("?")
        headers = {"host": self.host, **(headers or {})}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        event = function_url_event(method, path, query=query, domain_name=self.host, body=body, headers=headers,
                                   iam_caller=IAM_CALLER if self.iam else None)
        kind, answer = self.environment.invoke(event)
        if kind != "response":
            raise AssertionError(f"the function answered with {kind}: {answer}\n{self.environment.output()[-3000:]}")
        status, pairs, raw = response_parts(answer)
        return Reply(status, dict(pairs), raw)

    def post(self, body: bytes, headers: dict[str, str] | None = None, path: str = "/mcp") -> Reply:
        return self.http("POST", path, body, {"content-type": "application/json",
                                              "accept": "application/json, text/event-stream", **(headers or {})})

    def request(self, method: str, params: dict[str, Any] | None = None, *, version: str = HANDSHAKE) -> Reply:
        """A JSON-RPC request of a handshake revision."""
        self._ids += 1
        message = {"jsonrpc": "2.0", "id": self._ids, "method": method, **({"params": params} if params else {})}
        return self.post(json.dumps(message).encode(), {"mcp-protocol-version": version})

    def modern(self, method: str, params: dict[str, Any] | None = None, *, name: str | None = None,
               capabilities: dict[str, Any] | None = None) -> Reply:
        """A 2026-07-28 request: the envelope in `_meta`, the method (and name) in headers."""
        self._ids += 1
        meta = {"io.modelcontextprotocol/protocolVersion": MODERN,
                "io.modelcontextprotocol/clientCapabilities": capabilities or {}}
        message = {"jsonrpc": "2.0", "id": self._ids, "method": method, "params": {**(params or {}), "_meta": meta}}
        headers = {"mcp-protocol-version": MODERN, "mcp-method": method, **({"mcp-name": name} if name else {})}
        return self.post(json.dumps(message).encode(), headers)
