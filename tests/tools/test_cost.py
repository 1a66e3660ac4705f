"""`make cost` (tools/cost.py): the billable resources and their sizes are read from real synthesized templates, so
a variant of a stack (single-AZ, another instance class, a REST API with WAF) costs what its template says."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk  # noqa: E402
from aws_cdk import aws_ec2 as ec2  # noqa: E402

from mcp_lambda_cdk import McpServerStack  # noqa: E402
from mcp_lambda_cdk.database import McpDatabaseOptions  # noqa: E402
from mcp_lambda_cdk.lambda_service import McpEndpoint  # noqa: E402
from mcp_servers import MESSAGING, REPORTS, WEATHER  # noqa: E402
from tests.tools.conftest import cdk_json_context  # noqa: E402
from tools.cost import PRICES as PRICE_FILE  # noqa: E402
from tools.cost import Prices, StackCost, main, stack_cost, write  # noqa: E402
from tools.templates import Template, load  # noqa: E402

PRICES = Prices.read()
HOURS = PRICES.hours


def instance(name: str, deployment: str) -> float:
    return PRICES.usd("rds_postgresql_instance_hour", name, deployment) * HOURS


def storage(gb: float, deployment: str) -> float:
    return gb * PRICES.usd("rds_storage_gb_month", "gp3", deployment)


def variant(tmp_path: Path, server, **props) -> StackCost:
    """One stack of the repository's servers with other props, synthesized in this process."""
    app = cdk.App(outdir=str(tmp_path / "cdk.out"), context={**cdk_json_context(), "mcp:skipBundling": True})
    McpServerStack(app, "Variant", server=server, **props)
    body = app.synth().get_stack_by_name("Variant").template
    return stack_cost(Template("Variant", body), PRICES)


def by_kind(cost: StackCost, prefix: str) -> list:
    return [line for line in cost.lines if line.what.startswith(prefix)]


@pytest.fixture(scope="module")
def costs(templates) -> dict[str, StackCost]:
    return {template.name: stack_cost(template, PRICES) for template in load(templates)}


def test_every_resource_of_every_stack_is_priced_or_known_to_be_free(costs):
    assert set(costs) == {"McpWeatherStack", "McpMessagingStack", "McpSecureMessagingStack", "McpReportsStack",
                          "McpMessagingPlacedStack"}
    assert {name: cost.unpriced for name, cost in costs.items()} == {name: [] for name in costs}


def test_the_messaging_database_is_priced_at_the_size_the_template_gives_it(costs):
    messaging = costs["McpMessagingStack"]
    [database] = by_kind(messaging, "RDS PostgreSQL")
    assert database.what.startswith("RDS PostgreSQL db.t4g.micro, Multi-AZ, 20 GB gp3")
    assert database.monthly == pytest.approx(instance("db.t4g.micro", "multi_az") + storage(20, "multi_az"))
    [proxy] = by_kind(messaging, "RDS Proxy")
    assert proxy.monthly == pytest.approx(2 * PRICES.usd("rds_proxy_vcpu_hour") * HOURS), "the instance's 2 vCPUs"
    [endpoint] = by_kind(messaging, "secretsmanager interface endpoint")
    assert endpoint.what.endswith("in 2 AZs")
    assert endpoint.monthly == pytest.approx(2 * PRICES.usd("interface_endpoint_az_hour") * HOURS)
    assert not by_kind(messaging, "NAT gateway"), "the messaging VPC has no NAT"
    [function] = by_kind(messaging, "Lambda 1024 MB arm64")
    assert function.per_million > 0 and function.monthly == 0


def test_sign_in_adds_a_nat_gateway_and_the_authorization_servers_keys(costs):
    secure, messaging = costs["McpSecureMessagingStack"], costs["McpMessagingStack"]
    assert len(by_kind(secure, "NAT gateway")) == 1 and len(by_kind(secure, "public IPv4")) == 1
    assert len(by_kind(secure, "KMS key")) > len(by_kind(messaging, "KMS key"))
    [pool] = by_kind(secure, "Cognito user pool")
    assert pool.monthly == 0, "a pool costs per monthly active user, nothing idle"
    assert secure.monthly > messaging.monthly


def test_task_tools_cost_more_per_call_than_plain_ones(costs):
    reports, messaging = costs["McpReportsStack"], costs["McpMessagingStack"]
    [table] = by_kind(reports, "DynamoDB on demand, task state")
    assert table.per_million > 0
    assert reports.per_million > messaging.per_million
    assert by_kind(reports, "lambda interface endpoint"), "self-invocation from subnets without egress"


def test_a_placed_call_costs_the_front_its_wait_and_one_tool_functions_invocation(costs):
    placed, messaging = costs["McpMessagingPlacedStack"], costs["McpMessagingStack"]
    [front] = [line for line in placed.lines if line.resource.startswith("MessagingPlacedFunction")]
    [alone] = [line for line in messaging.lines if line.resource.startswith("MessagingFunction")]
    tools = by_kind(placed, "Lambda 1024 MB arm64, a placed tool's function")
    assert sorted(line.resource.split("Function")[0] for line in tools) == [
        "MessagingPlacedToolgetmessages", "MessagingPlacedToolpostmessage"]
    # The front bills its own part and the wait; the calls are spread over the two tool functions.
    assert front.per_million > alone.per_million
    assert sum(line.per_million for line in tools) == pytest.approx(alone.per_million)
    assert placed.per_million > messaging.per_million
    # Its idle cost adds the tool functions' alarms and the Lambda endpoint the front invokes them through.
    assert by_kind(placed, "lambda interface endpoint") and not by_kind(messaging, "lambda interface endpoint")
    assert placed.monthly > messaging.monthly


def test_a_single_az_database_costs_less_by_exactly_the_standby(tmp_path):
    multi = variant(tmp_path / "multi", MESSAGING)
    single = variant(tmp_path / "single", MESSAGING, database=McpDatabaseOptions(multi_az=False))
    [database] = by_kind(single, "RDS PostgreSQL")
    assert "single-AZ" in database.what
    assert database.monthly == pytest.approx(instance("db.t4g.micro", "single_az") + storage(20, "single_az"))
    assert multi.monthly - single.monthly == pytest.approx(
        instance("db.t4g.micro", "multi_az") - instance("db.t4g.micro", "single_az")
        + storage(20, "multi_az") - storage(20, "single_az"))


def test_a_larger_instance_and_more_storage_are_read_from_the_template(tmp_path):
    bigger = variant(tmp_path, MESSAGING, database=McpDatabaseOptions(
        instance_type=ec2.InstanceType.of(ec2.InstanceClass.BURSTABLE4_GRAVITON, ec2.InstanceSize.SMALL),
        allocated_storage=50))
    [database] = by_kind(bigger, "RDS PostgreSQL")
    assert database.what.startswith("RDS PostgreSQL db.t4g.small, Multi-AZ, 50 GB gp3")
    assert database.monthly == pytest.approx(instance("db.t4g.small", "multi_az") + storage(50, "multi_az"))


def test_a_rest_api_endpoint_adds_waf_and_per_request_charges(tmp_path):
    public = variant(tmp_path, WEATHER, endpoint=McpEndpoint.rest_api())
    [acl] = by_kind(public, "WAF web ACL")
    rules = int(acl.what.split(" with ")[1].split()[0])
    assert acl.monthly == pytest.approx(PRICES.usd("waf_web_acl_month") + rules * PRICES.usd("waf_rule_month"))
    assert acl.per_million == pytest.approx(PRICES.usd("waf_requests_per_million"))
    [api] = by_kind(public, "API Gateway REST API")
    assert api.per_million == pytest.approx(PRICES.usd("apigateway_rest_requests_per_million"))
    assert public.unpriced == []


def test_a_tasks_call_through_a_rest_api_counts_only_the_clients_requests(tmp_path):
    reports = variant(tmp_path, REPORTS, endpoint=McpEndpoint.rest_api())
    [api] = by_kind(reports, "API Gateway REST API")
    client_requests = PRICES.assumption("task_invocations_per_call") - 1  # the worker is invoked directly
    assert api.per_million == pytest.approx(client_requests * PRICES.usd("apigateway_rest_requests_per_million"))


def test_make_cost_rewrites_only_the_marked_block(templates, tmp_path, capsys):
    page = tmp_path / "deploy.md"
    page.write_text("# Deploying\n\nbefore\n<!-- cost:start -->\nold table\n<!-- cost:end -->\nafter\n")
    assert main([str(templates), "--write", str(page)]) == 0
    text = page.read_text()
    assert text.startswith("# Deploying\n\nbefore\n<!-- cost:start -->\n") and text.endswith("<!-- cost:end -->\nafter\n")
    assert "old table" not in text and "| `McpMessagingStack` |" in text
    assert "us-east-1" in text and PRICES.compiled in text
    printed = capsys.readouterr().out
    assert "| `McpWeatherStack` |" in printed


def test_a_page_without_the_block_is_refused(tmp_path):
    page = tmp_path / "other.md"
    page.write_text("# Nothing to replace\n")
    with pytest.raises(ValueError, match="no <!-- cost:start -->"):
        write(page, "table")


def test_every_price_names_its_source():
    data = json.loads(PRICE_FILE.read_text())
    assert data["region"] == "us-east-1"
    for name, entry in data["prices"].items():
        assert entry["source"].startswith("https://aws.amazon.com/"), name


def test_the_app_keeps_published_versions_only_when_asked(synthesize, templates):
    def version_policies(directory: Path) -> set:
        """Of the weather stack's function and of the placed stack's three (the front and its tool functions)."""
        chosen = [t for t in load(directory) if t.name in ("McpWeatherStack", "McpMessagingPlacedStack")]
        versions = [r for t in chosen for r in t.of_type("AWS::Lambda::Version")]
        assert len(versions) == 4
        return {r.entry.get("DeletionPolicy") for r in versions}

    assert version_policies(templates) == {None}, "by default CloudFormation deletes the version the alias left"
    assert version_policies(synthesize(retainVersions="true")) == {"Retain"}


def test_a_development_deployment_costs_less_by_the_standby_and_gets_its_own_rows(synthesize, templates, tmp_path):
    """`make cost` with templates synthesized with `-c development=true`: the database stacks cost less by exactly
    the standby (same instance class, same proxy), and the page's development block gets their rows."""
    development = synthesize(development="true")
    usual = {t.name: stack_cost(t, PRICES) for t in load(templates)}
    cheaper = {t.name: stack_cost(t, PRICES) for t in load(development)}
    standby = (instance("db.t4g.micro", "multi_az") - instance("db.t4g.micro", "single_az")
               + storage(20, "multi_az") - storage(20, "single_az"))
    assert usual["McpMessagingStack"].monthly - cheaper["McpMessagingStack"].monthly == pytest.approx(standby)
    assert cheaper["McpWeatherStack"].monthly == pytest.approx(usual["McpWeatherStack"].monthly)

    page = tmp_path / "deploy.md"
    page.write_text("<!-- cost:start -->\n<!-- cost:end -->\n<!-- cost:dev-profile -->\nstale rows\n<!-- cost:dev-profile end -->\n")
    assert main([str(templates), "--development", str(development), "--write", str(page)]) == 0
    text = page.read_text()
    assert "stale rows" not in text and "| `McpMessagingStack` |" in text.split("<!-- cost:dev-profile -->")[1]
    assert "`McpWeatherStack`" not in text.split("<!-- cost:dev-profile -->")[1], "only stacks whose cost differs"
