"""An architecture diagram per stack, drawn from its synthesized template: what it deploys and how a request flows.

    make diagrams                   # synthesize without bundling, then docs/images/<Stack>.png (and dashboards)
    python -m tools.diagrams DIR OUT

Two halves. `architecture(template)` reads the template into a small model (standard library only, so the tests
check it in CI): the services and their endpoints, the VPC and its Availability Zones, NAT and endpoints, the
proxy and the database with its size, placed tools' functions, sign-in (the Cognito pool, the authorization server), task state, keys,
secrets and alarms. `draw(model, path)` renders it with the `diagrams` library (mingrammer; AWS's icons) and
Graphviz, which only `make diagrams` installs (`tools/diagram-requirements.txt`, `.tools/diagrams`).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tools.templates import Resource, Template, load, text

# The runtime's contract names (mcp_lambda.contract; tests/tools checks they agree), spelled here because make
# diagrams' own venv holds no runtime.
_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
_TASKS_TABLE = "MCP_TASKS_TABLE"
_TOOL_FUNCTION_TOOLS = "MCP_TOOL_FUNCTION_TOOLS"
_DB_USER = "MCP_DB_USER"
_AUTHORIZATION_HANDLER = "mcp_lambda.authorization.handler.handler"


@dataclass
class Service:
    """One MCP server's function and how clients reach it."""

    name: str
    size: str
    endpoint: str
    tasks: bool


@dataclass
class ToolFunction:
    """A placed tool's function (``ServerSpec.placements``): invoked by its service only, no endpoint."""

    tools: str
    size: str
    database_user: str | None


@dataclass
class Architecture:
    """What a stack deploys, as the diagram shows it."""

    stack: str
    services: list[Service]
    tool_functions: list[ToolFunction] = field(default_factory=list)
    rest_api: bool = False
    waf_rules: int = 0
    vpc_azs: int = 0
    nat_gateways: int = 0
    interface_endpoints: list[str] = field(default_factory=list)
    gateway_endpoints: list[str] = field(default_factory=list)
    proxy: bool = False
    database: str | None = None
    migrations: bool = False
    user_pool: str | None = None
    authorization_server: bool = False
    task_table: bool = False
    failed_worker_queue: bool = False
    keys: int = 0
    secrets: int = 0
    alarms: int = 0
    dashboards: int = 0


def _environment(function: Resource) -> dict:
    return (function.properties.get("Environment") or {}).get("Variables") or {}


def _is_service(function: Resource) -> bool:
    return str(function.properties.get("Handler", "")).endswith(".server.handler") and not _is_tool_function(function)


def _is_tool_function(function: Resource) -> bool:
    return _TOOL_FUNCTION_TOOLS in _environment(function)


def _size(function: Resource) -> str:
    architecture_name = (function.properties.get("Architectures") or ["x86_64"])[0]
    return f"{function.properties.get('Runtime')} {architecture_name}\n{function.properties.get('MemorySize', 128)} MB"


def architecture(template: Template) -> Architecture:
    """The model of one stack, read from its template."""
    urls = template.of_type("AWS::Lambda::Url")
    services = []
    vpc_azs = 0
    tool_functions = []
    for function in template.of_type("AWS::Lambda::Function"):
        if _is_tool_function(function):
            user = _environment(function).get(_DB_USER)
            tool_functions.append(ToolFunction(str(_environment(function)[_TOOL_FUNCTION_TOOLS]), _size(function),
                                               str(user) if user is not None else None))
        if not _is_service(function):
            continue
        auth = next((str(url.properties.get("AuthType")) for url in urls
                     if function.id in {r.id for r in template.referenced(url.properties.get("TargetFunctionArn"))}), None)
        endpoint = f"URL auth {auth}" if auth else "REST API"
        services.append(Service(str(_environment(function).get(_SERVICE_NAME, function.id)), _size(function), endpoint,
                                _TASKS_TABLE in _environment(function)))
        vpc_azs = max(vpc_azs, len((function.properties.get("VpcConfig") or {}).get("SubnetIds") or []))

    model = Architecture(template.name, services, tool_functions, vpc_azs=vpc_azs)
    model.rest_api = bool(template.of_type("AWS::ApiGateway::RestApi"))
    model.waf_rules = sum(len(acl.properties.get("Rules") or []) for acl in template.of_type("AWS::WAFv2::WebACL"))
    model.nat_gateways = len(template.of_type("AWS::EC2::NatGateway"))
    for endpoint in template.of_type("AWS::EC2::VPCEndpoint"):
        service = text(endpoint.properties.get("ServiceName")).rsplit(".", 1)[-1]
        kind = endpoint.properties.get("VpcEndpointType", "Gateway")
        (model.interface_endpoints if kind == "Interface" else model.gateway_endpoints).append(service)
    model.proxy = bool(template.of_type("AWS::RDS::DBProxy"))
    for instance in template.of_type("AWS::RDS::DBInstance"):
        p = instance.properties
        where = "Multi-AZ" if p.get("MultiAZ") in (True, "true") else "single-AZ"
        engine = "PostgreSQL" if p.get("Engine") == "postgres" else str(p.get("Engine"))
        model.database = (f"{engine} {p.get('EngineVersion')}\n{p.get('DBInstanceClass')}\n{where}\n"
                          f"{p.get('AllocatedStorage')} GB {p.get('StorageType', 'gp2')}")
    model.migrations = bool(template.of_type("Custom::McpSchemaMigrations"))
    for pool in template.of_type("AWS::Cognito::UserPool"):
        p = pool.properties
        model.user_pool = f"Cognito user pool\n{p.get('UserPoolTier', 'ESSENTIALS')} · MFA {p.get('MfaConfiguration', 'OFF')}"
    model.authorization_server = any(f.properties.get("Handler") == _AUTHORIZATION_HANDLER
                                     for f in template.of_type("AWS::Lambda::Function"))
    task_tables = {table.id for function in template.of_type("AWS::Lambda::Function")
                   for table in template.referenced(_environment(function).get(_TASKS_TABLE))}
    model.task_table = bool(task_tables)
    model.failed_worker_queue = bool(template.of_type("AWS::Lambda::EventInvokeConfig")) and bool(
        template.of_type("AWS::SQS::Queue"))
    model.keys = len(template.of_type("AWS::KMS::Key"))
    model.secrets = len(template.of_type("AWS::SecretsManager::Secret"))
    model.alarms = len(template.of_type("AWS::CloudWatch::Alarm"))
    model.dashboards = len(template.of_type("AWS::CloudWatch::Dashboard"))
    return model


# -- drawing (the diagrams library and Graphviz: make diagrams only) ------------------------------------------

_GRAPH = {"fontsize": "22", "fontname": "DejaVu Sans", "pad": "0.4", "nodesep": "0.55", "ranksep": "1.0",
          "splines": "spline", "labelloc": "t", "dpi": "96"}
_NODE = {"fontsize": "13", "fontname": "DejaVu Sans"}
_EDGE = {"fontsize": "12", "fontname": "DejaVu Sans"}
_CLUSTER = {"fontsize": "15", "fontname": "DejaVu Sans", "margin": "24"}


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def draw(model: Architecture, path: Path) -> Path:
    """Render `model` to `path` (PNG); the request path is drawn bold and numbered."""
    from diagrams import Cluster, Diagram, Edge
    from diagrams.aws.compute import Lambda
    from diagrams.aws.database import RDS, Dynamodb
    from diagrams.aws.integration import SQS
    from diagrams.aws.management import Cloudwatch
    from diagrams.aws.network import APIGateway, Endpoint, NATGateway
    from diagrams.aws.security import KMS, WAF, Cognito, SecretsManager
    from diagrams.onprem.client import Users
    from diagrams.onprem.network import Internet

    def flow(label: str) -> Edge:
        return Edge(label=label, color="#1f5fbf", style="bold", **_EDGE)

    def side(label: str = "", style: str = "dashed") -> Edge:
        return Edge(label=label, color="#7a7a7a", style=style, **_EDGE)

    title = f"{model.stack}: what it deploys, and the path of a tool call (blue)"
    path.parent.mkdir(parents=True, exist_ok=True)
    with Diagram(title, filename=str(path.with_suffix("")), outformat="png", show=False, direction="LR",
                 graph_attr=_GRAPH, node_attr=_NODE):
        client = Users("MCP client\n(Claude, Inspector,\nthe proxy)")
        entry = None
        if model.rest_api:
            waf = WAF(f"WAF web ACL\n{model.waf_rules} rules")
            api = APIGateway("API Gateway\nREST API")
            client >> flow("1 · HTTPS POST /mcp") >> waf >> flow("2") >> api
            entry = api

        def service_nodes() -> list:
            return [(service, Lambda(f"{service.name}\n{service.size} · live")) for service in model.services]

        def tool_nodes() -> list:
            return [(tool, Lambda(f"{tool.tools}\n{tool.size} · live\nno endpoint")) for tool in model.tool_functions]

        database_nodes: dict[str, object] = {}
        if model.vpc_azs:
            with Cluster(f"VPC · {model.vpc_azs} Availability Zones", graph_attr=_CLUSTER):
                route = "route out through NAT" if model.nat_gateways else "no route out"
                with Cluster(f"application subnets ({route})", graph_attr=_CLUSTER):
                    services = service_nodes()
                    tools = tool_nodes()
                    endpoints = {name: Endpoint(f"{name}\ninterface endpoint") for name in model.interface_endpoints}
                    migrations = Lambda("schema migrations\n(deploy time)") if model.migrations else None
                with Cluster("database subnets (isolated)", graph_attr=_CLUSTER):
                    if model.proxy:
                        database_nodes["proxy"] = RDS("RDS Proxy\nTLS, IAM auth")
                    if model.database:
                        database_nodes["db"] = RDS(model.database)
                if model.nat_gateways:
                    with Cluster("public subnet", graph_attr=_CLUSTER):
                        nat = NATGateway(f"NAT gateway ×{model.nat_gateways}")
        else:
            services = service_nodes()
            tools = tool_nodes()
            endpoints = {}
            migrations = None

        keys = KMS(f"KMS\n{_count(model.keys, 'key')}")
        secrets = SecretsManager(f"Secrets Manager\n{_count(model.secrets, 'secret')}") if model.secrets else None
        watch = Cloudwatch(f"CloudWatch\nlogs · metrics\n{_count(model.alarms, 'alarm')} · dashboard")

        for service, node in services:
            first = "3 · invoke" if entry is not None else f"1 · POST /mcp\n{service.endpoint}"
            (entry or client) >> flow(first) >> node
            node >> side("logs, EMF metrics", "dotted") >> watch
            node >> side("env, logs", "dotted") >> keys
            if secrets is not None:
                via = endpoints.get("secretsmanager")
                if via is not None:
                    node >> side("keys, credentials") >> via >> side() >> secrets
                else:
                    node >> side("request-state keys") >> secrets
            if "proxy" in database_nodes and not tools:
                node >> flow("2 · PostgreSQL\nIAM token, TLS") >> database_nodes["proxy"]
                database_nodes["proxy"] >> flow("3 · pooled") >> database_nodes["db"]
            for tool, tool_node in tools:
                # A placed tool's call: forwarded by a synchronous invoke of the tool function's live alias.
                via = endpoints.get("lambda")
                if via is not None:
                    node >> flow("2 · invoke tools/call") >> via >> flow("") >> tool_node
                else:
                    node >> flow("2 · invoke tools/call") >> tool_node
                tool_node >> side("logs", "dotted") >> watch
                if "proxy" in database_nodes and tool.database_user:
                    tool_node >> flow(f"3 · PostgreSQL as\n{tool.database_user}") >> database_nodes["proxy"]
            if "proxy" in database_nodes and tools:
                database_nodes["proxy"] >> flow("4 · pooled") >> database_nodes["db"]
            if service.tasks:
                table = Dynamodb("DynamoDB\ntask state")
                via = " (gateway endpoint)" if "dynamodb" in model.gateway_endpoints else ""
                node >> flow(f"task state{via}") >> table
                worker = endpoints.get("lambda")
                if worker is not None:
                    node >> side("async invoke: the task's worker") >> worker >> side() >> node
                if model.failed_worker_queue:
                    node >> side("worker never ran") >> SQS("SQS\nfailed workers")
            if model.nat_gateways:
                node >> side("issuers' signing keys (JWKS)") >> nat >> side() >> Internet("internet")

        if migrations is not None and "proxy" in database_nodes:
            migrations >> side("before live moves") >> database_nodes["proxy"]

        if model.authorization_server:
            with Cluster("sign-in", graph_attr=_CLUSTER):
                authorization = Lambda("authorization\nserver (OAuth 2.1)")
                state = Dynamodb("DynamoDB\nclients, codes, tokens")
                pool = Cognito(model.user_pool or "upstream OIDC")
            client >> Edge(label="0 · sign in: register,\nPKCE, consent, a token\nfor this server",
                           color="#2e8b57", style="bold", **_EDGE) >> authorization
            authorization >> side("people sign in here (MFA)") >> pool
            authorization >> side("state") >> state
            authorization >> side("signs tokens") >> keys
        elif model.user_pool:
            client >> side("sign in") >> Cognito(model.user_pool)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.diagrams", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("templates", type=Path, help="a `cdk synth` output directory")
    parser.add_argument("out", type=Path, help="where the PNGs go (docs/images)")
    args = parser.parse_args(argv)
    for template in load(args.templates):
        print(draw(architecture(template), args.out / f"{template.name}.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
