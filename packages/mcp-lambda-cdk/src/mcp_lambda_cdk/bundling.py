"""One Lambda asset per function, built on this machine without Docker.

Why this module exists: every function ships its server's folder (``servers/weather/``, plus the sibling
packages it imports) and its dependencies built for the Lambda CPU: the runtime distribution
(``mcp-lambda-runtime``, a requirement like any other) with the pinned closure of
:data:`CONSTRAINTS`, and whatever the folder's own ``requirements.txt`` adds. pip can fetch wheels for a
foreign platform directly, so the build needs neither Docker nor an arm64 machine. A function whose handler
is the runtime's own (the authorization server, ``mcp_lambda.authorization.handler.handler``) ships no folder:
its bundle is the runtime with the extra that handler needs (``PythonBundle.for_runtime``).

Why a wheelhouse: a requirement installed here from a local source rather than an index (the runtime in
an editable checkout, or from a wheel file before it is published) is given to pip as a wheel of that
source, so the function gets exactly the code this machine runs; everything else comes from the index.

Why a custom asset hash: CDK's default source hash would cover the whole folder tree (tests, other
services, ``__pycache__``) and an output hash would need a bundle on every synth. The hash here covers
exactly what goes into the asset -- the relative paths and contents of the shipped packages, the
requirements and constraints, each local source's files (or its wheel's hash), the pip flags and the
pruning lists -- so it is identical across runs and checkouts, changes when (and only when) the
function's code, dependencies or pruning change, and lets CDK reuse ``cdk.out/asset.<hash>``.

Why two ways to skip bundling: CDK itself skips it for stacks outside ``aws:cdk:bundling-stacks``
(``cdk deploy OtherStack``), keeping the real hash. The context flag ``mcp:skipBundling=true`` is for
tests: the asset is the bare server folder under a placeholder hash that does not depend on the
source, so a stack's snapshot changes when the infrastructure changes, not with every edit to a handler.
Never deploy a stack synthesized that way; the function would lack its runtime and dependencies.

Why prune: the wheels bring an ASGI server, test suites, type stubs and web assets that a Lambda function
never loads, and bytecode for modules it never imports. :data:`PRUNED` and :data:`SOURCE_ONLY` list them,
each with the reason it is safe; what the functions import ships, with its bytecode.
"""

from __future__ import annotations

import ast
import fnmatch
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jsii
from aws_cdk import Annotations, AssetHashType, BundlingOptions, DockerImage, ILocalBundling, Stack, Stage
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

#: Bump when the layout of the bundle changes in a way the hashed inputs do not show (the entries of
#: :data:`PRUNED` and :data:`SOURCE_ONLY` are hashed). 3: the runtime installed as a distribution.
BUNDLER_VERSION = "3"

#: Context key that replaces the bundle by the bare server folder (tests only).
SKIP_BUNDLING_CONTEXT = "mcp:skipBundling"

#: The distribution every function installs: the Lambda runtime, in the version of these constructs.
RUNTIME_DISTRIBUTION = "mcp-lambda-runtime"

#: The import package of :data:`RUNTIME_DISTRIBUTION`.
RUNTIME_PACKAGE = "mcp_lambda"

#: The pinned dependency closure of the runtime on Lambda (a pip constraints file): a bundle's third-party
#: packages follow from it, whenever and wherever the bundle is built.
CONSTRAINTS = Path(__file__).resolve().parent / "lambda-constraints.txt"

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
#: boto3/botocore are not pruned because nothing installs them: :data:`CONSTRAINTS` does not pull
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
    # The runtime's local server (``mcp-lambda serve``: an HTTP server, an embedded database, a development
    # issuer); a function is Lambda's, never local.
    ("mcp_lambda/local", "the runtime's local development server"),
    # Console scripts: carry this machine's interpreter path, and Lambda runs none.
    ("bin", "console scripts"),
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


def runtime_requirement(extras: tuple[str, ...] = ()) -> str:
    """The runtime this machine has, pinned: the constructs deploy what they were installed with. ``extras``:
    its optional parts to install too (``authorization``: the authorization server's Authlib; ``tracing``: the
    OpenTelemetry SDK and exporter)."""
    selected = f"[{','.join(extras)}]" if extras else ""
    return f"{RUNTIME_DISTRIBUTION}{selected}=={metadata.version(RUNTIME_DISTRIBUTION)}"


def imported_siblings(root: Path, package: str) -> tuple[str, ...]:
    """``package`` and the other packages of ``root`` it imports, directly or through one another.

    A server may reuse code from a sibling folder (``secure_messaging`` imports ``messaging.store``); those
    folders are shipped with it. Found by reading the import statements, not by importing anything.
    """
    siblings = {p.name for p in root.iterdir() if p.is_dir() and p.name.isidentifier() and not _is_ignored(Path(p.name))}
    found = [package]
    for current in found:
        for source in sorted((root / current).rglob("*.py")):
            if _is_ignored(source.relative_to(root)):
                continue
            for node in ast.walk(ast.parse(source.read_bytes(), filename=str(source))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in siblings and top not in found:
                        found.append(top)
    return (found[0], *sorted(found[1:]))


@dataclass(frozen=True)
class LocalSource:
    """A requirement installed on this machine from a local source (PEP 610 ``direct_url.json``): an
    editable or path install of a project directory, or a wheel file. pip gets it from a wheelhouse."""

    name: str
    path: Path
    is_wheel: bool
    wheel_hash: str | None = None

    @classmethod
    def find(cls, name: str) -> LocalSource | None:
        try:
            text = metadata.distribution(name).read_text("direct_url.json")
        except metadata.PackageNotFoundError:
            return None
        if not text:
            return None  # installed from an index: pip finds the same version there
        direct = json.loads(text)
        url = urlsplit(direct.get("url", ""))
        if url.scheme != "file":
            return None
        path = Path(unquote(url.path))
        archive = direct.get("archive_info")
        if archive is not None:
            hashes = archive.get("hashes") or {}
            return cls(name, path, True, hashes.get("sha256") or archive.get("hash"))
        return cls(name, path, False) if path.is_dir() else None

    def fingerprint(self) -> bytes:
        """What the asset hash covers: the wheel's hash, or the project's files (paths and contents)."""
        if self.is_wheel:
            return f"wheel:{self.wheel_hash or self.path.name}".encode()
        digest = hashlib.sha256()
        for path in sorted(p for p in self.path.rglob("*") if p.is_file()):
            relative = path.relative_to(self.path)
            if _is_ignored(relative) or relative.parts[0] in _BUILD_OUTPUTS or ".egg-info" in str(relative):
                continue
            for part in (relative.as_posix().encode(), path.read_bytes()):
                digest.update(len(part).to_bytes(8, "big") + part)
        return f"project:{digest.hexdigest()}".encode()

    def add_to(self, wheelhouse: Path) -> None:
        if self.is_wheel:
            if self.path.is_file():
                shutil.copy2(self.path, wheelhouse)
            return  # gone since it was installed: pip looks in PIP_FIND_LINKS and the index
        command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps",
                   "--wheel-dir", str(wheelhouse), str(self.path)]
        if subprocess.run(command, stdout=sys.stderr, check=False).returncode != 0:
            raise RuntimeError(f"building a wheel of {self.name} from {self.path} failed: {' '.join(command)}")


# Left out of a local project's fingerprint: what building or installing it writes into its directory.
_BUILD_OUTPUTS = ("build", "dist")
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class PythonBundle:
    """What goes into one function's asset, and how its dependencies are installed.

    :param folder: the server's folder (e.g. ``servers/weather``); the packages are shipped from its parent.
    :param requirements: the requirement lines pip installs under ``constraints``.
    :param constraints: the pip constraints file pinning the closure. Default: :data:`CONSTRAINTS`.
    :param python_version: the Lambda runtime's Python, e.g. ``3.13``.
    :param cpu: ``aarch64`` or ``x86_64``.
    :param ships_folder: copy the folder's packages into the asset. False for a function whose handler is in
        the requirements (``for_runtime``): the folder is then only the placeholder of skipped bundling.
    """

    folder: Path
    requirements: tuple[str, ...] = ()
    constraints: Path | None = CONSTRAINTS
    python_version: str = "3.13"
    cpu: str = "aarch64"
    ships_folder: bool = True

    @classmethod
    def for_server(
        cls, folder: Path | str, *, runtime: lambda_.Runtime, architecture: lambda_.Architecture,
        extras: tuple[str, ...] = (),
    ) -> PythonBundle:
        """The bundle of the server in ``folder`` for a function with this runtime and CPU architecture:
        the runtime distribution (with ``extras``: ``tracing`` for a traced service) plus the folder's own
        ``requirements.txt``."""
        _check_platform(runtime, architecture)
        folder = Path(folder).resolve()
        own = folder / "requirements.txt"
        requirements = [runtime_requirement(tuple(extras))]
        if own.is_file():
            requirements += [line for line in (_strip(raw) for raw in own.read_text().splitlines()) if line]
        return cls(
            folder=folder,
            requirements=tuple(requirements),
            python_version=runtime.name.removeprefix("python"),
            cpu=_CPU[architecture.name],
        )

    @classmethod
    def for_runtime(
        cls,
        subpackage: str,
        *,
        extras: tuple[str, ...] = (),
        runtime: lambda_.Runtime,
        architecture: lambda_.Architecture,
    ) -> PythonBundle:
        """The bundle of a function whose handler is the runtime's own ``mcp_lambda.<subpackage>`` (the
        authorization server: ``subpackage="authorization"``, ``extras=("authorization",)``): the runtime
        distribution with ``extras`` and nothing of ours, so the function runs exactly the installed release.

        The subpackage's folder names the bundle and, under ``mcp:skipBundling``, is its placeholder asset;
        it is never copied into a real bundle (pip installs it with the runtime). It is found without
        importing anything, so synthesizing needs no extra installed here.
        """
        _check_platform(runtime, architecture)
        spec = importlib.util.find_spec(RUNTIME_PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(f"the runtime package {RUNTIME_PACKAGE} is not installed")
        folder = Path(next(iter(spec.submodule_search_locations))).resolve() / subpackage
        if not (folder / "__init__.py").is_file():
            raise FileNotFoundError(f"the runtime has no package {RUNTIME_PACKAGE}.{subpackage} (at {folder})")
        return cls(
            folder=folder,
            requirements=(runtime_requirement(tuple(extras)),),
            python_version=runtime.name.removeprefix("python"),
            cpu=_CPU[architecture.name],
            ships_folder=False,
        )

    @property
    def package(self) -> str:
        return self.folder.name

    @property
    def root(self) -> Path:
        """Where the shipped packages live: the server folder's parent."""
        return self.folder.parent

    @cached_property
    def packages(self) -> tuple[str, ...]:
        """The server's package and the sibling packages it imports (none when the folder is not shipped)."""
        if not self.folder.is_dir():
            raise FileNotFoundError(f"server folder {self.folder} does not exist")
        if not self.ships_folder:
            return ()
        return imported_siblings(self.root, self.package)

    @cached_property
    def local_sources(self) -> tuple[LocalSource, ...]:
        """The requirements this machine installed from local sources (the runtime in a checkout)."""
        names = (m.group(1) for m in map(_REQUIREMENT_NAME.match, self.requirements) if m)
        return tuple(source for source in map(LocalSource.find, names) if source is not None)

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
        """The files copied into the asset, relative to ``root``, sorted, bytecode excluded."""
        files: list[Path] = []
        for package in self.packages:
            files += (p.relative_to(self.root) for p in (self.root / package).rglob("*") if p.is_file())
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
        for requirement in self.requirements:
            field(f"requirement:{requirement}")
        field(self.constraints.read_bytes() if self.constraints is not None else b"no constraints")
        for source in self.local_sources:
            field(f"local:{source.name}")
            field(source.fingerprint())
        for relative in self.source_files():
            field(relative.as_posix())
            field((self.root / relative).read_bytes())
        return digest.hexdigest()

    def placeholder_hash(self) -> str:
        """The asset hash used under ``mcp:skipBundling``: fixed per package, never a real bundle's."""
        return hashlib.sha256(f"mcp-skipped-bundle/{self.package}".encode()).hexdigest()

    def build(self, output_dir: Path) -> None:
        """Install the requirements and copy the packages into ``output_dir`` (the asset root)."""
        self._install_requirements(output_dir)
        prune(output_dir)
        for package in self.packages:
            shutil.copytree(
                self.root / package,
                output_dir / package,
                ignore=shutil.ignore_patterns(*_IGNORED_NAMES),
                dirs_exist_ok=True,
            )
        self._compile(output_dir)

    def pip_install_command(self, output_dir: Path, requirements_file: Path, wheelhouse: Path) -> list[str]:
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        command += self.pip_flags() + ["--target", str(output_dir), "--find-links", str(wheelhouse)]
        if self.constraints is not None:
            command += ["--constraint", str(self.constraints)]
        return command + ["--requirement", str(requirements_file)]

    def _install_requirements(self, output_dir: Path) -> None:
        if not self.requirements:
            return
        with tempfile.TemporaryDirectory(prefix="mcp-bundle-") as work:
            wheelhouse = Path(work) / "wheelhouse"
            wheelhouse.mkdir()
            for source in self.local_sources:
                source.add_to(wheelhouse)
            requirements_file = Path(work) / "requirements.txt"
            requirements_file.write_text("\n".join(self.requirements) + "\n")
            command = self.pip_install_command(output_dir, requirements_file, wheelhouse)
            result = subprocess.run(command, stdout=sys.stderr, check=False)
            if result.returncode != 0:
                raise RuntimeError(f"pip install for the {self.package} bundle failed: {' '.join(command)}")

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


def _check_platform(runtime: lambda_.Runtime, architecture: lambda_.Architecture) -> None:
    if not runtime.name.startswith("python"):
        raise ValueError(f"the Python bundler cannot build for runtime {runtime.name}")
    if architecture.name not in _CPU:
        raise ValueError(f"unknown Lambda architecture {architecture.name}")


def _strip(line: str) -> str:
    return line.split("#", 1)[0].strip()


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
            str(bundle.folder),
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
        str(bundle.root),
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
