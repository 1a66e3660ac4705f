"""Small policy helpers the constructs share: acknowledging a validation finding with its reason, the two
grants every function role of ours may need (VPC networking, active tracing) with their acknowledgments, and
letting CloudWatch Logs use a KMS key (so log groups can be encrypted with it)."""

from __future__ import annotations

from aws_cdk import Acknowledgment, ArnFormat, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct


def acknowledge(construct: Construct, rule: str, reason: str) -> None:
    """Acknowledge a policy-validation finding (cdk-nag, CloudFormation validation) on ``construct`` and its
    children, with the reason reviewers read in the validation report."""
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))


def allow_vpc_networking(role: iam.Role) -> None:
    """Let a function with ``role`` run in a VPC: the elastic network interfaces Lambda manages need
    ec2:*NetworkInterface* on "*" (they do not exist before), the exact set AWS keeps in this managed policy."""
    role.add_managed_policy(iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AWSLambdaVPCAccessExecutionRole"))
    acknowledge(
        role,
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]",
        "Lambda's VPC networking needs ec2 network-interface actions on '*' (the interfaces are created "
        "by Lambda); the AWS managed policy is that minimal set, kept current by AWS",
    )


def acknowledge_active_tracing(role: iam.Role) -> None:
    """Acknowledge the grant Lambda's active tracing adds to ``role``, whose actions take no resource."""
    acknowledge(
        role,
        "AwsSolutions-IAM5[Resource::*]",
        "Lambda's active tracing grants xray:PutTraceSegments and xray:PutTelemetryRecords, which take no "
        "resource-level permissions (X-Ray's service authorization reference): '*' is their only resource",
    )


def allow_cloudwatch_logs(scope: Construct, key: kms.IKey) -> None:
    """Let CloudWatch Logs use ``key`` for this account's log groups in this region (in its key policy).

    A ``grant`` with conditions rather than a hand-written statement: the principal is the regional Logs
    service, limited by the encryption context to log groups of this account and region. An imported key's
    policy cannot be changed here; it must allow the same already.
    """
    stack = Stack.of(scope)
    log_groups = stack.format_arn(
        service="logs", resource="log-group", resource_name="*", arn_format=ArnFormat.COLON_RESOURCE_NAME
    )
    principal = iam.PrincipalWithConditions(
        iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com"),
        {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}},
    )
    key.grant(principal, "kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*")
