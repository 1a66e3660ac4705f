"""One contract between the constructs and the runtime: what a synthesized function is given, the runtime reads.

Every stack of app.py and the construct variants of the security checks are synthesized. For each function the
constructs define for the runtime (a service's, a schema migration's, an authorization server's), its environment
is taken from the
template (references rendered as placeholders) and parsed by the runtime's own configuration readers, the ones
that function runs, each on a mapping that records what it looks up. The test fails on a variable no reader
reads: a setting that does nothing (``MCP_SERVICE`` was one, set on every service and asserted by five tests).
It fails on a reader the function needs that finds nothing or refuses what it finds: a server with a database
and no database configuration, tasks without a table, sign-in without ``MCP_AUTH_CONFIG``, or a contradiction
(``MCP_DB_SECRET_ARN`` beside ``MCP_DB_IAM_AUTH=true`` was one: the secret was silently never used).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import aws_cdk as cdk
import pytest

from mcp_lambda import contract as c
from mcp_lambda.auth.config import AuthConfig
from mcp_lambda.authorization import handler as authorization_handler
from mcp_lambda.authorization import store as authorization_store
from mcp_lambda.authorization.config import AuthorizationConfig
from mcp_lambda.database import DatabaseConfig, configured
from mcp_lambda.migrations import migrations_directory
from mcp_lambda.placement import own_tools, tool_functions
from mcp_lambda.settings import RuntimeSettings
from mcp_lambda.tasks.config import TaskConfig
from mcp_lambda_cdk.authorization_server import McpAuthorizationServer
from mcp_lambda_cdk.bundling import SKIP_BUNDLING_CONTEXT
from mcp_lambda_cdk.lambda_service import McpLambdaService
from mcp_lambda_cdk.migrations import McpSchemaMigrations
from mcp_lambda_cdk.tool_function import McpToolFunction
from tests.cdk.conftest import REPO_ROOT, cdk_json_context, run_app_py
from tests.cdk.test_security_checks import variants_app

PACKAGES = REPO_ROOT / "packages"


class RecordingEnv(Mapping[str, str]):
    """An environment that remembers every variable looked up in it."""

    def __init__(self, variables: Mapping[str, str]) -> None:
        self._variables = dict(variables)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return self._variables[key]

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return key in self._variables

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("a reader that iterates the environment would read everything")

    def __len__(self) -> int:
        return len(self._variables)


def render(value: Any) -> str:
    """A template value as the function would see it: references become placeholders (``X``), joins are
    joined, so that JSON with references inside stays JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(render(part) for part in parts)
    return "X"


@dataclass
class Function:
    """One function of ours in a synthesized template, and the readers its code runs."""

    path: str
    variables: dict[str, str]
    readers: list[tuple[str, Callable[[Mapping[str, str]], Any], bool]]  # (name, reader, required)


def our_functions(app: cdk.App) -> Iterator[Function]:
    assembly = app.synth()
    for stack in (child for child in app.node.children if isinstance(child, cdk.Stack)):
        template = json.loads(Path(assembly.directory, assembly.get_stack_by_name(stack.stack_name).template_file)
                              .read_text())
        for construct in stack.node.find_all():
            if isinstance(construct, McpLambdaService):
                function, readers = construct.function, service_readers(construct)
            elif isinstance(construct, McpToolFunction):
                function, readers = construct.function, tool_function_readers(construct)
            elif isinstance(construct, McpSchemaMigrations):
                function, readers = construct.function, migration_readers()
            elif isinstance(construct, McpAuthorizationServer):
                function, readers = construct.function, authorization_readers(template)
            else:
                continue
            resource = template["Resources"][stack.get_logical_id(function.node.default_child)]
            variables = resource["Properties"].get("Environment", {}).get("Variables", {})
            yield Function(construct.node.path, {k: render(v) for k, v in variables.items()}, readers)


def powertools(env: Mapping[str, str]) -> None:
    """Powertools reads these itself (the logger's service name, the metrics' namespace)."""
    for name in c.POWERTOOLS_VARIABLES:
        env.get(name)


def opentelemetry(env: Mapping[str, str]) -> None:
    """OpenTelemetry's exporter reads these itself (where the collector extension listens)."""
    for name in c.OTEL_VARIABLES:
        env.get(name)


def required_auth(env: Mapping[str, str]) -> AuthConfig:
    config = AuthConfig.from_env(env)
    assert config is not None, f"{c.MCP_AUTH_CONFIG} is not set"
    return config


def required_tasks(env: Mapping[str, str]) -> TaskConfig:
    config = TaskConfig.from_env(env)
    assert config.table, f"{c.MCP_TASKS_TABLE} is not set: tasks would be kept in one environment's memory"
    return config


def required_tool_functions(service: McpLambdaService) -> Callable[[Mapping[str, str]], Any]:
    """The front's placed tools: each of its server's, and no other, sent to a function."""

    def read(env: Mapping[str, str]) -> None:
        placed = tool_functions(env)
        declared = {tool for placement in service.server.placements for tool in placement.tools}
        assert set(placed) == declared and all(placed.values()), f"{c.MCP_TOOL_FUNCTIONS}: {placed}, not {declared}"

    return read


def tool_function_readers(tool: McpToolFunction) -> list[tuple[str, Callable[[Mapping[str, str]], Any], bool]]:
    """What a tool function's handler reads: the front's handler, with its own tools (``MCP_TOOL_FUNCTION_TOOLS``)
    and no sign-in (the front checks the caller and forwards the claims); the task settings when it runs the
    tasks of its task tools (``ToolPlacement(tasks=True)``: the front creates them, this function runs them)."""

    def own(env: Mapping[str, str]) -> None:
        assert own_tools(env) == frozenset(tool.placement.tools), f"{c.MCP_TOOL_FUNCTION_TOOLS}: {own_tools(env)}"

    def database(env: Mapping[str, str]) -> None:
        """Its database, or the declaration that it has none (``ToolPlacement(database=False)``)."""
        config = configured(env)
        assert (config is not None) == (tool.database is not None), f"database {config} for {tool.placement}"

    return [
        ("RuntimeSettings", RuntimeSettings.from_env, True),
        ("Powertools", powertools, True),
        ("its tools", own, True),
        ("its database", database, tool.server.database),
        ("TaskConfig", required_tasks, tool.placement.tasks),
        ("OpenTelemetry", opentelemetry, tool.tracing is not None),
    ]


def service_readers(service: McpLambdaService) -> list[tuple[str, Callable[[Mapping[str, str]], Any], bool]]:
    """What a server's handler reads: its settings and Powertools always, sign-in when it has an access
    policy, the database when its lifespan opens one, tasks when it has task tools, OpenTelemetry's exporter when
    it is traced, where its placed tools run when it has any."""
    server = service.server
    return [
        ("tool functions", required_tool_functions(service), bool(service.tool_functions)),
        ("RuntimeSettings", RuntimeSettings.from_env, True),
        ("Powertools", powertools, True),
        ("AuthConfig", required_auth if server.sign_in else AuthConfig.from_env, server.sign_in),
        ("DatabaseConfig", DatabaseConfig.from_env, server.database or service.database is not None),
        ("TaskConfig", required_tasks, service.tasks is not None),
        ("OpenTelemetry", opentelemetry, service.tracing is not None),
    ]


def migration_readers() -> list[tuple[str, Callable[[Mapping[str, str]], Any], bool]]:
    return [
        ("DatabaseConfig", DatabaseConfig.from_env, True),
        ("migrations directory", migrations_directory, True),
        ("Powertools", powertools, True),
    ]


def authorization_readers(template: dict[str, Any]) -> list[tuple[str, Callable[[Mapping[str, str]], Any], bool]]:
    """What the authorization server's handler reads at its first request (``service_from_environment``): the
    configuration from the SSM parameter the environment names (which must be one of the template's), the
    table, the signing key and the upstream secret (which must be the template's, or a given one's ARN)."""
    resources = template["Resources"].values()
    parameters = {r["Properties"]["Name"]: render(r["Properties"]["Value"])
                  for r in resources if r["Type"] == "AWS::SSM::Parameter"}
    secrets = {r["Properties"].get("Name") for r in resources if r["Type"] == "AWS::SecretsManager::Secret"}

    def configuration(env: Mapping[str, str]) -> AuthorizationConfig:
        ssm = SimpleNamespace(get_parameter=lambda Name: {"Parameter": {"Value": parameters[Name]}})
        return AuthorizationConfig.from_environment(env, ssm=ssm)

    def table(env: Mapping[str, str]) -> None:
        with mock.patch.object(authorization_store, "os", SimpleNamespace(environ=env)):
            authorization_store.store_from_environment()

    def signing_key(env: Mapping[str, str]) -> None:
        assert env.get(c.MCP_AS_KMS_KEY_ID), f"{c.MCP_AS_KMS_KEY_ID} is not set"

    def upstream_secret(env: Mapping[str, str]) -> None:
        asked: list[str] = []

        def client(service: str) -> Any:
            assert service == "secretsmanager"
            return SimpleNamespace(get_secret_value=lambda SecretId: asked.append(SecretId) or {"SecretString": "s"})

        with mock.patch("boto3.client", client):
            assert authorization_handler._upstream_secret(env) == "s"
        # A created secret by its literal name; a given one by its ARN (a reference, or written out)
        assert asked and (asked[0] in secrets or asked[0] == "X" or asked[0].startswith("arn:")), asked

    return [
        ("AuthorizationConfig", configuration, True),
        ("DynamoStore", table, True),
        ("KmsSigner", signing_key, True),
        ("upstream secret", upstream_secret, True),
        ("Powertools", powertools, True),
    ]


@pytest.fixture(scope="module")
def functions(tmp_path_factory: pytest.TempPathFactory) -> list[Function]:
    context = {**cdk_json_context(), SKIP_BUNDLING_CONTEXT: True}
    app = run_app_py(tmp_path_factory.mktemp("contract.out"), context)
    found = [*our_functions(app), *our_functions(variants_app(tmp_path_factory.mktemp("variants.out")))]
    assert len(found) >= 10, [f.path for f in found]
    return found


def test_every_variable_a_function_is_given_is_read_and_every_reader_it_needs_finds_its_own(functions):
    problems = []
    for function in functions:
        env = RecordingEnv(function.variables)
        for name, reader, required in function.readers:
            if not required:
                continue
            try:
                reader(env)
            except (AssertionError, ValueError) as exc:
                problems.append(f"{function.path}: {name}: {exc}")
        unread = sorted(set(function.variables) - env.read)
        if unread:
            problems.append(f"{function.path}: set but read by nothing: {', '.join(unread)}")
    assert problems == []


def test_the_contract_catches_a_dead_variable_and_a_contradiction():
    """The check itself can fail: a variable nothing reads, and the secret beside IAM authentication."""
    env = RecordingEnv({c.POWERTOOLS_SERVICE_NAME: "x", "MCP_SERVICE": "x"})
    RuntimeSettings.from_env(env)
    powertools(env)
    assert set(env._variables) - env.read == {"MCP_SERVICE"}
    with pytest.raises(ValueError, match="two ways to sign in"):
        DatabaseConfig.from_env(RecordingEnv({c.MCP_DB_HOST: "proxy", c.MCP_DB_IAM_AUTH: "true",
                                              c.MCP_DB_SECRET_ARN: "arn:aws:secretsmanager:x"}))


def test_no_construct_spells_a_runtime_variable_by_hand():
    """The constructs take every variable name from mcp_lambda.contract: no ``"MCP_..."`` literal in them."""
    literal = re.compile(r"""["'](MCP_[A-Z_]+|POWERTOOLS_[A-Z_]+|DATABASE_URL)["']""")
    found = [f"{path.name}:{number}: {line.strip()}"
             for path in sorted((PACKAGES / "mcp-lambda-cdk" / "src" / "mcp_lambda_cdk").glob("*.py"))
             for number, line in enumerate(path.read_text().splitlines(), 1) if literal.search(line)]
    assert found == []
