"""The local bundler: a stable asset hash, the right wheels, and the asset layout Lambda expects."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Annotations, Match, Template

from mcp_lambda.spec import ServerSpec
from mcp_lambda_cdk import bundling
from mcp_lambda_cdk.bundling import PythonBundle
from mcp_lambda_cdk.lambda_service import McpLambdaService
from tests.cdk.conftest import REPO_ROOT


def weather(root: Path) -> ServerSpec:
    return ServerSpec("weather", root / "weather")


def synthesized_s3_key(make_app, servers: Path, **context) -> str:
    """The S3 key of the weather function's code, as ``cdk synth`` would render it."""
    stack = cdk.Stack(make_app(**context), "TestStack")
    McpLambdaService(stack, "Weather", server=weather(servers))
    (function,) = Template.from_stack(stack).find_resources("AWS::Lambda::Function").values()
    return function["Properties"]["Code"]["S3Key"]


def real_hash_key(make_app, servers: Path) -> str:
    # CDK skips bundling for stacks outside aws:cdk:bundling-stacks but renders the real hash.
    return synthesized_s3_key(
        make_app, servers, **{"aws:cdk:bundling-stacks": [], bundling.SKIP_BUNDLING_CONTEXT: False}
    )


def for_server(folder: Path) -> PythonBundle:
    return PythonBundle.for_server(folder, runtime=lambda_.Runtime.PYTHON_3_13, architecture=lambda_.Architecture.ARM_64)


def test_the_runtime_is_a_requirement_like_any_other(servers_tree: Path) -> None:
    # Given a server folder without requirements of its own, then one with
    bundle = for_server(servers_tree / "weather")
    assert bundle.requirements == (f"mcp-lambda-runtime=={metadata.version('mcp-lambda-runtime')}",)
    (servers_tree / "weather" / "requirements.txt").write_text("# the server's own\nhttpx2==2.16.2  # pinned\n")

    # Then the runtime, pinned to the version installed here, comes first, the folder's own after it
    assert for_server(servers_tree / "weather").requirements == (*bundle.requirements, "httpx2==2.16.2")
    # And the runtime, installed here from this checkout, is built from it, not taken from an index
    (source,) = bundle.local_sources
    assert (source.name, source.is_wheel) == ("mcp-lambda-runtime", False)
    assert (source.path / "src" / "mcp_lambda" / "runtime.py").is_file()


def test_a_server_ships_with_the_sibling_packages_it_imports(servers_tree: Path) -> None:
    # Given a server that imports a sibling package, which imports nothing of the others
    bundle = PythonBundle(servers_tree / "secure_messaging")

    # Then both are shipped, the other servers are not
    assert bundle.packages == ("secure_messaging", "messaging")
    assert [p.as_posix() for p in bundle.source_files()] == [
        "messaging/__init__.py", "messaging/migrations/001_messages.sql", "messaging/store.py",
        "secure_messaging/__init__.py", "secure_messaging/server.py",
    ]
    # And the hash follows the sibling's code too
    before = bundle.asset_hash()
    (servers_tree / "messaging" / "store.py").write_text("# changed\n")
    assert PythonBundle(servers_tree / "secure_messaging").asset_hash() != before
    # And imports found anywhere in the package count, `import x.y` and `from x import y` alike
    (servers_tree / "weather" / "tools.py").write_text("import other.server\n")
    assert PythonBundle(servers_tree / "weather").packages == ("weather", "other")


def test_asset_hash_is_the_same_in_another_checkout(make_app, servers_tree: Path, tmp_path: Path) -> None:
    # Given the same sources in a second directory
    elsewhere = tmp_path / "checkout-b" / "servers"
    shutil.copytree(servers_tree, elsewhere)

    # When both are hashed, directly and through a synth
    # Then the hashes agree
    assert for_server(servers_tree / "weather").asset_hash() == for_server(elsewhere / "weather").asset_hash()
    assert real_hash_key(make_app, servers_tree) == real_hash_key(make_app, elsewhere)


def test_asset_hash_ignores_bytecode_and_other_services(servers_tree: Path) -> None:
    before = for_server(servers_tree / "weather").asset_hash()
    (servers_tree / "weather" / "__pycache__").mkdir()
    (servers_tree / "weather" / "__pycache__" / "server.cpython-313.pyc").write_bytes(b"\0")
    (servers_tree / "weather" / "stray.pyc").write_bytes(b"\0")
    (servers_tree / "weather" / ".DS_Store").write_bytes(b"\0")
    (servers_tree / "other" / "server.py").write_text("# changed\n")
    assert for_server(servers_tree / "weather").asset_hash() == before


@pytest.mark.parametrize(
    "change",
    [
        lambda root: (root / "weather" / "server.py").write_text("def handler(event, context):\n    return {}\n"),
        lambda root: (root / "weather" / "new_module.py").write_text(""),
        lambda root: (root / "weather" / "server.py").rename(root / "weather" / "app.py"),
        lambda root: (root / "weather" / "requirements.txt").write_text("httpx2==2.16.2\n"),
        lambda root: (root / "weather" / "server.py").write_text("import messaging.store\n"),
    ],
    ids=["service-source", "added-file", "renamed-file", "own-requirements", "imports-a-sibling"],
)
def test_asset_hash_changes_with_what_is_shipped(make_app, servers_tree: Path, change) -> None:
    before = real_hash_key(make_app, servers_tree)
    change(servers_tree)
    assert real_hash_key(make_app, servers_tree) != before


def test_a_local_sources_fingerprint_follows_its_files_not_its_build_outputs(tmp_path: Path) -> None:
    # Given a project directory installed from source (as the runtime is in this checkout)
    project = tmp_path / "project"
    (project / "src" / "lib").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'lib'\n")
    (project / "src" / "lib" / "__init__.py").write_text("x = 1\n")
    source = bundling.LocalSource("lib", project, is_wheel=False)
    before = source.fingerprint()

    # When building and importing it leaves outputs behind, the fingerprint stays
    for litter in ("build/lib/lib/__init__.py", "dist/lib-1.whl", "src/lib.egg-info/PKG-INFO",
                   "src/lib/__pycache__/__init__.cpython-313.pyc"):
        (project / litter).parent.mkdir(parents=True, exist_ok=True)
        (project / litter).write_text("")
    assert source.fingerprint() == before
    # And a change to its code changes it
    (project / "src" / "lib" / "__init__.py").write_text("x = 2\n")
    assert source.fingerprint() != before
    # And a wheel is known by its hash
    assert bundling.LocalSource("lib", tmp_path / "lib-1.whl", True, "ab12").fingerprint() == b"wheel:ab12"


@pytest.mark.parametrize(
    ("name", "value"),
    [("PRUNED", (("uvicorn", "server"),)), ("SOURCE_ONLY", ("cffi",))],
)
def test_asset_hash_changes_with_the_pruning_lists(servers_tree: Path, monkeypatch, name: str, value) -> None:
    before = for_server(servers_tree / "weather").asset_hash()
    monkeypatch.setattr(bundling, name, value)
    assert for_server(servers_tree / "weather").asset_hash() != before


def test_asset_hash_differs_per_architecture(servers_tree: Path) -> None:
    def bundle(architecture: lambda_.Architecture) -> PythonBundle:
        return PythonBundle.for_server(
            servers_tree / "weather", runtime=lambda_.Runtime.PYTHON_3_13, architecture=architecture
        )

    assert bundle(lambda_.Architecture.ARM_64).asset_hash() != bundle(lambda_.Architecture.X86_64).asset_hash()


def test_pip_is_asked_for_wheels_of_the_lambda_platform(servers_tree: Path, tmp_path: Path, monkeypatch) -> None:
    # Given a bundle with the runtime requirement and a pip that only records its command lines
    commands: list[list[str]] = []

    def fake_run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
        commands.append(command)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(bundling.subprocess, "run", fake_run)
    bundle = for_server(servers_tree / "weather")

    # When the bundle is built
    bundle.build(tmp_path / "out")

    # Then the runtime's checkout is built as a wheel for pip's wheelhouse first
    wheel, install = commands[0], commands[1]
    assert wheel[1:4] == ["-m", "pip", "wheel"] and wheel[-1] == str(bundle.local_sources[0].path)
    # And pip installs for CPython 3.13 on arm64, binary wheels only, with the manylinux_2_28 tag
    # (without it pip silently picks old releases), into the asset root, under the runtime's pins
    assert install[1:4] == ["-m", "pip", "install"]
    for flag in (
        "--platform=manylinux2014_aarch64",
        "--platform=manylinux_2_28_aarch64",
        "--implementation=cp",
        "--python-version=3.13",
        "--only-binary=:all:",
    ):
        assert flag in install
    assert install[install.index("--target") + 1] == str(tmp_path / "out")
    assert install[install.index("--find-links") + 1] == wheel[wheel.index("--wheel-dir") + 1]
    assert install[install.index("--constraint") + 1] == str(bundling.CONSTRAINTS)


@pytest.mark.parametrize("architecture", [lambda_.Architecture.ARM_64, lambda_.Architecture.X86_64], ids=["arm64", "x86_64"])
def test_the_constraints_pin_everything_a_bundle_installs(architecture, tmp_path: Path) -> None:
    """A bundle's third-party content follows from the constraints alone (its asset hash covers that file):
    resolving the runtime (with the authorization server's extra, as its function installs it, and tracing's, as a
    traced service's function does) for the Lambda platform, against the package index, must install exactly the
    pins."""
    pins = {}
    for line in bundling.CONSTRAINTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    bundle = PythonBundle.for_server(REPO_ROOT / "servers" / "weather", runtime=lambda_.Runtime.PYTHON_3_13,
                                     architecture=architecture)
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    for source in bundle.local_sources:
        source.add_to(wheelhouse)
    requirements = [r.replace("mcp-lambda-runtime==", "mcp-lambda-runtime[authorization,tracing]==")
                    for r in bundle.requirements]
    (tmp_path / "requirements.txt").write_text("\n".join(requirements))
    report = tmp_path / "report.json"
    command = [*bundle.pip_install_command(tmp_path / "t", tmp_path / "requirements.txt", wheelhouse),
               "--dry-run", "--ignore-installed", "--report", str(report)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    installed = {re.sub(r"[-_.]+", "-", item["metadata"]["name"]).lower(): item["metadata"]["version"]
                 for item in json.loads(report.read_text())["install"]}
    assert installed == {**pins, "mcp-lambda-runtime": metadata.version("mcp-lambda-runtime")}, (
        f"pin what pip resolves: {' '.join(command)}")


def test_bundle_holds_the_server_and_what_pip_installed(make_app, servers_tree: Path) -> None:
    # Given sources with bytecode lying around, and nothing to pip install
    (servers_tree / "weather" / "__pycache__").mkdir()
    (servers_tree / "weather" / "__pycache__" / "stale.cpython-313.pyc").write_bytes(b"\0")

    # When CDK bundles the asset through the local bundler (no Docker)
    app = make_app(**{bundling.SKIP_BUNDLING_CONTEXT: False})
    stack = cdk.Stack(app, "TestStack")
    McpLambdaService(stack, "Weather", server=weather(servers_tree),
                     code=bundling.bundled_code(stack, PythonBundle(servers_tree / "weather")))
    key = Template.from_stack(stack).find_resources("AWS::Lambda::Function").popitem()[1]["Properties"]["Code"]["S3Key"]
    asset = Path(app.outdir) / f"asset.{key.removesuffix('.zip')}"

    # Then the asset root holds the server package, not the other servers, nor the stale bytecode
    shipped = sorted(p.relative_to(asset).as_posix() for p in asset.rglob("*.py"))
    assert shipped == ["weather/__init__.py", "weather/server.py"]
    assert not (asset / "weather" / "__pycache__" / "stale.cpython-313.pyc").exists()
    # And the bytecode is compiled for the read-only /var/task: hash-based, never checked against sources
    if sys.version_info[:2] != (3, 13):
        return  # bytecode of another Python would be useless to the runtime, so none is shipped
    pyc = asset / "weather" / "__pycache__" / "server.cpython-313.pyc"
    assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 0b01


def test_skipped_bundling_uses_a_placeholder_hash_independent_of_the_sources(make_app, servers_tree: Path) -> None:
    before = synthesized_s3_key(make_app, servers_tree)
    (servers_tree / "weather" / "server.py").write_text("# changed\n")
    assert synthesized_s3_key(make_app, servers_tree) == before
    assert before != real_hash_key(make_app, servers_tree)


def test_bundle_size_is_reported_at_synth(make_app, servers_tree: Path) -> None:
    # Given a bundle that CDK builds with the local bundler
    app = make_app(**{bundling.SKIP_BUNDLING_CONTEXT: False})
    stack = cdk.Stack(app, "TestStack")

    # When the service is synthesized
    McpLambdaService(stack, "Weather", server=weather(servers_tree),
                     code=bundling.bundled_code(stack, PythonBundle(servers_tree / "weather")))

    # Then its unzipped and zipped sizes are an info annotation on the scope of the code
    Annotations.from_stack(stack).has_info(
        "/TestStack",
        Match.string_like_regexp(r"^weather bundle: [\d.]+ MiB unzipped \(\d+ files, \d+ \.pyc\), [\d.]+ MiB zipped"),
    )


def test_bundles_past_lambdas_limit_fail_the_synth(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(bundling, "LAMBDA_UNZIPPED_LIMIT_BYTES", 10)
    (tmp_path / "big.py").write_text("x = 1\n" * 10)
    size = bundling.measure_bundle(tmp_path)
    assert size.unzipped_bytes == 60 and size.files == 1 and 0 < size.zipped_bytes
    stack = cdk.Stack(cdk.App(), "Big")
    bundling._report_size(stack, PythonBundle(tmp_path / "weather"), tmp_path)
    Annotations.from_stack(stack).has_error("/Big", Match.string_like_regexp("too large to deploy"))


def test_pruning_removes_what_lambda_never_loads_and_keeps_metadata(tmp_path: Path) -> None:
    # Given an install tree with a server-only package, a test suite, stubs, pip's records, web assets, console
    # scripts and the runtime's local server
    files = [
        "uvicorn/__init__.py",
        "uvicorn-0.54.0.dist-info/METADATA",
        "click/core.py",
        "jsonschema/tests/test_validators.py",
        "jsonschema/validators.py",
        "pydantic/__init__.pyi",
        "pydantic/py.typed",
        "pydantic-2.14.4.dist-info/RECORD",
        "pydantic-2.14.4.dist-info/METADATA",
        "pydantic-2.14.4.dist-info/entry_points.txt",
        "pydantic-2.14.4.dist-info/licenses/LICENSE",
        "aws_lambda_powertools/event_handler/openapi/swagger_ui/swagger-ui-bundle.min.js",
        "aws_lambda_powertools/event_handler/openapi/swagger_ui/html.py",
        "six/__pycache__/six.cpython-312.pyc",
        "h11/__init__.py",
        "bin/mcp-lambda",
        "mcp_lambda/local/http_server.py",
        "mcp_lambda/runtime.py",
    ]
    for relative in files:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("")

    # When it is pruned
    removed = bundling.prune(tmp_path)

    # Then what no code path imports is gone, and what importlib.metadata and the licences need stays
    assert removed == [
        "aws_lambda_powertools/event_handler/openapi/swagger_ui/swagger-ui-bundle.min.js",
        "bin/",
        "click/",
        "jsonschema/tests/",
        "mcp_lambda/local/",
        "pydantic-2.14.4.dist-info/RECORD",
        "pydantic/__init__.pyi",
        "six/__pycache__/",
        "uvicorn-0.54.0.dist-info/",
        "uvicorn/",
    ]
    kept = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert kept == [
        "aws_lambda_powertools/event_handler/openapi/swagger_ui/html.py",
        "h11/__init__.py",
        "jsonschema/validators.py",
        "mcp_lambda/runtime.py",
        "pydantic-2.14.4.dist-info/METADATA",
        "pydantic-2.14.4.dist-info/entry_points.txt",
        "pydantic-2.14.4.dist-info/licenses/LICENSE",
        "pydantic/py.typed",
    ]


@pytest.mark.parametrize(
    ("relative", "compiled"),
    [
        ("cffi/api.py", False),
        ("pycparser/c_parser.py", False),
        ("aws_lambda_powertools/event_handler/api_gateway.py", False),
        ("aws_lambda_powertools/utilities/parser/models/s3.py", False),
        ("aws_lambda_powertools/utilities/parameters/secrets.py", True),
        ("aws_lambda_powertools/utilities/jmespath_utils/__init__.py", True),
        ("aws_lambda_powertools/logging/logger.py", True),
        ("cffi_helpers/x.py", True),
        ("cryptography/hazmat/bindings/openssl/binding.py", True),
        ("mcp_lambda/runtime.py", True),
    ],
)
def test_bytecode_is_left_out_only_for_modules_the_functions_never_import(relative: str, compiled: bool) -> None:
    root = Path("/tmp/asset.0123")
    pattern = re.compile(bundling._source_only_pattern(root))
    assert (pattern.search(str(root / relative)) is None) == compiled


# The real bundle: pip installs the runtime (a wheel of this checkout) and its pinned closure (wheels from the
# index), so these tests take ~20 s.
_HOST_ARCHITECTURE = {"x86_64": lambda_.Architecture.X86_64, "AMD64": lambda_.Architecture.X86_64,
                      "aarch64": lambda_.Architecture.ARM_64, "arm64": lambda_.Architecture.ARM_64}
_SIZE_LIMIT_BYTES = 15_000_000  # the zipped asset, in decimal megabytes (14.3 MiB)


@pytest.fixture(scope="module")
def real_bundle(tmp_path_factory: pytest.TempPathFactory):
    """Build (once per architecture) the weather bundle from the checkout's servers/ folder."""
    built: dict[str, Path] = {}

    def build(architecture: lambda_.Architecture) -> Path:
        if architecture.name not in built:
            out = tmp_path_factory.mktemp(f"weather-{architecture.name}")
            PythonBundle.for_server(
                REPO_ROOT / "servers" / "weather", runtime=lambda_.Runtime.PYTHON_3_13, architecture=architecture
            ).build(out)
            built[architecture.name] = out
        return built[architecture.name]

    return build


_SERVE_FROM_BUNDLE = textwrap.dedent(
    """
    import importlib, importlib.util, json, sys
    bundle, services = sys.argv[1], sys.argv[2:]
    from weather.server import handler

    class Context:
        aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
        function_name = "mcp-weather"
        memory_limit_in_mb = 1024
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:mcp-weather"
        def get_remaining_time_in_millis(self):
            return 30_000

    def invoke(message):
        host = "abcdefg.lambda-url.us-east-1.on.aws"
        event = {
            "version": "2.0", "routeKey": "$default", "rawPath": "/mcp", "rawQueryString": "",
            "headers": {"host": host, "content-type": "application/json",
                        "accept": "application/json, text/event-stream"},
            "requestContext": {"accountId": "123456789012", "apiId": "abcdefg", "domainName": host,
                               "domainPrefix": "abcdefg", "requestId": "req-1", "routeKey": "$default",
                               "stage": "$default", "time": "25/Nov/2026:04:00:00 +0000",
                               "timeEpoch": 1795665600000,
                               "http": {"method": "POST", "path": "/mcp", "protocol": "HTTP/1.1",
                                        "sourceIp": "203.0.113.7", "userAgent": "test"}},
            "body": json.dumps({"jsonrpc": "2.0", "id": 1, **message}), "isBase64Encoded": False,
        }
        response = handler(event, Context())
        return response["statusCode"], json.loads(response["body"])

    listed = invoke({"method": "tools/list"})
    called = invoke({"method": "tools/call", "params": {"name": "get_weather", "arguments": {"city": "Paris"}}})
    served = {name for name, module in sys.modules.items()
              if (getattr(module, "__file__", None) or "").startswith(bundle)}

    # The code paths other functions take with the same dependencies: every service's handler module,
    # sign-in (pyjwt with cryptography), PostgreSQL (pg8000, scramp), tasks (boto3 itself is the runtime's).
    for service in services:
        importlib.import_module(f"{service}.server")
    for module in ("mcp_lambda.auth.tokens", "mcp_lambda.request_state", "mcp_lambda.database",
                   "mcp_lambda.migrations", "mcp_lambda.tasks.dynamodb", "mcp_lambda.tasks.runner"):
        importlib.import_module(module)
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    claims = jwt.decode(jwt.encode({"sub": "a"}, key, algorithm="ES256"), key.public_key(), algorithms=["ES256"])

    loaded = {name: module.__file__ for name, module in sys.modules.items()
              if (getattr(module, "__file__", None) or "").startswith(bundle)}
    print("REPORT " + json.dumps({
        "list": listed, "call": called, "claims": claims,
        "outside_bundle": sorted(name for name, module in sys.modules.items()
                                 if name.split(".")[0] in ("mcp", "pydantic", "jwt", "cryptography", "pg8000")
                                 and not module.__file__.startswith(bundle)),
        "served_without_bytecode": sorted(
            name for name in served if loaded[name].endswith(".py")
            and not __import__("os").path.exists(importlib.util.cache_from_source(loaded[name]))),
        "pruned_loaded": sorted(name for name in sys.modules if name.split(".")[0] in ("uvicorn", "click")),
    }))
    """
)


@pytest.mark.skipif(sys.version_info[:2] != (3, 13), reason="the bundle's native wheels are for CPython 3.13")
@pytest.mark.skipif(platform.machine() not in _HOST_ARCHITECTURE, reason="no Lambda architecture for this CPU")
def test_pruned_bundle_serves_from_itself_in_a_fresh_interpreter(real_bundle, tmp_path: Path) -> None:
    # Given the weather bundle built for this machine's CPU, and the other services' packages apart
    bundle = real_bundle(_HOST_ARCHITECTURE[platform.machine()])
    servers = REPO_ROOT / "servers"
    services = sorted(p.parent.name for p in servers.glob("*/server.py") if p.parent.name != "weather")
    for service in services:
        shutil.copytree(
            servers / service, tmp_path / "services" / service, ignore=shutil.ignore_patterns("__pycache__")
        )
    script = tmp_path / "serve.py"
    script.write_text(_SERVE_FROM_BUNDLE)

    # When a fresh interpreter without site-packages (-S -s), the script's folder (-P) or the caller's
    # environment, the bundle alone on its path (the services after it), imports weather.server and
    # serves a Function URL request
    result = subprocess.run(
        [sys.executable, "-P", "-S", "-s", str(script), str(bundle), *services],
        env={"PYTHONPATH": os.pathsep.join([str(bundle), str(tmp_path / "services")]),
             "PYTHONDONTWRITEBYTECODE": "1", "PATH": os.defpath},
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    # (the handler's own logs and metrics are JSON lines on stdout too)
    (line,) = (line for line in result.stdout.splitlines() if line.startswith("REPORT "))
    report = json.loads(line.removeprefix("REPORT "))

    # Then tools/list and tools/call answer as in the dev venv
    status, listed = report["list"]
    assert status == 200
    assert [tool["name"] for tool in listed["result"]["tools"]] == ["get_weather"]
    status, called = report["call"]
    assert status == 200
    assert called["result"]["isError"] is False
    assert called["result"]["content"][0]["text"].startswith("Weather in Paris: ")
    # And the other functions' code paths import, and sign-in's crypto works, from the bundle alone
    assert report["claims"] == {"sub": "a"}
    assert report["outside_bundle"] == []
    # And the pruned server packages stay unloaded, while every module the request loaded has bytecode
    assert report["pruned_loaded"] == []
    assert report["served_without_bytecode"] == []


def test_weather_bundle_zips_under_15_mb(real_bundle) -> None:
    # Given the weather bundle as deployed (arm64)
    size = bundling.measure_bundle(real_bundle(lambda_.Architecture.ARM_64))

    # Then its zip stays under 15 MB, with bytecode when this interpreter is the runtime's Python
    assert size.zipped_bytes <= _SIZE_LIMIT_BYTES, size.describe("weather")
    if sys.version_info[:2] == (3, 13):
        assert size.bytecode_files > 500
