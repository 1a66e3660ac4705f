"""One Lambda asset per function, built on this machine without Docker.

Why this module exists: every function ships the same three things, the shared runtime package
(``lambdas/mcp_lambda/``), its own service package (e.g. ``lambdas/weather/``) and the pinned
dependencies of ``lambdas/requirements.txt`` built for the Lambda CPU. pip can fetch those wheels for a
foreign platform directly, so the build needs neither Docker nor an arm64 machine.

Why a custom asset hash: CDK's default source hash would cover the whole ``lambdas/`` tree (tests,
other services, ``__pycache__``) and an output hash would need a bundle on every synth. The hash here
covers exactly what goes into the asset -- the relative paths and contents of the two packages, the
requirements file, the pip flags and the pruning lists -- so it is identical across runs and checkouts,
changes when (and only when) the function's code, dependencies or pruning change, and lets CDK reuse
``cdk.out/asset.<hash>`` instead of bundling again.

Why two ways to skip bundling: CDK itself skips it for stacks outside ``aws:cdk:bundling-stacks``
(``cdk deploy OtherStack``), keeping the real hash. The context flag ``mcp:skipBundling=true`` is for
tests: the asset is the bare service package under a placeholder hash that does not depend on the
source, so a stack's snapshot changes when the infrastructure changes, not with every edit to a handler.
Never deploy a stack synthesized that way; the function would lack its runtime and dependencies.

Why prune: the wheels bring an ASGI server, test suites, type stubs and web assets that a Lambda function
never loads, and bytecode for modules it never imports. :data:`PRUNED` and :data:`SOURCE_ONLY` list them,
each with the reason it is safe; what the functions import ships, with its bytecode.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import Annotations, AssetHashType, BundlingOptions, DockerImage, ILocalBundling, Stack, Stage
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

#: Bump when the layout of the bundle changes in a way the hashed inputs do not show (the entries of
#: :data:`PRUNED` and :data:`SOURCE_ONLY` are hashed). 2: dependencies pruned, bytecode only where imported.
BUNDLER_VERSION = "2"

#: Context key that replaces the bundle by the bare service package (tests only).
SKIP_BUNDLING_CONTEXT = "mcp:skipBundling"

#: The package every function ships next to its service package.
RUNTIME_PACKAGE = "mcp_lambda"

#: The runtime package, the service packages and ``requirements.txt``: the checkout's ``lambdas/`` folder,
#: or, in an installed ``constructs_lib`` (``pip install .``), the copy shipped as its package data.
_CHECKOUT_LAMBDAS_DIR = Path(__file__).resolve().parent.parent / "lambdas"
_PACKAGED_LAMBDAS_DIR = Path(__file__).resolve().parent / "lambdas"
DEFAULT_LAMBDAS_DIR = (
    _CHECKOUT_LAMBDAS_DIR if (_CHECKOUT_LAMBDAS_DIR / "mcp_lambda").is_dir() else _PACKAGED_LAMBDAS_DIR
)

REQUIREMENTS_FILE = "requirements.txt"

# manylinux2014 (glibc 2.17) alone makes pip fall back, silently, to old releases of packages that now
# publish only newer tags; the Python 3.12+ runtimes run on Amazon Linux 2023 (glibc 2.34).
_MANYLINUX_TAGS = ("manylinux2014", "manylinux_2_28", "manylinux_2_34")
_CPU = {"arm64": "aarch64", "x86_64": "x86_64"}

# Left out of both the hash and the copy: bytecode from local runs and desktop litter.
_IGNORED_NAMES = ("__pycache__", "*.pyc", "*.pyo", ".DS_Store")


#: Removed from the installed dependencies (paths relative to the asset root, ``fnmatch`` patterns; a
#: directory goes with its contents), each with why no code path of the functions needs it. Applied before
#: the runtime and service packages are copied in, so it never touches them. Nothing here is imported by
#: ``mcp_lambda``, a service package, or a module they import; when in doubt an entry stays out of this list.
#: boto3/botocore are not pruned because nothing installs them: ``lambdas/requirements.txt`` does not pull
#: them in, and the code that needs them (Secrets Manager through Powertools, DynamoDB tasks, Lambda invoke,
#: the RDS IAM token) imports the runtime's copy lazily.
PRUNED: tuple[tuple[str, str], ...] = (
    # The ASGI server the mcp SDK requires for ``MCPServer.run()`` (a standalone server); Lambda calls the
    # handler, which drives the ASGI app in-process. sse_starlette imports ``uvicorn.main`` only inside
    # ``try/except ImportError`` (to hook uvicorn's SIGTERM handler), so without it 31 modules fewer load on
    # every cold start. click is uvicorn's CLI library; httpx2 imports it only for its ``httpx`` CLI.
    ("uvicorn", "ASGI server for MCPServer.run(), never run in Lambda"),
    ("uvicorn-*.dist-info", "metadata of the removed uvicorn"),
    ("click", "CLI library of uvicorn and of httpx2's command line, neither used in Lambda"),
    ("click-*.dist-info", "metadata of the removed click"),
    # Served only by a Powertools REST resolver's ``enable_swagger()``; the functions use no resolver.
    ("aws_lambda_powertools/event_handler/openapi/swagger_ui/*.min.js", "Swagger UI for enable_swagger()"),
    ("aws_lambda_powertools/event_handler/openapi/swagger_ui/*.min.css", "Swagger UI for enable_swagger()"),
    # The libraries' own test suites and benchmarks, imported by nothing but their test runners.
    ("jsonschema/tests", "jsonschema's test suite"),
    ("jsonschema/benchmarks", "jsonschema's benchmarks"),
    ("jsonschema_specifications/tests", "jsonschema-specifications' test suite"),
    ("referencing/tests", "referencing's test suite"),
    # Read by type checkers only; the interpreter never imports a .pyi (``py.typed`` markers are empty).
    ("*.pyi", "type stubs"),
    # pip's install manifest (for uninstall; its hashes no longer match a pruned tree) and install markers.
    # METADATA (``importlib.metadata.version``), entry_points.txt (pydantic's plugins, opentelemetry's
    # context) and the licences stay.
    ("*.dist-info/RECORD", "pip's uninstall manifest"),
    ("*.dist-info/INSTALLER", "pip's install marker"),
    ("*.dist-info/REQUESTED", "pip's install marker"),
    # Bytecode inside a wheel (pip runs with --no-compile): stale or for another interpreter; recompiled below.
    ("__pycache__", "bytecode shipped in a wheel"),
    ("*/__pycache__", "bytecode shipped in a wheel"),
)

#: Installed modules shipped without bytecode (path prefixes relative to the asset root): neither the
#: functions' import nor the request path loads them (``tests/cdk/test_bundling.py`` checks that every
#: module loaded while serving has bytecode), and their sources stay, so a rare path that imports one
#: still works, compiling it in memory. Bytecode shortens the cold start only for modules the import
#: loads; for these it would add about 1 MB to the zip.
SOURCE_ONLY: tuple[str, ...] = (
    # Powertools' resolvers; reached only if a log record holds a pydantic model (its JSON encoder then
    # imports ``event_handler.openapi.compat``).
    "aws_lambda_powertools/event_handler",
    # Powertools utilities the functions do not use (they use parameters, jmespath_utils and typing).
    *(
        f"aws_lambda_powertools/utilities/{name}"
        for name in (
            "auth_alpha",
            "batch",
            "circuit_breaker",
            "data_classes",
            "data_masking",
            "feature_flags",
            "idempotency",
            "kafka",
            "metadata",
            "parser",
            "streaming",
            "validation",
        )
    ),
    # cryptography loads only the ``_cffi_backend`` extension; the cffi package (with its C parser,
    # pycparser) declares C code at build time and is imported by nothing here.
    "cffi",
    "pycparser",
)


def _is_ignored(path: Path) -> bool:
    return any(fnmatch.fnmatch(part, pattern) for part in path.parts for pattern in _IGNORED_NAMES)


@dataclass(frozen=True)
class PythonBundle:
    """What goes into one function's asset, and how its dependencies are installed.

    :param package: the service package under ``lambdas_dir`` (e.g. ``weather``).
    :param lambdas_dir: the folder holding the packages and ``requirements.txt``.
    :param python_version: the Lambda runtime's Python, e.g. ``3.13``.
    :param cpu: ``aarch64`` or ``x86_64``.
    """

    package: str
    lambdas_dir: Path = DEFAULT_LAMBDAS_DIR
    python_version: str = "3.13"
    cpu: str = "aarch64"

    @classmethod
    def for_function(
        cls,
        package: str,
        *,
        runtime: lambda_.Runtime,
        architecture: lambda_.Architecture,
        lambdas_dir: Path | str | None = None,
    ) -> PythonBundle:
        """The bundle for a function with this runtime and CPU architecture."""
        if not runtime.name.startswith("python"):
            raise ValueError(f"the Python bundler cannot build for runtime {runtime.name}")
        if architecture.name not in _CPU:
            raise ValueError(f"unknown Lambda architecture {architecture.name}")
        return cls(
            package=package,
            lambdas_dir=Path(lambdas_dir or DEFAULT_LAMBDAS_DIR).resolve(),
            python_version=runtime.name.removeprefix("python"),
            cpu=_CPU[architecture.name],
        )

    @property
    def packages(self) -> tuple[str, ...]:
        return (RUNTIME_PACKAGE, self.package)

    @property
    def requirements(self) -> Path:
        return self.lambdas_dir / REQUIREMENTS_FILE

    def pip_flags(self) -> list[str]:
        """The pip options that select wheels for the Lambda platform (part of the hash)."""
        flags = [f"--platform={tag}_{self.cpu}" for tag in _MANYLINUX_TAGS]
        return flags + [
            "--implementation=cp",
            f"--python-version={self.python_version}",
            "--only-binary=:all:",
            "--no-compile",
        ]

    def source_files(self) -> list[Path]:
        """The files copied into the asset, relative to ``lambdas_dir``, sorted, bytecode excluded."""
        files: list[Path] = []
        for package in self.packages:
            root = self.lambdas_dir / package
            if not root.is_dir():
                raise FileNotFoundError(f"package directory {root} does not exist")
            files += (p.relative_to(self.lambdas_dir) for p in root.rglob("*") if p.is_file())
        return sorted((f for f in files if not _is_ignored(f)), key=lambda p: p.as_posix())

    def asset_hash(self) -> str:
        """A hash of everything the bundle is built from; independent of where the checkout lives."""
        digest = hashlib.sha256()

        def field(value: str | bytes) -> None:
            data = value.encode() if isinstance(value, str) else value
            digest.update(len(data).to_bytes(8, "big") + data)

        field(f"mcp-python-bundle/{BUNDLER_VERSION}")
        for flag in self.pip_flags():
            field(flag)
        for pattern, _ in PRUNED:
            field(f"prune:{pattern}")
        for prefix in SOURCE_ONLY:
            field(f"source-only:{prefix}")
        field(self.requirements.read_bytes())
        for relative in self.source_files():
            field(relative.as_posix())
            field((self.lambdas_dir / relative).read_bytes())
        return digest.hexdigest()

    def placeholder_hash(self) -> str:
        """The asset hash used under ``mcp:skipBundling``: fixed per package, never a real bundle's."""
        return hashlib.sha256(f"mcp-skipped-bundle/{self.package}".encode()).hexdigest()

    def build(self, output_dir: Path) -> None:
        """Install the dependencies and copy both packages into ``output_dir`` (the asset root)."""
        self._install_requirements(output_dir)
        prune(output_dir)
        for package in self.packages:
            shutil.copytree(
                self.lambdas_dir / package,
                output_dir / package,
                ignore=shutil.ignore_patterns(*_IGNORED_NAMES),
                dirs_exist_ok=True,
            )
        self._compile(output_dir)

    def _install_requirements(self, output_dir: Path) -> None:
        if not _has_requirements(self.requirements):
            return
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        command += self.pip_flags() + ["--target", str(output_dir), "-r", str(self.requirements)]
        result = subprocess.run(command, stdout=sys.stderr, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"pip install for the {self.package} bundle failed: {' '.join(command)}")
        # Console scripts carry this machine's interpreter path and are useless in Lambda.
        shutil.rmtree(output_dir / "bin", ignore_errors=True)

    def _compile(self, output_dir: Path) -> None:
        # /var/task is read-only, so without shipped bytecode every cold start compiles every import.
        # Unchecked-hash .pyc files are valid although the zip resets the sources' modification times.
        # The interpreter is not part of the asset hash, so the hash stays machine-independent.
        if f"{sys.version_info.major}.{sys.version_info.minor}" != self.python_version:
            return  # this interpreter's bytecode would not be used by the Lambda runtime
        # A subprocess, not compileall's process pool: its workers would re-import the CDK app.
        # ``-o 0``: only the bytecode the runtime loads (no -O/-OO), whatever PYTHONOPTIMIZE says here.
        command = [sys.executable, "-m", "compileall", "-q", "-q", "-j", "0", "-o", "0"]
        command += ["-x", _source_only_pattern(output_dir)]
        command += ["--invalidation-mode", "unchecked-hash", str(output_dir)]
        subprocess.run(command, stdout=sys.stderr, check=False)  # a file that fails to compile stays source-only


def prune(output_dir: Path) -> list[str]:
    """Remove what :data:`PRUNED` lists from ``output_dir``; the removed paths, relative, sorted."""
    patterns = [pattern for pattern, _ in PRUNED]
    removed: list[str] = []
    for root, dirs, files in os.walk(output_dir):
        base = Path(root).relative_to(output_dir)
        for name in list(dirs):
            relative = (base / name).as_posix()
            if any(fnmatch.fnmatchcase(relative, pattern) for pattern in patterns):
                shutil.rmtree(Path(root) / name)
                dirs.remove(name)
                removed.append(relative + "/")
        for name in files:
            relative = (base / name).as_posix()
            if any(fnmatch.fnmatchcase(relative, pattern) for pattern in patterns):
                (Path(root) / name).unlink()
                removed.append(relative)
    return sorted(removed)


def _source_only_pattern(output_dir: Path) -> str:
    """compileall's ``-x`` regular expression (searched in each file's full path) for :data:`SOURCE_ONLY`."""
    separator = r"[/\\]"
    prefixes = "|".join(separator.join(map(re.escape, prefix.split("/"))) for prefix in SOURCE_ONLY)
    return f"^{re.escape(str(output_dir))}{separator}(?:{prefixes})(?:{separator}|\\.py$)"


def _has_requirements(path: Path) -> bool:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return any(lines)


@dataclass(frozen=True)
class BundleSize:
    """What one asset weighs: Lambda limits the unzipped size of a function's code to 250 MB."""

    files: int
    bytecode_files: int
    unzipped_bytes: int
    zipped_bytes: int

    def describe(self, package: str) -> str:
        return (
            f"{package} bundle: {self.unzipped_bytes / _MIB:.1f} MiB unzipped ({self.files} files, "
            f"{self.bytecode_files} .pyc), {self.zipped_bytes / _MIB:.1f} MiB zipped; "
            f"Lambda allows {LAMBDA_UNZIPPED_LIMIT_BYTES / _MIB:.0f} MiB unzipped"
        )


#: Lambda's limit on a function's unzipped code (layers included).
LAMBDA_UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024

_MIB = 1024 * 1024
_measured: dict[Path, BundleSize] = {}


def measure_bundle(directory: Path) -> BundleSize:
    """Sizes of a bundle directory, zipped as CDK zips assets (deflate); cached per directory."""
    directory = directory.resolve()
    if directory not in _measured:
        files = sorted(p for p in directory.rglob("*") if p.is_file())
        with tempfile.TemporaryFile() as sink:
            with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for path in files:
                    archive.write(path, path.relative_to(directory).as_posix())
            zipped = sink.tell()
        _measured[directory] = BundleSize(
            files=len(files),
            bytecode_files=sum(1 for p in files if p.suffix == ".pyc"),
            unzipped_bytes=sum(p.stat().st_size for p in files),
            zipped_bytes=zipped,
        )
    return _measured[directory]


def _report_size(scope: Construct, bundle: PythonBundle, directory: Path) -> None:
    """The bundle's size as an info annotation on ``scope`` (and an error past Lambda's limit)."""
    size = measure_bundle(directory)
    message = size.describe(bundle.package)
    print(f"[bundle] {message}", file=sys.stderr)
    if size.unzipped_bytes > LAMBDA_UNZIPPED_LIMIT_BYTES:
        Annotations.of(scope).add_error(f"{message}: too large to deploy")
    else:
        Annotations.of(scope).add_info(message)


@jsii.implements(ILocalBundling)
class LocalPythonBundler:
    """CDK's hook into :class:`PythonBundle`: bundles in-process, so Docker is never started."""

    def __init__(self, bundle: PythonBundle, scope: Construct | None = None) -> None:
        self._bundle = bundle
        self._scope = scope

    def try_bundle(self, output_dir: str, options: Any) -> bool:
        self._bundle.build(Path(output_dir))
        if self._scope is not None:
            _report_size(self._scope, self._bundle, Path(output_dir))
        return True


def bundled_code(scope: Construct, bundle: PythonBundle) -> lambda_.Code:
    """The Lambda code for ``bundle``, honouring ``mcp:skipBundling`` from the CDK context."""
    if _truthy(scope.node.try_get_context(SKIP_BUNDLING_CONTEXT)):
        Annotations.of(scope).add_warning_v2(
            "mcp:bundlingSkipped",
            f"{SKIP_BUNDLING_CONTEXT} is set: the {bundle.package} asset has no runtime or dependencies; do not deploy it",
        )
        return lambda_.Code.from_asset(
            str(bundle.lambdas_dir / bundle.package),
            asset_hash_type=AssetHashType.CUSTOM,
            asset_hash=bundle.placeholder_hash(),
            exclude=list(_IGNORED_NAMES),
        )
    asset_hash = bundle.asset_hash()
    # A bundle already staged by an earlier synth is reused without bundling: report its size from there.
    staged = Path(Stage.of(scope).asset_outdir) / f"asset.{asset_hash}"
    if staged.is_dir() and _bundling_requested(scope):
        _report_size(scope, bundle, staged)
    return lambda_.Code.from_asset(
        str(bundle.lambdas_dir),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=asset_hash,
        bundling=BundlingOptions(
            # Only used if the local bundler declined, which it never does; CDK requires an image.
            image=DockerImage.from_registry(f"public.ecr.aws/sam/build-python{bundle.python_version}"),
            local=LocalPythonBundler(bundle, scope),
        ),
    )


def _bundling_requested(scope: Construct) -> bool:
    """Whether CDK bundles assets of ``scope``'s stack in this synth (``cdk deploy Other`` skips it)."""
    stacks = scope.node.try_get_context("aws:cdk:bundling-stacks")
    if stacks is None:
        return True
    name = Stack.of(scope).stack_name
    return any(pattern in ("**", "*") or fnmatch.fnmatch(name, pattern) for pattern in stacks)


def _truthy(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in {"true", "1", "yes"})
