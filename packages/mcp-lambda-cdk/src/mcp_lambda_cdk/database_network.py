"""The network of an McpDatabase: where the database, its proxy and its clients run, and their way to AWS.

Why this network: two private tiers in two Availability Zones. The database and the proxy live in
*isolated* subnets (no route out of the VPC at all). The functions live in an *application* tier that is
isolated too unless ``nat_gateways`` is set: a function that talks only to the proxy needs no egress, as
the IAM token is signed locally and Lambda ships logs outside the function's network interface (so no
CloudWatch Logs endpoint is needed either). The only AWS API called from inside the VPC is Secrets
Manager (by the password rotation, the migration function for the servers' own users' passwords, and the
services for their requestState key), through an interface endpoint. Two endpoints (one per AZ) cost less
than one NAT gateway and keep the database tier without any path to the internet. A service that needs the
internet (an identity provider's JWKS, say) sets ``nat_gateways``; the application tier then becomes
private-with-egress. Services with tasks in an isolated application tier get the two endpoints tasks need
(``DatabaseNetwork.task_endpoints_for``), traced services the X-Ray endpoint (``xray_endpoint_for``). No security group here sends more than it must: the endpoints'
groups send nothing at all (an endpoint only answers).

The resources are defined in the database's own scope (not a construct of their own), so their logical ids
are those of the database's first releases.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from mcp_lambda_cdk.policy import acknowledge

#: The subnet groups of a VPC created for a database.
APPLICATION_SUBNETS = "Application"
DATABASE_SUBNETS = "Database"


@dataclass
class DatabaseNetwork:
    """Where a database and its clients run.

    :param vpc: the VPC.
    :param database_subnets: the isolated tier of the instance and the proxy.
    :param application_subnets: where the functions that use the database run.
    :param secrets_manager_endpoint: the rotation function's way to Secrets Manager, or None (a given VPC).
    :param application_egress: whether the application tier routes to the internet.
    """

    vpc: ec2.IVpc
    database_subnets: ec2.SubnetSelection
    application_subnets: ec2.SubnetSelection
    secrets_manager_endpoint: ec2.IInterfaceVpcEndpoint | None
    application_egress: bool
    task_endpoints: tuple[ec2.GatewayVpcEndpoint, ec2.InterfaceVpcEndpoint] | None = field(default=None)
    xray_endpoint: ec2.InterfaceVpcEndpoint | None = field(default=None)
    lambda_endpoint: ec2.InterfaceVpcEndpoint | None = field(default=None)

    def xray_endpoint_for(self, scope: Construct, service: ec2.IConnectable) -> ec2.InterfaceVpcEndpoint:
        """The X-Ray interface endpoint a traced service needs in an application tier without egress (its
        collector extension sends the traces), defined once (in ``scope``) and opened to ``service``."""
        if self.xray_endpoint is None:
            self.xray_endpoint = self._closed_endpoint(scope, "XRay", ec2.InterfaceVpcEndpointAwsService.XRAY, "X-Ray")
        self.xray_endpoint.connections.allow_default_port_from(service, "Traces sent by the function's collector")
        return self.xray_endpoint

    def task_endpoints_for(
        self, scope: Construct, service: ec2.IConnectable
    ) -> tuple[ec2.GatewayVpcEndpoint, ec2.InterfaceVpcEndpoint]:
        """The VPC endpoints a service with tasks needs in an application tier without egress, defined once
        (in ``scope``) and opened to ``service``: DynamoDB (task state; a gateway endpoint, free, a route in the
        application subnets' route tables) and Lambda (the asynchronous invocation that runs a task; an
        interface endpoint reachable only from the services opened to it)."""
        if self.task_endpoints is None:
            dynamodb = ec2.GatewayVpcEndpoint(
                scope,
                "DynamoDbEndpoint",
                vpc=self.vpc,
                service=ec2.GatewayVpcEndpointAwsService.DYNAMODB,
                subnets=[self.application_subnets],
            )
            self.task_endpoints = (dynamodb, self.lambda_endpoint_for(scope, service, "Task workers started by the function"))
        else:
            self.task_endpoints[1].connections.allow_default_port_from(service, "Task workers started by the function")
        return self.task_endpoints

    def lambda_endpoint_for(self, scope: Construct, service: ec2.IConnectable, reason: str) -> ec2.InterfaceVpcEndpoint:
        """The Lambda interface endpoint (tasks' workers, placed tools' functions) in an application tier without
        egress, defined once (in ``scope``) and opened to ``service`` for ``reason``."""
        if self.lambda_endpoint is None:
            self.lambda_endpoint = self._closed_endpoint(scope, "Lambda", ec2.InterfaceVpcEndpointAwsService.LAMBDA_,
                                                         "Lambda")
        self.lambda_endpoint.connections.allow_default_port_from(service, reason)
        return self.lambda_endpoint

    def _closed_endpoint(self, scope: Construct, name: str, service: ec2.InterfaceVpcEndpointAwsService,
                         what: str) -> ec2.InterfaceVpcEndpoint:
        """An interface endpoint ``<name>Endpoint`` in the application subnets, private DNS on, open to no one
        (``open=False``: each caller opens it to the services that use it) and sending nothing."""
        group = _endpoint_security_group(scope, f"{name}EndpointSecurityGroup", self.vpc, what)
        return ec2.InterfaceVpcEndpoint(scope, f"{name}Endpoint", vpc=self.vpc, service=service,
                                        subnets=self.application_subnets, private_dns_enabled=True, open=False,
                                        security_groups=[group])


def define_network(
    scope: Construct,
    *,
    vpc: ec2.IVpc | None,
    nat_gateways: int,
    database_subnets: ec2.SubnetSelection | None,
    application_subnets: ec2.SubnetSelection | None,
    secrets_manager_endpoint: ec2.IInterfaceVpcEndpoint | None,
    log_retention: logs.RetentionDays,
    encryption_key: kms.IKey,
) -> DatabaseNetwork:
    """The given VPC's tiers, or a new VPC (in ``scope``) with flow logs and the Secrets Manager endpoint."""
    if vpc is not None:
        return DatabaseNetwork(
            vpc,
            database_subnets or ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            application_subnets or ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            secrets_manager_endpoint,
            application_egress=True,  # a given VPC's application subnets default to its private ones with egress
        )
    egress = nat_gateways > 0
    tiers = [
        ec2.SubnetConfiguration(
            name=APPLICATION_SUBNETS,
            subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS if egress else ec2.SubnetType.PRIVATE_ISOLATED,
            cidr_mask=22,
        ),
        ec2.SubnetConfiguration(name=DATABASE_SUBNETS, subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24),
    ]
    if egress:
        tiers.insert(0, ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24))
    created = ec2.Vpc(
        scope,
        "Vpc",
        max_azs=2,
        nat_gateways=nat_gateways,
        subnet_configuration=tiers,
        restrict_default_security_group=True,
    )
    flow_log_group = logs.LogGroup(
        scope,
        "FlowLogGroup",
        retention=log_retention,
        encryption_key=encryption_key,
        removal_policy=RemovalPolicy.DESTROY,
    )
    created.add_flow_log(
        "FlowLog",
        destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group),
        traffic_type=ec2.FlowLogTrafficType.ALL,
    )
    application = application_subnets or ec2.SubnetSelection(subnet_group_name=APPLICATION_SUBNETS)
    endpoint = secrets_manager_endpoint
    if endpoint is None:
        # Open to the VPC's CIDR on 443 only; private DNS makes the SDK's default endpoint resolve to it.
        group = _endpoint_security_group(scope, "SecretsManagerEndpointSecurityGroup", created, "Secrets Manager")
        endpoint = created.add_interface_endpoint(
            "SecretsManagerEndpoint",
            service=ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
            subnets=application,
            private_dns_enabled=True,
            security_groups=[group],
        )
        acknowledge(
            group,
            "AwsSolutions-EC23",
            "inbound 443 from the VPC's own CIDR only (a token cdk-nag cannot resolve, hence its rule error)",
        )
    return DatabaseNetwork(
        created,
        database_subnets or ec2.SubnetSelection(subnet_group_name=DATABASE_SUBNETS),
        application,
        endpoint,
        application_egress=egress,
    )


def _endpoint_security_group(scope: Construct, id: str, vpc: ec2.IVpc, service: str) -> ec2.SecurityGroup:
    """An interface endpoint's group: inbound as the endpoint opens it, nothing outbound (an endpoint answers
    and never calls; CDK's default group would allow everything out)."""
    return ec2.SecurityGroup(scope, id, vpc=vpc, description=f"{service} interface endpoint",
                             allow_all_outbound=False)
