"""An execution environment's file system laid out as Lambda's Python 3.13 runtime lays it out, read-only.

- `lang/` is Lambda's `/var/lang`: this machine's interpreter and standard library, copied because the
  interpreter lives under `/root`, which the function's user cannot enter (its `libpython` is found through
  `LD_LIBRARY_PATH`, whose documented value on Lambda starts with `/var/lang/lib`). Its `site-packages` is empty.
- `runtime/` is Lambda's `/var/runtime` (`LAMBDA_RUNTIME_DIR`, on `PYTHONPATH`): the runtime interface client
  (awslambdaric with its requirements simplejson and snapshot-restore-py), and the AWS SDK that Lambda's Python
  runtime provides and bundles therefore do not ship (boto3, botocore and their requirements, at the versions
  of this virtualenv).
- `task/<asset hash>/` is a function's `/var/task` (`LAMBDA_TASK_ROOT`): its bundle, built by the project's own
  bundler for this machine's CPU, once per asset hash (functions with the same inputs share it).

Everything is owned by root and writable by nobody, and the functions run as another user (`nobody`) when the
tests run as root, so a bundle that writes next to its code, or needs a file only its builder can read, fails
here as it fails on Lambda. A session not running as root cannot switch users: the functions then run as the
session's own user from the same read-only tree (`function_user()` says which).
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from importlib import metadata
from pathlib import Path

from mcp_lambda_cdk.bundling import PythonBundle

RIC_VERSION = "4.2.2"
#: The runtime interface client and what it requires, pinned; then the AWS SDK at this virtualenv's versions.
RUNTIME_CLIENT = (f"awslambdaric=={RIC_VERSION}", "simplejson==4.3.0", "snapshot-restore-py==1.0.0")
AWS_SDK = ("boto3", "botocore", "jmespath", "s3transfer", "urllib3", "python-dateutil", "six")
#: Standard-library parts no function imports: the test suite, IDLE, Tk, the build configuration, pip's installer.
_STDLIB_LEFT_OUT = ("test", "idlelib", "tkinter", "turtledemo", "ensurepip", "config-3.*", "site-packages")
FUNCTION_USER = "nobody"


def function_user() -> tuple[int, int] | None:
    """The (uid, gid) the functions run as: `nobody` when this process may switch users, else None (itself)."""
    if os.geteuid() != 0:
        return None
    entry = pwd.getpwnam(FUNCTION_USER)
    return entry.pw_uid, entry.pw_gid


class RuntimeImage:
    """The read-only tree: `lang`, `runtime` and one `task/<hash>` per bundle."""

    def __init__(self) -> None:
        # In the system's temporary directory, which every user may enter (pytest's own is its user's only).
        self.root = Path(tempfile.mkdtemp(prefix="mcp-lambda-image-"))
        self.root.chmod(0o755)  # mkdtemp makes it 0700: the function's user must reach what is inside
        self.lang = self.root / "lang"
        self.runtime = self.root / "runtime"
        self.tasks = self.root / "task"
        self._copy_interpreter()
        self._install_runtime_client()
        self.tasks.mkdir()
        self.tasks.chmod(0o755)

    @property
    def python(self) -> Path:
        return self.lang / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"

    def task_root(self, bundle: PythonBundle) -> Path:
        """The read-only `/var/task` of `bundle`, built on first use."""
        root = self.tasks / bundle.asset_hash()
        if not root.exists():
            work = Path(tempfile.mkdtemp(prefix="build-", dir=self.tasks))
            work.chmod(0o755)
            bundle.build(work)
            work.rename(root)
            read_only(root)
        return root

    def add_file(self, name: str, content: str) -> Path:
        """A read-only file of the image (a CA bundle the functions trust, say)."""
        path = self.root / name
        path.write_text(content)
        path.chmod(0o444)
        return path

    def close(self) -> None:
        if os.geteuid() != 0:  # removing a file takes write permission on its directory (root needs none)
            for path in [self.root, *self.root.rglob("*")]:
                if path.is_dir() and not path.is_symlink():
                    path.chmod(path.stat().st_mode | stat.S_IWUSR)
        shutil.rmtree(self.root, ignore_errors=True)

    def _copy_interpreter(self) -> None:
        base = Path(sys.base_prefix)
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        (self.lang / "bin").mkdir(parents=True)
        shutil.copy2(Path(sys._base_executable).resolve(), self.python)  # type: ignore[attr-defined]
        library = sysconfig.get_config_var("INSTSONAME")  # libpython, for a shared build (found by LD_LIBRARY_PATH)
        (self.lang / "lib").mkdir()
        if library and (base / "lib" / library).exists():
            shutil.copy2(base / "lib" / library, self.lang / "lib" / library)
        shutil.copytree(base / "lib" / version, self.lang / "lib" / version,
                        ignore=shutil.ignore_patterns(*_STDLIB_LEFT_OUT))
        (self.lang / "lib" / version / "site-packages").mkdir()
        read_only(self.lang)

    def _install_runtime_client(self) -> None:
        sdk = [f"{name}=={metadata.version(name)}" for name in AWS_SDK]
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                        "--only-binary=:all:", "--target", str(self.runtime), *RUNTIME_CLIENT, *sdk],
                       check=True, stdout=sys.stderr)
        shutil.rmtree(self.runtime / "bin", ignore_errors=True)
        read_only(self.runtime)


def read_only(root: Path) -> None:
    """No write permission for anyone on `root` and everything under it (root keeps its own way in)."""
    for path in [*root.rglob("*"), root]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
