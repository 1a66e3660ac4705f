"""`--claude`: the NAME entry of Claude Desktop's configuration, launching this proxy over stdio.

The file (`claude_desktop_config.json`) is found per OS, or named by --claude-config or
`$MCP_LAMBDA_PROXY_CLAUDE_CONFIG`. Every other entry and key is kept as it is; before the file is
changed it is copied to `claude_desktop_config.json.<timestamp>.bak`, and the new content replaces it
atomically with the same permissions. Writing an entry identical to the one present changes nothing
(and makes no backup). The entry never holds a client secret: `--claude` puts it in the credential
store, where the proxy finds it by NAME and client ID.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

CLAUDE_CONFIG_ENV = "MCP_LAMBDA_PROXY_CLAUDE_CONFIG"
FILE_NAME = "claude_desktop_config.json"


class ClaudeConfigError(Exception):
    """The configuration file cannot be read or written safely."""


def default_config_path() -> Path:
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Claude" / FILE_NAME
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming") / "Claude" / FILE_NAME
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "Claude" / FILE_NAME


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    chosen = explicit or os.environ.get(CLAUDE_CONFIG_ENV)
    return Path(chosen).expanduser() if chosen else default_config_path()


def launcher_environment() -> dict[str, str]:
    """Environment the entry needs so `python -m mcp_lambda_proxy` imports this copy of the package.

    Nothing when the package is installed in the interpreter's site-packages; the source tree's root
    on PYTHONPATH when it runs from a checkout (Claude Desktop starts commands in its own directory).
    """
    package_root = Path(__file__).resolve().parent.parent
    if any(part in ("site-packages", "dist-packages") for part in package_root.parts):
        return {}
    return {"PYTHONPATH": str(package_root)}


def proxy_entry(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """The `mcpServers` entry: the absolute interpreter path, `-m mcp_lambda_proxy`, then `args`."""
    entry: dict[str, Any] = {"command": str(Path(sys.executable).absolute()), "args": ["-m", "mcp_lambda_proxy", *args]}
    if env:
        entry["env"] = dict(env)
    return entry


@dataclass
class ClaudeUpdate:
    path: Path
    changed: bool
    created: bool
    backup: Path | None


def install_entry(path: Path, name: str, entry: dict[str, Any], *, now: datetime | None = None) -> ClaudeUpdate:
    """Add or replace `mcpServers[name]` in the file at `path`, keeping everything else."""
    existing: str | None
    try:
        existing = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        existing = None
    except OSError as exc:
        raise ClaudeConfigError(f"cannot read {path}: {exc.strerror or exc}") from None

    if existing is None or not existing.strip():
        data: dict[str, Any] = {}
    else:
        try:
            data = json.loads(existing)
        except ValueError as exc:
            raise ClaudeConfigError(f"{path} is not valid JSON ({exc}); fix or move it, then run again") from None
        if not isinstance(data, dict):
            raise ClaudeConfigError(f"{path} does not hold a JSON object; fix or move it, then run again")
    servers = data.setdefault("mcpServers", {})
    if not isinstance(servers, dict):
        raise ClaudeConfigError(f'"mcpServers" in {path} is not a JSON object; fix it, then run again')
    if servers.get(name) == entry:
        return ClaudeUpdate(path, changed=False, created=False, backup=None)
    servers[name] = entry

    backup = None
    if existing is not None:
        backup = _backup_path(path, now or datetime.now())
        shutil.copy2(path, backup)
    _write_atomically(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return ClaudeUpdate(path, changed=True, created=existing is None, backup=backup)


def _backup_path(path: Path, now: datetime) -> Path:
    stamp = now.strftime("%Y%m%d-%H%M%S")
    candidate = path.with_name(f"{path.name}.{stamp}.bak")
    counter = 1
    while candidate.exists():
        counter += 1
        candidate = path.with_name(f"{path.name}.{stamp}-{counter}.bak")
    return candidate


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = 0o600
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(OSError):
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
