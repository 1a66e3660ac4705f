#!/usr/bin/env python3
"""The CDK app: a stack for every server declared in mcp_servers.py (McpWeatherStack, McpMessagingStack,
McpSecureMessagingStack, McpReportsStack), nothing else."""

import os

import aws_cdk as cdk

from mcp_lambda_cdk import McpServerStack, stack_id
from mcp_servers import SERVERS

app = cdk.App()

# Environment-agnostic unless the CLI knows an account and region (then lookups become possible).
account, region = os.getenv("CDK_DEFAULT_ACCOUNT"), os.getenv("CDK_DEFAULT_REGION")
env = cdk.Environment(account=account, region=region) if account and region else None

for server in SERVERS:
    if server.deploy:
        McpServerStack(app, stack_id(server), server=server, env=env)

app.synth()
