"""Security-group egress: each group sends only what its owner needs, never everything everywhere.

Per stack of the app, every security group's outbound rules, exactly: the services to the proxy on 5432 and
to Secrets Manager's endpoint on 443 (their requestState key), plus HTTPS anywhere where they need the
internet or a gateway endpoint (sign-in's issuer keys; tasks' DynamoDB); the migration function to the proxy
and Secrets Manager (the users' passwords); the rotation to the instance and Secrets Manager; the proxy to the
instance only; the instance and the interface endpoints nothing at all.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template

from mcp_lambda_cdk import McpDatabase, McpServerStack
from mcp_lambda_cdk.lambda_service import McpLambdaService
from mcp_servers import MESSAGING, REPORTS, SECURE_MESSAGING
from tests.cdk.conftest import spec

ANYWHERE = "0.0.0.0/0"
DB_PORT = "instance port"  # the instance's port is a reference to its endpoint's port
NOTHING_PLACEHOLDER = "255.255.255.255/32"  # CDK's "Disallow all traffic" rule of a group with no egress


def egress(template: Template) -> dict[str, set[tuple[Any, Any, str]]]:
    """Every security group's outbound rules: (protocol, port, peer), the peer a group's logical id or a CIDR."""
    rules: dict[str, set[tuple[Any, Any, str]]] = {}
    for group_id, group in template.find_resources("AWS::EC2::SecurityGroup").items():
        rules[group_id] = {
            (rule["IpProtocol"], rule.get("FromPort"), rule["CidrIp"])
            for rule in group["Properties"].get("SecurityGroupEgress", [])
            if rule.get("CidrIp") != NOTHING_PLACEHOLDER
        }
    for rule in template.find_resources("AWS::EC2::SecurityGroupEgress").values():
        properties = rule["Properties"]
        port = properties["FromPort"] if isinstance(properties["FromPort"], int) else DB_PORT
        assert properties["FromPort"] == properties["ToPort"]
        peer = properties.get("DestinationSecurityGroupId", {}).get("Fn::GetAtt", [properties.get("CidrIp")])[0]
        rules[properties["GroupId"]["Fn::GetAtt"][0]].add((properties["IpProtocol"], port, peer))
    return rules


def group(stack: cdk.Stack, security_group: Any) -> str:
    return stack.get_logical_id(security_group.node.default_child)


@pytest.fixture(scope="module", params=[MESSAGING, SECURE_MESSAGING, REPORTS], ids=lambda s: s.name)
def stack(request, make_app) -> McpServerStack:
    return McpServerStack(make_app(), "Stack", server=request.param)


def test_every_group_sends_exactly_what_its_owner_needs(stack: McpServerStack) -> None:
    db, service = stack.database, stack.service
    assert db is not None
    proxy, instance, rotation = group(stack, db.proxy_security_group), group(stack, db.security_group), group(
        stack, db.rotation_security_group)
    secrets_manager = group(stack, db.secrets_manager_endpoint.connections.security_groups[0])
    migrations = group(stack, db.node.find_child("Migrations-messaging").function.connections.security_groups[0])
    function = group(stack, service.connections.security_groups[0])
    expected = {
        instance: set(),
        proxy: {("tcp", DB_PORT, instance)},
        rotation: {("tcp", DB_PORT, instance), ("tcp", 443, secrets_manager)},
        secrets_manager: set(),
        migrations: {("tcp", 5432, proxy), ("tcp", 443, secrets_manager)},
        function: {("tcp", 5432, proxy), ("tcp", 443, secrets_manager)},
    }
    if stack.server.sign_in:
        expected[function].add(("tcp", 443, ANYWHERE))  # the issuers' signing keys, through the NAT gateway
    if stack.server.tasks:
        lambda_endpoint = group(stack, db.task_endpoints[1].connections.security_groups[0])
        expected[lambda_endpoint] = set()
        expected[function] |= {("tcp", 443, lambda_endpoint), ("tcp", 443, ANYWHERE)}  # and DynamoDB's gateway
    assert egress(Template.from_stack(stack)) == expected


def test_no_group_of_any_stack_sends_everything_everywhere(stack: McpServerStack) -> None:
    for rules in egress(Template.from_stack(stack)).values():
        assert not [rule for rule in rules if rule[0] == "-1"], rules


def test_in_a_given_vpc_without_endpoints_secrets_manager_is_reached_over_https(make_app) -> None:
    stack = cdk.Stack(make_app(), "Given")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=1, subnet_configuration=[
        ec2.SubnetConfiguration(name=name, subnet_type=subnet_type) for name, subnet_type in (
            ("Public", ec2.SubnetType.PUBLIC), ("Private", ec2.SubnetType.PRIVATE_WITH_EGRESS),
            ("Isolated", ec2.SubnetType.PRIVATE_ISOLATED))])
    db = McpDatabase(stack, "Database", vpc=vpc)
    service = McpLambdaService(stack, "Messaging", server=MESSAGING, database=db,
                               code=lambda_.Code.from_inline("x = 1"))
    rules = egress(Template.from_stack(stack))
    migrations = db.node.find_child("Migrations-messaging").function
    for client in (db.rotation_security_group, migrations.connections.security_groups[0],
                   service.connections.security_groups[0]):
        assert ("tcp", 443, ANYWHERE) in rules[group(stack, client)]
    assert rules[group(stack, db.rotation_security_group)] == {("tcp", DB_PORT, group(stack, db.security_group)),
                                                               ("tcp", 443, ANYWHERE)}


def test_a_service_may_open_its_egress_or_bring_its_own_groups(make_app) -> None:
    stack = cdk.Stack(make_app(), "Choices")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2)
    code = lambda_.Code.from_inline("x = 1")
    plain = McpLambdaService(stack, "Plain", server=spec("weather"), vpc=vpc, code=code)
    opened = McpLambdaService(stack, "Opened", server=spec("weather"), vpc=vpc, code=code, allow_all_outbound=True)
    rules = egress(Template.from_stack(stack))
    # Without a database, the only thing the service is wired to reach is its requestState key.
    assert rules[group(stack, plain.connections.security_groups[0])] == {("tcp", 443, ANYWHERE)}
    assert rules[group(stack, opened.connections.security_groups[0])] == {("-1", None, ANYWHERE)}
    own = ec2.SecurityGroup(stack, "Own", vpc=vpc, allow_all_outbound=False)
    with pytest.raises(ValueError, match="given security_groups"):
        McpLambdaService(stack, "Both", server=spec("weather"), vpc=vpc, code=code, security_groups=[own],
                         allow_all_outbound=True)
