#!/usr/bin/env python3
"""The CDK app: instantiates the stacks, nothing else."""

import os

import aws_cdk as cdk

from stacks.messaging_stack import McpMessagingStack
from stacks.reports_stack import McpReportsStack
from stacks.secure_messaging_stack import McpSecureMessagingStack
from stacks.weather_stack import McpWeatherStack

app = cdk.App()

# Environment-agnostic unless the CLI knows an account and region (then lookups become possible).
account, region = os.getenv("CDK_DEFAULT_ACCOUNT"), os.getenv("CDK_DEFAULT_REGION")
env = cdk.Environment(account=account, region=region) if account and region else None

McpWeatherStack(app, "McpWeatherStack", env=env)
McpMessagingStack(app, "McpMessagingStack", env=env)
McpSecureMessagingStack(app, "McpSecureMessagingStack", env=env)
McpReportsStack(app, "McpReportsStack", env=env)

app.synth()
