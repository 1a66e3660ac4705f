"""What each stack costs, idle per month and per million tool calls, read from its synthesized template.

    make cost                       # synthesize without bundling, print the tables, rewrite docs/deploy.md's
    python -m tools.cost DIR [--prices tools/prices-us-east-1.json] [--write docs/deploy.md]

Why from the template: the sizes that set the bill (the database's class, Multi-AZ and storage, the proxy, NAT
gateways, interface endpoints per Availability Zone, keys, secrets, alarms, functions' memory, a WAF's rules)
are all in it, so the table follows the constructs without anyone re-reading them. The prices and the
assumptions about a tool call (billed time, cold starts, log bytes, what a task costs) are data, in one file
with a source per price (`prices-us-east-1.json`); the figures are estimates from list prices.

Every resource type of a template is either priced here or listed as free (`FREE`); a type that is neither is
reported, so a construct that adds something billable cannot slip past the table.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.templates import Resource, Template, load, text

PRICES = Path(__file__).with_name("prices-us-east-1.json")
MARKERS = ("<!-- cost:start -->", "<!-- cost:end -->")
DEVELOPMENT_MARKERS = ("<!-- cost:dev-profile -->", "<!-- cost:dev-profile end -->")

#: Types with no charge of their own (or none worth a line: a log group's storage, a rotation's monthly run).
FREE = frozenset({
    "AWS::CDK::Metadata", "AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy",
    "AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::RouteTable", "AWS::EC2::Route",
    "AWS::EC2::SubnetRouteTableAssociation", "AWS::EC2::InternetGateway", "AWS::EC2::VPCGatewayAttachment",
    "AWS::EC2::SecurityGroup", "AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress",
    "AWS::EC2::FlowLog", "AWS::Logs::LogGroup", "AWS::Logs::MetricFilter", "AWS::Logs::QueryDefinition",
    "AWS::Lambda::Version", "AWS::Lambda::Url", "AWS::Lambda::Permission", "AWS::Lambda::EventInvokeConfig",
    "AWS::RDS::DBParameterGroup", "AWS::RDS::DBSubnetGroup", "AWS::RDS::DBProxyTargetGroup",
    "AWS::SecretsManager::ResourcePolicy", "AWS::SecretsManager::RotationSchedule",
    "AWS::SecretsManager::SecretTargetAttachment", "AWS::Serverless::Application",
    "AWS::Cognito::UserPoolDomain", "AWS::Cognito::UserPoolGroup", "AWS::Cognito::UserPoolResourceServer",
    "AWS::SQS::QueuePolicy", "AWS::SSM::Parameter", "AWS::KMS::Alias",
    "AWS::ApiGateway::Account", "AWS::ApiGateway::Deployment", "AWS::ApiGateway::Stage",
    "AWS::ApiGateway::Resource", "AWS::ApiGateway::Method", "AWS::ApiGateway::RequestValidator",
    "AWS::ApiGateway::Model", "AWS::ApiGateway::GatewayResponse", "AWS::ApiGateway::DomainName",
    "AWS::ApiGateway::BasePathMapping", "AWS::WAFv2::WebACLAssociation", "AWS::WAFv2::LoggingConfiguration",
    "AWS::ApplicationAutoScaling::ScalableTarget", "AWS::ApplicationAutoScaling::ScalingPolicy",
})

#: Lambda's handler string for an MCP server of this project (`<package>.server.handler`): its function is
#: the one tool calls invoke.
_SERVICE_HANDLER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.server\.handler$")
_TASKS_TABLE = "MCP_TASKS_TABLE"
#: A service's placed tools (its functions forward their calls) and a placed tool's function (runs them).
_TOOL_FUNCTIONS, _TOOL_FUNCTION_TOOLS = "MCP_TOOL_FUNCTIONS", "MCP_TOOL_FUNCTION_TOOLS"


@dataclass(frozen=True)
class Line:
    """One billable resource: what it is (its size), what it costs idle per month and per million calls."""

    resource: str
    what: str
    monthly: float
    per_million: float


@dataclass(frozen=True)
class StackCost:
    stack: str
    lines: list[Line]
    unpriced: list[str]

    @property
    def monthly(self) -> float:
        return sum(line.monthly for line in self.lines)

    @property
    def per_million(self) -> float:
        return sum(line.per_million for line in self.lines)


class Prices:
    """The price file: `usd(name)` for a price, `assumption(name)` for an assumed figure about a call."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.region: str = data["region"]
        self.compiled: str = data["compiled"]
        self.hours: float = data["hours_per_month"]

    @classmethod
    def read(cls, path: Path = PRICES) -> Prices:
        return cls(json.loads(Path(path).read_text()))

    def usd(self, name: str, *keys: str) -> float:
        value = self.data["prices"][name]["usd"]
        for key in keys:
            if key not in value:
                raise KeyError(f"{name} has no price for {key!r} in {PRICES.name}: add it from "
                               f"{self.data['prices'][name]['source']}")
            value = value[key]
        return float(value)

    def entry(self, name: str) -> dict[str, Any]:
        return self.data["prices"][name]

    def assumption(self, name: str) -> float:
        return float(self.data["assumptions"][name]["value"])


@dataclass(frozen=True)
class CallProfile:
    """What one tool call to a service costs, as Lambda bills it, and how many requests reach its endpoint."""

    invocations: float
    client_requests: float
    dynamodb_writes: float
    dynamodb_reads: float
    lambda_usd: float


def stack_cost(template: Template, prices: Prices) -> StackCost:
    """The billable lines of one template, in template order."""
    services = [_call_profile(template, resource, prices) for resource in _service_functions(template)]
    # A tool call reaches one service; with several in a stack, calls are taken as spread evenly.
    share = 1 / len(services) if services else 0.0
    lines: list[Line] = []
    unpriced: list[str] = []
    for resource in template.resources.values():
        if resource.type in FREE or resource.type.startswith("Custom::"):
            continue
        pricer = _PRICERS.get(resource.type)
        if pricer is None:
            unpriced.append(f"{resource.id} ({resource.type})")
            continue
        lines.extend(pricer(template, resource, prices, services, share))
    return StackCost(template.name, lines, unpriced)


# -- the services ---------------------------------------------------------------------------------------------


def _service_functions(template: Template) -> list[Resource]:
    """The functions clients call: a server's, not its placed tools' (which run the same handler)."""
    return [f for f in _handler_functions(template) if _TOOL_FUNCTION_TOOLS not in _environment(f)]


def _tool_functions(template: Template) -> list[Resource]:
    """Placed tools' functions (``ServerSpec.placements``): invoked by their service, once per call of their tools."""
    return [f for f in _handler_functions(template) if _TOOL_FUNCTION_TOOLS in _environment(f)]


def _handler_functions(template: Template) -> list[Resource]:
    return [f for f in template.of_type("AWS::Lambda::Function") if _SERVICE_HANDLER.match(str(f.properties.get("Handler")))]


def _environment(function: Resource) -> dict[str, Any]:
    return (function.properties.get("Environment") or {}).get("Variables") or {}


def _memory_gb(function: Resource) -> float:
    return float(function.properties.get("MemorySize", 128)) / 1024


def _architecture(function: Resource) -> str:
    return (function.properties.get("Architectures") or ["x86_64"])[0]


def _call_profile(template: Template, function: Resource, prices: Prices) -> tuple[Resource, CallProfile]:
    tasks = _TASKS_TABLE in _environment(function)
    billed_ms = prices.assumption("billed_ms_per_call")
    if tasks:
        invocations = prices.assumption("task_invocations_per_call")
        milliseconds = (invocations - 1) * billed_ms + prices.assumption("task_worker_billed_ms")
        client_requests = invocations - 1  # the worker is invoked by the function itself, not through the endpoint
    else:
        invocations, milliseconds, client_requests = 1.0, billed_ms, 1.0
    if _TOOL_FUNCTIONS in _environment(function):
        # Its calls are forwarded to placed tools' functions (all of them, as taken here): it is billed for its own
        # part and for the time it waits on the tool function's answer, which is the tool's own billed time.
        milliseconds += billed_ms
    cold = prices.assumption("cold_starts_per_thousand_calls") / 1000 * prices.assumption("billed_init_ms")
    gb_seconds = _memory_gb(function) * (milliseconds + cold) / 1000
    log_gb = invocations * prices.assumption("log_bytes_per_invocation") / 1e9
    usd = 1e6 * (gb_seconds * prices.usd("lambda_gb_second", _architecture(function))
                 + invocations * prices.usd("lambda_requests_per_million") / 1e6
                 + log_gb * prices.usd("cloudwatch_logs_ingested_gb"))
    return function, CallProfile(
        invocations, client_requests,
        prices.assumption("task_dynamodb_writes_per_call") if tasks else 0.0,
        prices.assumption("task_dynamodb_reads_per_call") if tasks else 0.0,
        usd,
    )


Services = list[tuple[Resource, CallProfile]]
Pricer = Callable[[Template, Resource, Prices, Services, float], Iterable[Line]]


def _function(template: Template, resource: Resource, prices: Prices, services: Services, share: float):
    size = f"Lambda {_memory_gb(resource) * 1024:.0f} MB {_architecture(resource)}"
    for function, profile in services:
        if function.id == resource.id:
            tasks = " (task tools: call, worker, 3 polls)" if profile.dynamodb_writes else ""
            waits = ", waiting on its placed tools' functions" if _TOOL_FUNCTIONS in _environment(resource) else ""
            yield Line(resource.id, f"{size}, {profile.invocations:g} invocation(s) per call{tasks}{waits}, with logs",
                       0.0, share * profile.lambda_usd)
    tools = _tool_functions(template)
    if resource.id in {tool.id for tool in tools}:
        # Each call is forwarded to one placed tool's function: calls taken as spread evenly over them.
        _, profile = _call_profile(template, resource, prices)
        yield Line(resource.id, f"{size}, a placed tool's function: 1 invocation per call of its tools "
                   f"(1 in {len(tools)} calls), with logs", 0.0, profile.lambda_usd / len(tools))


def _alias(template: Template, resource: Resource, prices: Prices, services: Services, share: float):
    provisioned = (resource.properties.get("ProvisionedConcurrencyConfig") or {}).get("ProvisionedConcurrentExecutions")
    if provisioned:
        [function] = template.referenced(resource.properties["FunctionName"], "AWS::Lambda::Function")
        monthly = (float(provisioned) * _memory_gb(function) * prices.hours * 3600
                   * prices.usd("lambda_provisioned_gb_second", _architecture(function)))
        yield Line(resource.id, f"provisioned concurrency {provisioned} × {_memory_gb(function) * 1024:.0f} MB", monthly, 0.0)


# -- the database and its network -----------------------------------------------------------------------------


def _deployment(instance: Resource) -> str:
    return "multi_az" if instance.properties.get("MultiAZ") in (True, "true") else "single_az"


def _rds_instance(template: Template, resource: Resource, prices: Prices, services: Services, share: float):
    p = resource.properties
    instance_class, deployment = str(p["DBInstanceClass"]), _deployment(resource)
    storage_type, storage = str(p.get("StorageType", "gp2")), float(p.get("AllocatedStorage", 20))
    hourly = prices.usd("rds_postgresql_instance_hour", instance_class, deployment)
    monthly = hourly * prices.hours + storage * prices.usd("rds_storage_gb_month", storage_type, deployment)
    where = "Multi-AZ" if deployment == "multi_az" else "single-AZ"
    yield Line(resource.id, f"RDS PostgreSQL {instance_class}, {where}, {storage:g} GB {storage_type} "
               f"(grows to {p.get('MaxAllocatedStorage', storage)} GB)", monthly, 0.0)


def _rds_proxy(template: Template, resource: Resource, prices: Prices, services: Services, share: float):
    vcpus = 0
    for group in template.referring_to(resource.id, "AWS::RDS::DBProxyTargetGroup"):
        for instance in template.referenced(group.properties.get("DBInstanceIdentifiers"), "AWS::RDS::DBInstance"):
            vcpus += int(prices.entry("rds_postgresql_instance_hour")["usd"][instance.properties["DBInstanceClass"]]["vcpus"])
    billed = max(vcpus, int(prices.entry("rds_proxy_vcpu_hour")["minimum_vcpus"]))
    yield Line(resource.id, f"RDS Proxy, {billed} vCPUs of its instance", billed * prices.usd("rds_proxy_vcpu_hour") * prices.hours, 0.0)


def _nat_gateway(template: Template, resource: Resource, prices: Prices, services: Services, share: float):
    yield Line(resource.id, "NAT gateway (plus $%.3f per GB it processes)" % prices.usd("nat_gateway_gb"),
               prices.usd("nat_gateway_hour") * prices.hours, 0.0)


def _elastic_ip(template: Template, resource: Resource, prices: Prices, services: Services, share: float):
    yield Line(resource.id, "public IPv4 address", prices.usd("public_ipv4_hour") * prices.hours, 0.0)


def _vpc_endpoint(template: Template, resource: Resource, prices: Prices, services: Services, share: float):
    p = resource.properties
    service = text(p.get("ServiceName")).rsplit(".", 1)[-1]
    if p.get("VpcEndpointType", "Gateway") != "Interface":
        yield Line(resource.id, f"{service} gateway endpoint", 0.0, 0.0)
        return
    zones = len(p.get("SubnetIds") or []) or 1
    yield Line(resource.id, f"{service} interface endpoint in {zones} AZs",
               zones * prices.usd("interface_endpoint_az_hour") * prices.hours, 0.0)


# -- keys, secrets, monitoring --------------------------------------------------------------------------------


def _kms_key(template: Template, resource: Resource, prices: Prices, services: Services, share: float):
    spec = resource.properties.get("KeySpec", "SYMMETRIC_DEFAULT")
    rotation = ", rotated yearly" if resource.properties.get("EnableKeyRotation") else ""
    yield Line(resource.id, f"KMS key {spec}{rotation}", prices.usd("kms_key_month"), 0.0)


def _secret(template: Template, resource: Resource, prices: Prices, services: Services, share: float):
    yield Line(resource.id, "Secrets Manager secret (read once per environment)", prices.usd("secret_month"), 0.0)


def _alarm(template: Template, resource: Resource, prices: Prices, services: Services, share: float):
    queries = resource.properties.get("Metrics") or []
    metrics = sum(1 for query in queries if "MetricStat" in query) or 1
    anomaly = any("ANOMALY_DETECTION_BAND" in str(query.get("Expression", "")) for query in queries)
    billed = metrics * 3 if anomaly else metrics  # a band alarm bills the metric and both bounds
    kind = "anomaly-band" if anomaly else ("metric-math" if queries else "metric")
    yield Line(resource.id, f"CloudWatch {kind} alarm, {billed} alarm metric(s)",
               billed * prices.usd("cloudwatch_alarm_metric_month"), 0.0)


def _dashboard(template: Template, resource: Resource, prices: Prices, services: Services, share: float):
    yield Line(resource.id, "CloudWatch dashboard (an account's first three are free)",
               prices.usd("cloudwatch_dashboard_month"), 0.0)


# -- state, queues, sign-in, the API --------------------------------------------------------------------------


def _dynamodb_table(template: Template, resource: Resource, prices: Prices, services: Services, share: float):
    p = resource.properties
    if p.get("BillingMode") != "PAY_PER_REQUEST":
        raise ValueError(f"{resource.id}: only on-demand DynamoDB tables are priced")
    per_million = 0.0
    for function, profile in services:
        if any(table.id == resource.id for table in template.referenced(_environment(function).get(_TASKS_TABLE))):
            per_million += share * (profile.dynamodb_writes * prices.usd("dynamodb_on_demand_writes_per_million")
                                    + profile.dynamodb_reads * prices.usd("dynamodb_on_demand_reads_per_million"))
    use = "task state" if per_million else "sign-in state (per sign-in, not per call)"
    yield Line(resource.id, f"DynamoDB on demand, {use}", 0.0, per_million)


def _queue(template: Template, resource: Resource, prices: Prices, services: Services, share: float):
    yield Line(resource.id, "SQS queue (only failed task workers land here)", 0.0, 0.0)


def _user_pool(template: Template, resource: Resource, prices: Prices, services: Services, share: float):
    tier = str(resource.properties.get("UserPoolTier", "ESSENTIALS"))
    free = "" if tier == "PLUS" else ", the first 10,000 free"
    yield Line(resource.id, f"Cognito user pool ({tier}): ${prices.usd('cognito_mau', tier):g} per monthly active "
               f"user{free}", 0.0, 0.0)


def _user_pool_client(template: Template, resource: Resource, prices: Prices, services: Services, share: float):
    if "client_credentials" in (resource.properties.get("AllowedOAuthFlows") or []):
        yield Line(resource.id, "Cognito machine-to-machine app client", prices.usd("cognito_machine_client_month"), 0.0)


def _rest_api(template: Template, resource: Resource, prices: Prices, services: Services, share: float):
    requests = sum(share * profile.client_requests for _, profile in services)
    yield Line(resource.id, "API Gateway REST API", 0.0, requests * prices.usd("apigateway_rest_requests_per_million"))


def _http_api(template: Template, resource: Resource, prices: Prices, services: Services, share: float):
    requests = sum(share * profile.client_requests for _, profile in services)
    yield Line(resource.id, "API Gateway HTTP API", 0.0, requests * prices.usd("apigateway_http_requests_per_million"))


def _web_acl(template: Template, resource: Resource, prices: Prices, services: Services, share: float):
    rules = len(resource.properties.get("Rules") or [])
    requests = sum(share * profile.client_requests for _, profile in services)
    yield Line(resource.id, f"WAF web ACL with {rules} rules",
               prices.usd("waf_web_acl_month") + rules * prices.usd("waf_rule_month"),
               requests * prices.usd("waf_requests_per_million"))


_PRICERS: dict[str, Pricer] = {
    "AWS::Lambda::Function": _function,
    "AWS::Lambda::Alias": _alias,
    "AWS::RDS::DBInstance": _rds_instance,
    "AWS::RDS::DBProxy": _rds_proxy,
    "AWS::EC2::NatGateway": _nat_gateway,
    "AWS::EC2::EIP": _elastic_ip,
    "AWS::EC2::VPCEndpoint": _vpc_endpoint,
    "AWS::KMS::Key": _kms_key,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::CloudWatch::Alarm": _alarm,
    "AWS::CloudWatch::Dashboard": _dashboard,
    "AWS::DynamoDB::Table": _dynamodb_table,
    "AWS::SQS::Queue": _queue,
    "AWS::Cognito::UserPool": _user_pool,
    "AWS::Cognito::UserPoolClient": _user_pool_client,
    "AWS::ApiGateway::RestApi": _rest_api,
    "AWS::ApiGatewayV2::Api": _http_api,
    "AWS::WAFv2::WebACL": _web_acl,
}


# -- the report -----------------------------------------------------------------------------------------------


def _usd(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


def report(costs: list[StackCost], prices: Prices) -> str:
    """Markdown: the summary per stack, the assumptions, then each stack's lines."""
    a = prices.data["assumptions"]
    out = [
        f"Estimated with `make cost` from the synthesized templates and AWS list prices for {prices.region} "
        f"compiled {prices.compiled} (`tools/prices-us-east-1.json`, a source per price): on demand, no free tier, "
        "no data transfer, no taxes. Estimates, not quotes.",
        "",
        "| stack | idle, per month | per million tool calls |",
        "|---|---:|---:|",
        *(f"| `{c.stack}` | {_usd(c.monthly)} | {_usd(c.per_million)} |" for c in costs),
        "",
        "Assumed per tool call (`assumptions` in the price file):",
        "",
        *(f"- {name.replace('_', ' ')}: {entry['value']:g} ({entry['why']})" for name, entry in a.items()),
        "",
        "Not in the figures: a key rotated yearly costs $1 a month more after each of its first two rotations; "
        f"each tool called in a month publishes 3 custom metrics (EMF) at ${prices.usd('cloudwatch_custom_metric_month'):.2f} "
        "a month each; a NAT gateway and interface endpoints also bill per GB they carry (sign-in fetches its keys "
        "once per environment); snapshots and logs kept after a teardown bill storage.",
    ]
    for cost in costs:
        out += ["", f"`{cost.stack}`:", "", "| resource | what | per month | per 1M calls |", "|---|---|---:|---:|"]
        out += [f"| `{line.resource}` | {line.what} | {_usd(line.monthly)} | {_usd(line.per_million)} |"
                for line in cost.lines]
        if cost.unpriced:
            out += ["", "Not priced (no rule in tools/cost.py): " + ", ".join(cost.unpriced)]
    return "\n".join(out)


def development_report(default: list[StackCost], development: list[StackCost]) -> str:
    """Markdown: idle per month of each stack deployed as usual and with ``-c development=true``, for the stacks
    where the two differ."""
    disposable = {cost.stack: cost for cost in development}
    rows = [(cost, disposable[cost.stack]) for cost in default
            if cost.stack in disposable and round(disposable[cost.stack].monthly, 2) != round(cost.monthly, 2)]
    return "\n".join([
        "**Development deployments** (`-c development=true`, or `McpServerStack(development=True)`): the database's "
        "development profile (`McpDatabase(development=True)`: single-AZ, one day of backups, no deletion "
        "protection, no final snapshot, its key destroyed) and a user pool destroyed with the stack, so "
        "`cdk destroy` leaves nothing behind. The instance class and RDS Proxy stay: the proxy is how each server "
        "signs in as its own database user with IAM. Computed by `make cost` from templates synthesized with the "
        "flag, with the same prices and assumptions:",
        "",
        "| stack | idle, per month | as a development deployment | per million tool calls |",
        "|---|---:|---:|---:|",
        *(f"| `{usual.stack}` | {_usd(usual.monthly)} | {_usd(dev.monthly)} | {_usd(dev.per_million)} |"
          for usual, dev in rows),
    ])


def write(path: Path, block: str, markers: tuple[str, str] = MARKERS) -> None:
    """Replace what lies between `markers` in `path` with `block`."""
    start, end = markers
    document = path.read_text()
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(document):
        raise ValueError(f"{path} has no {start} ... {end} block")
    path.write_text(pattern.sub(lambda _: f"{start}\n{block}\n{end}", document, count=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("templates", type=Path, help="a `cdk synth` output directory")
    parser.add_argument("--prices", type=Path, default=PRICES)
    parser.add_argument("--write", type=Path, help="a Markdown file whose cost block is replaced")
    parser.add_argument("--development", type=Path,
                        help="a `cdk synth -c development=true` output directory: adds the development rows")
    args = parser.parse_args(argv)
    prices = Prices.read(args.prices)
    costs = [stack_cost(template, prices) for template in load(args.templates)]
    block = report(costs, prices)
    print(block)
    if args.write:
        write(args.write, block)
    if args.development:
        development = [stack_cost(template, prices) for template in load(args.development)]
        costs += development
        dev_block = development_report(costs[: len(costs) - len(development)], development)
        print("\n" + dev_block)
        if args.write:
            write(args.write, dev_block, DEVELOPMENT_MARKERS)
    unpriced = [entry for cost in costs for entry in cost.unpriced]
    if unpriced:
        print(f"not priced: {', '.join(unpriced)}: add a rule to tools/cost.py or the type to FREE", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
