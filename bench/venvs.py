"""Virtual environments under bench/.venvs/ (git-ignored), one per runtime, built from pinned requirements.

Each peer gets its own so that no package leaks between them (two of them ship a top-level `mcp_lambda`,
and mcpengine needs an older pydantic), and so that each one's installed size is its own. They are built
with the interpreter that runs the harness (the project's Python 3.13) and rebuilt only when their
requirements file changes.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENVS = ROOT / "bench" / ".venvs"
# What pip and venv put in every environment: not the function's dependencies.
NOT_DEPENDENCIES = ("pip", "setuptools", "_distutils_hack", "distutils-precedence.pth")


def python(name: str) -> Path:
    return VENVS / name / "bin" / "python"


def site_packages(name: str) -> Path:
    return next((VENVS / name / "lib").glob("python3*/site-packages"))


def ensure(name: str, requirements: Path) -> None:
    """Build bench/.venvs/<name> from `requirements` unless the stamp says it already was."""
    venv = VENVS / name
    stamp = venv / ".installed"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    shutil.rmtree(venv, ignore_errors=True)
    print(f"[bench] building {venv.relative_to(ROOT)} from {requirements.relative_to(ROOT)}", flush=True)
    for command in ([sys.executable, "-m", "venv", str(venv)],
                    [str(python(name)), "-m", "pip", "install", "--quiet", "-r", str(requirements)]):
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            raise SystemExit(f"building {venv} failed: {' '.join(command)}\n{done.stdout}{done.stderr}")
    stamp.write_text(digest)


def ensure_all(wanted: dict[str, Path]) -> None:
    """Build the missing environments side by side (pip mostly waits on downloads)."""
    with ThreadPoolExecutor(max_workers=len(wanted)) as pool:
        for future in [pool.submit(ensure, name, requirements) for name, requirements in wanted.items()]:
            future.result()


def dependencies_size(name: str) -> int:
    """Bytes installed in the environment's site-packages, bytecode included, pip and setuptools excluded."""
    total = 0
    for entry in site_packages(name).iterdir():
        if entry.name.split("-")[0] in NOT_DEPENDENCIES or entry.name in NOT_DEPENDENCIES:
            continue
        files = [entry] if entry.is_file() else [p for p in entry.rglob("*") if p.is_file()]
        total += sum(p.stat().st_size for p in files)
    return total
