"""Shared set-up for the CDK tests: the app context of a real synth, minus the slow bundling.

Why read cdk.json: the feature flags there change the templates, so the tests must synthesize with
the same flags as ``cdk synth``. Why ``mcp:skipBundling``: a pip install per test would be slow and
would tie the snapshots to the handler code (see ``mcp_lambda_cdk.bundling``).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template
from syrupy.extensions.json import JSONSnapshotExtension

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk  # noqa: E402  (after the environment variable above)

from mcp_lambda.spec import ServerSpec  # noqa: E402
from mcp_lambda_cdk.bundling import SKIP_BUNDLING_CONTEXT  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVERS_DIR = REPO_ROOT / "servers"
MIGRATIONS_HASH_PLACEHOLDER = "<sha256 of servers/messaging/migrations/*.sql>"


def spec(name: str, folder: str | None = None, **declared: Any) -> ServerSpec:
    """A declaration of one of the repository's server folders (by default the one named like `name`) with
    only what the test declares: the construct tests choose their props themselves."""
    return ServerSpec(name, SERVERS_DIR / (folder or name.replace("-", "_")), **declared)


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


def without_migrations_hash(template: Template) -> dict[str, Any]:
    """The template for a snapshot: the migrations hash is asserted on its own, so that adding a migration
    does not churn every snapshot."""
    resources = copy.deepcopy(template.to_json())
    for resource in resources["Resources"].values():
        if resource["Type"] == "Custom::McpSchemaMigrations":
            resource["Properties"]["MigrationsHash"] = MIGRATIONS_HASH_PLACEHOLDER
    return resources


def cdk_json_context() -> dict[str, Any]:
    """The ``context`` section of the project's cdk.json (the feature flags)."""
    return json.loads((REPO_ROOT / "cdk.json").read_text())["context"]


def run_app_py(outdir: Path, context: dict[str, Any]) -> cdk.App:
    """``app.py`` as ``cdk synth`` runs it, with the CLI's ``context`` and output directory.

    The CLI hands both to the app through ``CDK_CONTEXT_JSON`` and ``CDK_OUTDIR``, which the App reads in jsii's
    Node process; that process took its environment when this test process first imported aws_cdk, so setting
    them now would do nothing (the app would synthesize without cdk.json's feature flags, and bundle for real).
    They are handed to the App's constructor instead."""
    import runpy

    original = cdk.App

    def app_as_the_cli_runs_it(*args: Any, **props: Any) -> cdk.App:
        return original(*args, **{"context": context, "outdir": str(outdir), **props})

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cdk, "App", app_as_the_cli_runs_it)
        patch.chdir(REPO_ROOT)
        app = runpy.run_path(str(REPO_ROOT / "app.py"), run_name="app")["app"]
    lost = [key for key, value in context.items() if app.node.try_get_context(key) != value]
    assert not lost, f"context that did not reach app.py: {lost}"
    return app


@pytest.fixture(scope="session")
def make_app(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., cdk.App]:
    """Build an App like ``cdk synth`` does, with bundling skipped unless the test says otherwise."""

    def make(**context: Any) -> cdk.App:
        merged = {**cdk_json_context(), SKIP_BUNDLING_CONTEXT: True, **context}
        return cdk.App(outdir=str(tmp_path_factory.mktemp("cdk.out")), context=merged)

    return make


@pytest.fixture
def servers_tree(tmp_path: Path) -> Path:
    """A minimal ``servers/`` folder: a weather server, another server, and a server importing a sibling."""
    root = tmp_path / "checkout-a" / "servers"
    files = {
        "weather/__init__.py": "",
        "weather/server.py": "def handler(event, context):\n    return {'statusCode': 200}\n",
        "other/server.py": "# another service, not part of the weather bundle\n",
        "messaging/__init__.py": "",
        "messaging/store.py": "def insert_message():\n    pass\n",
        "messaging/migrations/001_messages.sql": "CREATE TABLE IF NOT EXISTS messages (id bigint);\n",
        "secure_messaging/__init__.py": "",
        "secure_messaging/server.py": "from messaging.store import insert_message\n\n"
        "def handler(event, context):\n    return {}\n",
    }
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: runs an external scanner (checkov: ~1 min; its venv is created on first use); -m 'not slow' skips it"
    )
