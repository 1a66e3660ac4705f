#!/usr/bin/env python3
"""The CDK app: a stack for every server declared in mcp_servers.py (McpWeatherStack, McpMessagingStack,
McpSecureMessagingStack, McpReportsStack, McpMessagingPlacedStack), nothing else.

Context values (``cdk deploy -c name=value``; docs/deploy.md): ``googleClientId`` and ``allowedDomains`` (sign-in
with Google, see mcp_lambda_cdk.server_stack); ``retainVersions=true`` keeps every deploy's published version of
each server's function (and of its placed tools' functions), which CloudFormation otherwise deletes once the ``live`` alias has moved on, so that
``aws lambda update-alias`` can move the alias back without a deploy.
"""

import os

import aws_cdk as cdk

from mcp_lambda_cdk import McpServerStack, stack_id
from mcp_servers import SERVERS

app = cdk.App()

# Environment-agnostic unless the CLI knows an account and region (then lookups become possible).
account, region = os.getenv("CDK_DEFAULT_ACCOUNT"), os.getenv("CDK_DEFAULT_REGION")
env = cdk.Environment(account=account, region=region) if account and region else None

retain_versions = str(app.node.try_get_context("retainVersions")).lower() == "true"

for server in SERVERS:
    if server.deploy:
        stack = McpServerStack(app, stack_id(server), server=server, env=env)
        if retain_versions:
            for function in (stack.service.function, *(t.function for t in stack.service.tool_functions.values())):
                function.current_version.apply_removal_policy(cdk.RemovalPolicy.RETAIN)

app.synth()
