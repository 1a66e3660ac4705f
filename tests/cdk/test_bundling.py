"""The local bundler: a stable asset hash, the right wheels, and the asset layout Lambda expects."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Annotations, Match, Template

from constructs_lib import bundling
from constructs_lib.bundling import PythonBundle
from constructs_lib.lambda_service import McpLambdaService


def synthesized_s3_key(make_app, lambdas_dir: Path, **context) -> str:
    """The S3 key of the weather function's code, as ``cdk synth`` would render it."""
    stack = cdk.Stack(make_app(**context), "TestStack")
    McpLambdaService(stack, "Weather", service="weather", lambdas_dir=lambdas_dir)
    (function,) = Template.from_stack(stack).find_resources("AWS::Lambda::Function").values()
    return function["Properties"]["Code"]["S3Key"]


def real_hash_key(make_app, lambdas_dir: Path) -> str:
    # CDK skips bundling for stacks outside aws:cdk:bundling-stacks but renders the real hash.
    return synthesized_s3_key(
        make_app, lambdas_dir, **{"aws:cdk:bundling-stacks": [], bundling.SKIP_BUNDLING_CONTEXT: False}
    )


def test_asset_hash_is_the_same_in_another_checkout(make_app, lambdas_tree: Path, tmp_path: Path) -> None:
    # Given the same sources in a second directory
    elsewhere = tmp_path / "checkout-b" / "lambdas"
    shutil.copytree(lambdas_tree, elsewhere)

    # When both are hashed, directly and through a synth
    # Then the hashes agree
    assert PythonBundle("weather", lambdas_tree).asset_hash() == PythonBundle("weather", elsewhere).asset_hash()
    assert real_hash_key(make_app, lambdas_tree) == real_hash_key(make_app, elsewhere)


def test_asset_hash_ignores_bytecode_and_other_services(lambdas_tree: Path) -> None:
    before = PythonBundle("weather", lambdas_tree).asset_hash()
    (lambdas_tree / "weather" / "__pycache__").mkdir()
    (lambdas_tree / "weather" / "__pycache__" / "server.cpython-313.pyc").write_bytes(b"\0")
    (lambdas_tree / "mcp_lambda" / "stray.pyc").write_bytes(b"\0")
    (lambdas_tree / "weather" / ".DS_Store").write_bytes(b"\0")
    (lambdas_tree / "other" / "server.py").write_text("# changed\n")
    assert PythonBundle("weather", lambdas_tree).asset_hash() == before


@pytest.mark.parametrize(
    "change",
    [
        lambda root: (root / "weather" / "server.py").write_text("def handler(event, context):\n    return {}\n"),
        lambda root: (root / "mcp_lambda" / "adapter.py").write_text("def adapt(event):\n    return None\n"),
        lambda root: (root / "mcp_lambda" / "new_module.py").write_text(""),
        lambda root: (root / "weather" / "server.py").rename(root / "weather" / "app.py"),
        lambda root: (root / "requirements.txt").write_text("mcp==2.3.0\n"),
    ],
    ids=["service-source", "runtime-source", "added-file", "renamed-file", "requirements"],
)
def test_asset_hash_changes_with_what_is_shipped(make_app, lambdas_tree: Path, change) -> None:
    before = real_hash_key(make_app, lambdas_tree)
    change(lambdas_tree)
    assert real_hash_key(make_app, lambdas_tree) != before


def test_asset_hash_differs_per_architecture(lambdas_tree: Path) -> None:
    def bundle(architecture: lambda_.Architecture) -> PythonBundle:
        return PythonBundle.for_function(
            "weather", runtime=lambda_.Runtime.PYTHON_3_13, architecture=architecture, lambdas_dir=lambdas_tree
        )

    assert bundle(lambda_.Architecture.ARM_64).asset_hash() != bundle(lambda_.Architecture.X86_64).asset_hash()


def test_pip_is_asked_for_wheels_of_the_lambda_platform(lambdas_tree: Path, tmp_path: Path, monkeypatch) -> None:
    # Given a bundle with one requirement and a pip that only records its command line
    (lambdas_tree / "requirements.txt").write_text("mcp==2.3.0\n")
    commands: list[list[str]] = []

    def fake_run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
        commands.append(command)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(bundling.subprocess, "run", fake_run)
    bundle = PythonBundle.for_function(
        "weather",
        runtime=lambda_.Runtime.PYTHON_3_13,
        architecture=lambda_.Architecture.ARM_64,
        lambdas_dir=lambdas_tree,
    )

    # When the bundle is built
    bundle.build(tmp_path / "out")

    # Then pip installs for CPython 3.13 on arm64, binary wheels only, with the manylinux_2_28 tag
    # (without it pip silently picks old releases), into the asset root
    pip = commands[0]
    assert pip[1:4] == ["-m", "pip", "install"]
    for flag in (
        "--platform=manylinux2014_aarch64",
        "--platform=manylinux_2_28_aarch64",
        "--implementation=cp",
        "--python-version=3.13",
        "--only-binary=:all:",
    ):
        assert flag in pip
    assert pip[-4:] == ["--target", str(tmp_path / "out"), "-r", str(lambdas_tree / "requirements.txt")]


def test_bundle_holds_the_runtime_and_the_service_package(make_app, lambdas_tree: Path) -> None:
    # Given sources with bytecode lying around, and nothing to pip install
    (lambdas_tree / "weather" / "__pycache__").mkdir()
    (lambdas_tree / "weather" / "__pycache__" / "stale.cpython-313.pyc").write_bytes(b"\0")

    # When CDK bundles the asset through the local bundler (no Docker)
    app = make_app(**{bundling.SKIP_BUNDLING_CONTEXT: False})
    stack = cdk.Stack(app, "TestStack")
    McpLambdaService(stack, "Weather", service="weather", lambdas_dir=lambdas_tree)
    key = Template.from_stack(stack).find_resources("AWS::Lambda::Function").popitem()[1]["Properties"]["Code"]["S3Key"]
    asset = Path(app.outdir) / f"asset.{key.removesuffix('.zip')}"

    # Then the asset root holds both packages, not the other service, nor the stale bytecode
    shipped = sorted(p.relative_to(asset).as_posix() for p in asset.rglob("*.py"))
    assert shipped == ["mcp_lambda/__init__.py", "mcp_lambda/adapter.py", "weather/__init__.py", "weather/server.py"]
    assert not (asset / "weather" / "__pycache__" / "stale.cpython-313.pyc").exists()
    # And the bytecode is compiled for the read-only /var/task: hash-based, never checked against sources
    if sys.version_info[:2] != (3, 13):
        return  # bytecode of another Python would be useless to the runtime, so none is shipped
    pyc = asset / "weather" / "__pycache__" / "server.cpython-313.pyc"
    assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 0b01


def test_skipped_bundling_uses_a_placeholder_hash_independent_of_the_sources(make_app, lambdas_tree: Path) -> None:
    before = synthesized_s3_key(make_app, lambdas_tree)
    (lambdas_tree / "weather" / "server.py").write_text("# changed\n")
    assert synthesized_s3_key(make_app, lambdas_tree) == before
    assert before != real_hash_key(make_app, lambdas_tree)


def test_bundle_size_is_reported_at_synth(make_app, lambdas_tree: Path) -> None:
    # Given a bundle that CDK builds with the local bundler
    app = make_app(**{bundling.SKIP_BUNDLING_CONTEXT: False})
    stack = cdk.Stack(app, "TestStack")

    # When the service is synthesized
    McpLambdaService(stack, "Weather", service="weather", lambdas_dir=lambdas_tree)

    # Then its unzipped and zipped sizes are an info annotation on the service
    Annotations.from_stack(stack).has_info(
        "/TestStack/Weather",
        Match.string_like_regexp(r"^weather bundle: [\d.]+ MiB unzipped \(\d+ files, \d+ \.pyc\), [\d.]+ MiB zipped"),
    )


def test_bundles_past_lambdas_limit_fail_the_synth(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(bundling, "LAMBDA_UNZIPPED_LIMIT_BYTES", 10)
    (tmp_path / "big.py").write_text("x = 1\n" * 10)
    size = bundling.measure_bundle(tmp_path)
    assert size.unzipped_bytes == 60 and size.files == 1 and 0 < size.zipped_bytes
    stack = cdk.Stack(cdk.App(), "Big")
    bundling._report_size(stack, PythonBundle("weather"), tmp_path)
    Annotations.from_stack(stack).has_error("/Big", Match.string_like_regexp("too large to deploy"))
