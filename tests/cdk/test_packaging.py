"""``pip install .`` makes ``constructs_lib`` usable by another CDK app, outside this checkout.

Given: the project built as a wheel and installed with ``pip install --target`` into an empty folder.
When: a fresh CDK app in another temporary folder, with only that folder on ``PYTHONPATH`` (the checkout is
not on its path), imports McpLambdaService, McpDatabase and McpOidcAuth (when the package has it) and
synthesizes a stack with them.
Then: the constructs come from the installed package, the Lambda sources they bundle are the ones shipped
as its package data (the asset hash equals the checkout's), and the stack holds what they build.
Bundling is skipped (``mcp:skipBundling``), as in the other CDK tests: a real bundle would pip-install the
Lambda dependencies from the network; its inputs are what the hash covers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from constructs_lib.bundling import PythonBundle
from tests.cdk.conftest import REPO_ROOT

APP = textwrap.dedent(
    """
    import json, sys
    import aws_cdk as cdk
    import constructs_lib
    from constructs_lib import McpDatabase, McpLambdaService
    from constructs_lib.bundling import DEFAULT_LAMBDAS_DIR, PythonBundle
    try:
        from constructs_lib import McpOidcAuth
    except ImportError:
        McpOidcAuth = None

    app = cdk.App(outdir=sys.argv[1], context={"mcp:skipBundling": True})
    stack = cdk.Stack(app, "Imported")
    database = McpDatabase(stack, "Database", multi_az=False, deletion_protection=False,
                           removal_policy=cdk.RemovalPolicy.DESTROY)
    service = McpLambdaService(stack, "Messaging", service="messaging", vpc=database.vpc,
                               vpc_subnets=database.application_subnets)
    database.connect_service(service)
    if McpOidcAuth is not None:
        McpOidcAuth(stack, "Auth", google_client_id="1234-abc.apps.googleusercontent.com").protect(service)
    template = app.synth().get_stack_by_name("Imported").template
    print(json.dumps({
        "constructs_lib": constructs_lib.__file__,
        "lambdas_dir": str(DEFAULT_LAMBDAS_DIR),
        "asset_hash": PythonBundle("messaging", DEFAULT_LAMBDAS_DIR).asset_hash(),
        "oidc": McpOidcAuth is not None,
        "types": sorted({r["Type"] for r in template["Resources"].values()}),
        "environment": [r["Properties"].get("Environment", {}).get("Variables", {})
                        for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"],
    }))
    """
)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of this checkout, installed into an otherwise empty folder."""
    wheels, target = tmp_path_factory.mktemp("wheels"), tmp_path_factory.mktemp("site")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    # setuptools is pinned in requirements.txt, so no build environment needs to be downloaded.
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(REPO_ROOT)],
                   check=True, cwd=wheels)
    (wheel,) = wheels.glob("*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], check=True)
    return target


def test_a_fresh_app_synthesizes_the_installed_constructs(installed: Path, tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    result = subprocess.run(
        [sys.executable, "-s", "app.py", str(tmp_path / "cdk.out")],  # -s: no user site-packages
        cwd=tmp_path,
        env={**environment, "PYTHONPATH": str(installed)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])

    assert Path(report["constructs_lib"]).is_relative_to(installed)
    assert Path(report["lambdas_dir"]) == installed / "constructs_lib" / "lambdas"
    assert report["asset_hash"] == PythonBundle("messaging").asset_hash()
    assert {"AWS::Lambda::Function", "AWS::RDS::DBProxy", "AWS::KMS::Key", "AWS::CloudWatch::Dashboard"} <= set(
        report["types"]
    )
    messaging = next(v for v in report["environment"] if v.get("MCP_SERVICE") == "messaging")
    assert messaging["MCP_DB_IAM_AUTH"] == "true"
    if report["oidc"]:
        assert "MCP_AUTH_CONFIG" in messaging
