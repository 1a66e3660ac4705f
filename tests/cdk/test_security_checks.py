"""The tools users trust, on every stack of app.py and on the constructs' other shapes: cdk-nag 3
(AwsSolutions), cfn-lint and checkov.

Given: the app exactly as ``app.py`` builds it (run here with the project's cdk.json context, bundling
skipped), plus a variants app covering what the default stacks do not use (REST API endpoint with WAF,
IAM authorization, SnapStart, auto-scaled provisioned concurrency, an alarm topic, tasks behind a REST API, an
authorization server in front of an OpenID Connect provider other than Cognito, tracing with and without a database
VPC, tools placed on functions of their own with and without a database).
Then:
- cdk-nag: no unacknowledged finding; every acknowledgment (``Validations.of(...).acknowledge``, made in
  the constructs, next to what they acknowledge) carries a reason.
- cfn-lint: no error and no warning, with the checks ignored in ``.cfnlintrc`` (each with its reason).
- checkov: every failed check is argued in docs/security.md, and every check argued there still fails
  somewhere (so the document stays true). checkov runs from its own venv (``.tools/checkov``), created
  on first use from ``tests/cdk/requirements-checkov.txt``: its pins conflict with requirements.txt.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from cdk_nag import AwsSolutionsChecks

from mcp_lambda_cdk import McpAuthorizationServer, McpServerStack, McpTracing
from mcp_lambda_cdk.bundling import SKIP_BUNDLING_CONTEXT
from mcp_lambda_cdk.lambda_service import McpEndpoint, McpLambdaService
from mcp_lambda_cdk.tasks import TasksOptions
from mcp_lambda.spec import ToolPlacement
from mcp_servers import MESSAGING, REPORTS, SECURE_MESSAGING, WEATHER
from tests.cdk.conftest import REPO_ROOT, cdk_json_context, run_app_py, spec

CHECKOV_VENV = REPO_ROOT / ".tools" / "checkov"
CHECKOV_REQUIREMENTS = Path(__file__).with_name("requirements-checkov.txt")
SECURITY_DOC = REPO_ROOT / "docs" / "security.md"
MIN_REASON_WORDS = 6


@dataclass
class Synthesized:
    stack: cdk.Stack
    template: Path


def variants_app(outdir: Path) -> cdk.App:
    """Shapes of the constructs the default stacks do not use."""
    app = cdk.App(outdir=str(outdir), context={**cdk_json_context(), SKIP_BUNDLING_CONTEXT: True})
    McpServerStack(app, "VariantWeatherRestApi", server=WEATHER, endpoint=McpEndpoint.rest_api())
    McpServerStack(
        app,
        "VariantMessagingRestApi",
        server=MESSAGING,
        endpoint=McpEndpoint.rest_api(authorization_type=apigw.AuthorizationType.IAM, cloud_watch_role=False),
    )
    stack = cdk.Stack(app, "VariantServices")
    topic_key = kms.Key(stack, "AlarmKey", enable_key_rotation=True)
    topic = sns.Topic(stack, "Alarms", master_key=topic_key, enforce_ssl=True)
    McpLambdaService(stack, "SnapStart", server=spec("weather"), snap_start=True, alarm_topic=topic)
    McpLambdaService(
        stack,
        "Provisioned",
        server=spec("weather"),
        provisioned_concurrency=2,
        max_provisioned_concurrency=10,
        reserved_concurrent_executions=20,
        alarm_topic=topic,
        request_state_secret=False,
    )
    McpLambdaService(
        stack, "TasksRestApi", server=spec("reports"), tasks=TasksOptions(), alarm_topic=topic,
        endpoint=McpEndpoint.rest_api(cloud_watch_role=False),
    )
    McpLambdaService(stack, "Traced", server=spec("weather"), tracing=McpTracing.adot(), alarm_topic=topic)
    # A placed tool outside any VPC, traced, restored from SnapStart
    McpLambdaService(stack, "Placed", server=spec("weather", placements=(ToolPlacement("get_weather", snap_start=True),)),
                     tracing=McpTracing.adot(), alarm_topic=topic)
    # Least privilege per tool, each tool function with a database user of its own: app.py's McpMessagingPlacedStack
    # A tool of a database server placed without the database: outside its VPC, next to one inside
    McpServerStack(app, "VariantPlacedOutsideVpc", server=dataclasses.replace(SECURE_MESSAGING, placements=(
        ToolPlacement("whoami", database=False), ToolPlacement("get_messages"))))
    # A placed task tool: its function runs the tasks the front makes (the task table, the on-failure queue), in a
    # database's application tier without egress
    McpServerStack(app, "VariantPlacedReports", server=dataclasses.replace(REPORTS, placements=(
        ToolPlacement("messages_report", tasks=True, grants={"messages": ("SELECT",)}),)))
    # Traces from a database's application tier without egress: through an X-Ray interface endpoint
    McpServerStack(app, "VariantTracedMessaging", server=MESSAGING, tracing=McpTracing.adot())
    # An authorization server in front of Google (the client registered by hand, its secret given)
    oidc = cdk.Stack(app, "VariantAuthorizationServer")
    authorization = McpAuthorizationServer(
        oidc, "AuthorizationServer", upstream_issuer="https://accounts.google.com",
        upstream_client_id="1234-abc.apps.googleusercontent.com", allowed_domains=["company.com"],
        upstream_client_secret=secretsmanager.Secret.from_secret_complete_arn(
            oidc, "GoogleClientSecret", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mcp/google-AbCdEf"),
    )
    McpLambdaService(oidc, "Protected", server=spec("weather", sign_in=True, scopes=("weather:read",)),
                     auth=authorization)
    return app


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> list[Synthesized]:
    """Every stack of app.py, then the variants, with their synthesized templates."""
    outdir = tmp_path_factory.mktemp("app.out")
    context = {**cdk_json_context(), SKIP_BUNDLING_CONTEXT: True}
    app = run_app_py(outdir, context)
    apps = [app, variants_app(tmp_path_factory.mktemp("variants.out"))]
    result = []
    for each in apps:
        assembly = each.synth()
        for child in each.node.children:
            if isinstance(child, cdk.Stack):
                artifact = assembly.get_stack_by_name(child.stack_name)
                result.append(Synthesized(child, Path(assembly.directory) / artifact.template_file))
    assert {"McpWeatherStack", "McpMessagingStack", "McpReportsStack", "McpMessagingPlacedStack"} <= {
        s.stack.stack_name for s in result}
    return result


# -- cdk-nag --------------------------------------------------------------------------------------------


def test_cdk_nag_finds_nothing_unacknowledged(synthesized: list[Synthesized]) -> None:
    findings = []
    for each in synthesized:
        report = AwsSolutionsChecks().validate_scope(each.stack)
        for violation in report.violations:
            for resource in violation.violating_resources:
                finding = f"{each.stack.stack_name}: {violation.rule_name} at {resource.construct_path}"
                findings.append(f"{finding}: {violation.description}")
    assert findings == [], "cdk-nag findings (fix them, or acknowledge them with a reason):\n" + "\n".join(findings)


def test_every_acknowledgment_has_a_reason(synthesized: list[Synthesized]) -> None:
    acknowledged = {}
    for each in synthesized:
        for construct in each.stack.node.find_all():
            for entry in construct.node.metadata:
                if entry.type == "aws:cdk:acknowledged-rules":
                    for rule, reason in entry.data.items():
                        acknowledged[f"{construct.node.path} {rule}"] = reason
    assert acknowledged, "expected the constructs' acknowledgments"
    short = {where: reason for where, reason in acknowledged.items() if len(str(reason).split()) < MIN_REASON_WORDS}
    assert short == {}, "acknowledgments need a reason a reviewer can check"


# -- cfn-lint -------------------------------------------------------------------------------------------


def test_cfn_lint_reports_no_errors_or_warnings(synthesized: list[Synthesized]) -> None:
    templates = [str(s.template) for s in synthesized]
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), "--config-file", str(REPO_ROOT / ".cfnlintrc"), "--format", "parseable",
         "--", *templates],
        capture_output=True,
        text=True,
        check=False,
    )
    # 0: nothing; 2: errors, 4: warnings, 8: informational (bit flags).
    assert result.returncode in (0, 8), f"cfn-lint:\n{result.stdout}{result.stderr}"


# -- checkov --------------------------------------------------------------------------------------------


def checkov_executable() -> Path:
    """checkov in its own venv, (re)installed when its requirements change."""
    executable = CHECKOV_VENV / "bin" / "checkov"
    stamp = CHECKOV_VENV / ".requirements.sha256"
    wanted = hashlib.sha256(CHECKOV_REQUIREMENTS.read_bytes()).hexdigest()
    if executable.exists() and stamp.exists() and stamp.read_text() == wanted:
        return executable
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(CHECKOV_VENV)], check=True)
    subprocess.run(
        [str(CHECKOV_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-r", str(CHECKOV_REQUIREMENTS)],
        check=True,
    )
    stamp.write_text(wanted)
    return executable


def argued_checks() -> set[str]:
    """The checkov check ids docs/security.md argues (its checkov table: ``| CKV_... |`` rows)."""
    return set(re.findall(r"^\|\s*`?(CKV2?_AWS_\d+)`?\s*\|", SECURITY_DOC.read_text(), flags=re.MULTILINE))


@pytest.fixture(scope="module")
def checkov_failures(synthesized: list[Synthesized], tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """Failed check id -> '<stack>/<resource>' for every template."""
    executable = checkov_executable()
    directory = tmp_path_factory.mktemp("templates")
    for each in synthesized:
        (directory / f"{each.stack.stack_name}.template.json").write_bytes(each.template.read_bytes())
    result = subprocess.run(
        [str(executable), "--directory", str(directory), "--framework", "cloudformation", "--output", "json",
         "--quiet", "--compact", "--skip-download"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
    )
    assert result.returncode in (0, 1), f"checkov did not run:\n{result.stderr[-3000:]}"
    reports = json.loads(result.stdout)
    failures: dict[str, set[str]] = {}
    for report in reports if isinstance(reports, list) else [reports]:
        for failed in report.get("results", {}).get("failed_checks", []):
            if _about_checkovs_own_file_key(failed):
                continue
            where = f"{Path(failed['file_path']).name.removesuffix('.template.json')}/{failed['resource']}"
            failures.setdefault(failed["check_id"], set()).add(where)
    return failures


def _about_checkovs_own_file_key(failed: dict) -> bool:
    """A finding about the ``__file__`` key checkov adds to every parsed mapping (the template's path), not about
    the template: checkov's secret checks test that path like an environment value, so whether CKV_AWS_45 fails
    depends on the length of the temporary directory's name (checkov issue 7310). Findings about real keys
    still count."""
    keys = (failed.get("check_result") or {}).get("evaluated_keys") or []
    return bool(keys) and all(str(key).endswith("/__file__") for key in keys)


@pytest.mark.slow
def test_every_failed_checkov_check_is_argued_in_security_md(checkov_failures: dict[str, set[str]]) -> None:
    unargued = {check: sorted(where) for check, where in checkov_failures.items() if check not in argued_checks()}
    assert not unargued, "fix these checkov findings or argue them in docs/security.md:\n" + json.dumps(unargued, indent=1)


@pytest.mark.slow
def test_every_check_argued_in_security_md_still_fails(checkov_failures: dict[str, set[str]]) -> None:
    assert argued_checks() - set(checkov_failures) == set(), "docs/security.md argues checks that now pass"
