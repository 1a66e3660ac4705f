"""The props of an McpDatabase: their value type (``McpDatabaseOptions``) and their validation at synth time."""

from __future__ import annotations

import re
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds

#: The default engine: a pinned minor version (a major-only version is deprecated and drifts).
DEFAULT_ENGINE_VERSION = rds.PostgresEngineVersion.VER_17_9

_MIN_STORAGE_GB, _MAX_STORAGE_GB = 20, 65536
_MAX_BACKUP_DAYS = 35
_MAX_PG_INT = 2**31 - 1
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
_BACKUP_WINDOW = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")
_MAINTENANCE_WINDOW = re.compile(
    r"^(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d-(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d$"
)


@dataclass(frozen=True, kw_only=True)
class McpDatabaseOptions:
    """The props of an ``McpDatabase``, as one value: for stacks and factories that define the database
    themselves (``McpServerStack(database=...)``). Each field is the ``McpDatabase`` prop of the same name,
    with the same default (``McpDatabase.from_options`` defines one from them)."""

    vpc: ec2.IVpc | None = None
    nat_gateways: int = 0
    database_subnets: ec2.SubnetSelection | None = None
    application_subnets: ec2.SubnetSelection | None = None
    secrets_manager_endpoint: ec2.IInterfaceVpcEndpoint | None = None
    engine_version: rds.PostgresEngineVersion = DEFAULT_ENGINE_VERSION
    instance_type: ec2.InstanceType | None = None
    development: bool = False
    multi_az: bool | None = None
    allocated_storage: int | float = 20
    max_allocated_storage: int | float = 100
    database_name: str = "mcp"
    username: str = "mcp_admin"
    backup_retention: Duration | None = None
    preferred_backup_window: str = "03:00-03:30"
    preferred_maintenance_window: str = "sun:04:00-sun:04:30"
    deletion_protection: bool | None = None
    removal_policy: RemovalPolicy | None = None
    statement_timeout_ms: int | float = 5000
    idle_in_transaction_session_timeout_ms: int | float = 60000
    secret_rotation: Duration | None = None
    performance_insights: bool = False
    log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH
    write_iops_anomaly_std_devs: int | float = 3


def validate_props(
    *,
    engine_version: rds.PostgresEngineVersion,
    nat_gateways: int,
    allocated_storage: int | float,
    max_allocated_storage: int | float,
    database_name: str,
    username: str,
    backup_retention: Duration,
    preferred_backup_window: str,
    preferred_maintenance_window: str,
    statement_timeout_ms: int | float,
    idle_in_transaction_session_timeout_ms: int | float,
    write_iops_anomaly_std_devs: int | float,
    database_subnets: ec2.SubnetSelection | None,
) -> None:
    """Reject impossible props at synth time rather than at deploy time; tokens are left to CloudFormation."""

    def known(value: object) -> bool:
        return not Token.is_unresolved(value)

    full_version = engine_version.postgres_full_version
    if known(full_version) and "." not in full_version:
        raise ValueError(f"engine_version must pin a minor version (e.g. VER_17_9), got {full_version!r}")
    if not (float(nat_gateways).is_integer() and 0 <= nat_gateways <= 2):
        raise ValueError(f"nat_gateways must be 0, 1 or 2, got {nat_gateways}")
    if known(allocated_storage) and not (
        float(allocated_storage).is_integer() and _MIN_STORAGE_GB <= allocated_storage <= _MAX_STORAGE_GB
    ):
        raise ValueError(
            f"allocated_storage must be a whole number of GiB from {_MIN_STORAGE_GB} (the gp3 minimum) "
            f"to {_MAX_STORAGE_GB}, got {allocated_storage}"
        )
    if known(max_allocated_storage):
        if not (float(max_allocated_storage).is_integer() and max_allocated_storage <= _MAX_STORAGE_GB):
            raise ValueError(f"max_allocated_storage must be a whole number of GiB up to {_MAX_STORAGE_GB}")
        if known(allocated_storage) and max_allocated_storage <= allocated_storage:
            raise ValueError(
                f"max_allocated_storage ({max_allocated_storage}) must exceed allocated_storage ({allocated_storage})"
            )
    for name, value in (("database_name", database_name), ("username", username)):
        if known(value) and not _IDENTIFIER.match(value):
            raise ValueError(f"{name} must be a letter then up to 62 letters, digits or '_', got {value!r}")
    if known(username) and username.lower() in {"rdsadmin", "rds_superuser", "rdsrepladmin", "public"}:
        raise ValueError(f"username {username!r} is reserved by RDS or PostgreSQL")
    if not backup_retention.is_unresolved():
        days = backup_retention.to_days(integral=False)
        if not (float(days).is_integer() and 1 <= days <= _MAX_BACKUP_DAYS):
            raise ValueError(f"backup_retention must be whole days from 1 to {_MAX_BACKUP_DAYS}, got {days}")
    if known(preferred_backup_window):
        if not _BACKUP_WINDOW.match(preferred_backup_window):
            raise ValueError(
                f"preferred_backup_window must be 'hh24:mi-hh24:mi' (UTC), got {preferred_backup_window!r}"
            )
        start, end = (_minutes(t) for t in preferred_backup_window.split("-"))
        if (end - start) % (24 * 60) < 30:
            raise ValueError(f"preferred_backup_window must be at least 30 minutes, got {preferred_backup_window!r}")
    if known(preferred_maintenance_window) and not _MAINTENANCE_WINDOW.match(preferred_maintenance_window):
        raise ValueError(
            "preferred_maintenance_window must be 'ddd:hh24:mi-ddd:hh24:mi' (UTC, lower-case days), "
            f"got {preferred_maintenance_window!r}"
        )
    for name, value in (
        ("statement_timeout_ms", statement_timeout_ms),
        ("idle_in_transaction_session_timeout_ms", idle_in_transaction_session_timeout_ms),
    ):
        if known(value) and not (float(value).is_integer() and 0 <= value <= _MAX_PG_INT):
            raise ValueError(
                f"{name} must be a whole number of milliseconds from 0 (off) to {_MAX_PG_INT}, got {value}"
            )
    if known(write_iops_anomaly_std_devs) and not write_iops_anomaly_std_devs > 0:
        raise ValueError(f"write_iops_anomaly_std_devs must be positive, got {write_iops_anomaly_std_devs}")
    if database_subnets is not None and database_subnets.subnet_type == ec2.SubnetType.PUBLIC:
        raise ValueError("database_subnets must not be public subnets")


def _minutes(hh_mm: str) -> int:
    hours, minutes = hh_mm.split(":")
    return int(hours) * 60 + int(minutes)
