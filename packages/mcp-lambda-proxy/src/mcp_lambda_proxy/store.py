"""Where sign-in state lives, and the lock that lets several proxy processes share it.

One record per server NAME (the name given on the command line):

- `url`: the server the record belongs to; a record for another URL is ignored (tokens are bound to
  their resource).
- `client`: the OAuth client (dynamically registered, a client ID metadata document, or pre-registered
  with --client-id), without its secret.
- `tokens`: token type, scope, lifetime and the absolute `expires_at`, without the tokens themselves.
- `metadata`: the protected resource and authorization server metadata discovered at the last sign-in,
  so a later process can refresh at the right token endpoint without rediscovering first.
- secrets: `access_token`, `refresh_token`, `id_token` and `client_secret`. They go to the OS keychain
  through the optional `keyring` package when a usable keychain exists, else into the record itself.

The file is `<config dir>/credentials.json`, mode 0600 in a 0700 directory, replaced atomically on
every write. Every read-modify-write, and every sign-in or refresh (see auth.py), runs under one lock
shared by all processes: `<config dir>/credentials.lock`, held with `fcntl.flock` on POSIX,
`msvcrt.locking` on Windows, or an exclusively created lock file where neither exists.

Nothing here prints or logs a secret.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
try:  # Windows
    import msvcrt
except ImportError:
    msvcrt = None  # type: ignore[assignment]

log = logging.getLogger("mcp_lambda_proxy.store")

APP_DIR_NAME = "mcp-lambda-proxy"
CONFIG_DIR_ENV = "MCP_LAMBDA_PROXY_CONFIG_DIR"
STORE_ENV = "MCP_LAMBDA_PROXY_STORE"
KEYRING_SERVICE = "mcp-lambda-proxy"
SECRET_KEYS = ("access_token", "refresh_token", "id_token", "client_secret")
FORMAT = 1


class StoreError(Exception):
    """The credential store cannot be read, written or locked."""


def config_dir() -> Path:
    """`$MCP_LAMBDA_PROXY_CONFIG_DIR`, else the platform's per-user configuration directory."""
    explicit = os.environ.get(CONFIG_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / APP_DIR_NAME


def ensure_private_directory(directory: Path) -> None:
    """Create `directory` (and its parents) readable only by the user, if it does not exist."""
    if directory.is_dir():
        return
    directory.mkdir(parents=True, mode=0o700, exist_ok=True)
    with contextlib.suppress(OSError):
        os.chmod(directory, 0o700)


# --- the cross-process lock -------------------------------------------------------------------------


class FileLock:
    """An exclusive lock shared by every process that uses `path`.

    Async (the OS lock is polled without blocking, so waiting stays cancellable) and re-entrant within
    one task, so a sign-in holding it can write the store. Create it inside the event loop that uses it.
    """

    def __init__(self, path: Path, *, timeout: float = 600.0, poll: float = 0.05) -> None:
        self.path = path
        self.timeout = timeout
        self.poll = poll
        self._local = anyio.Lock()
        self._owner: int | None = None
        self._depth = 0
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._owner is not None and self._owner == anyio.get_current_task().id

    async def __aenter__(self) -> FileLock:
        me = anyio.get_current_task().id
        if self._owner == me:
            self._depth += 1
            return self
        await self._local.acquire()
        try:
            await self._acquire_os_lock()
        except BaseException:
            self._local.release()
            raise
        self._owner, self._depth = me, 1
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth:
            return
        self._owner = None
        try:
            self._release_os_lock()
        finally:
            self._local.release()

    async def _acquire_os_lock(self) -> None:
        ensure_private_directory(self.path.parent)
        deadline = time.monotonic() + self.timeout
        while True:
            if self._try_os_lock():
                return
            if time.monotonic() > deadline:
                raise StoreError(f"another mcp-lambda-proxy has held {self.path} for over {self.timeout:.0f}s")
            await anyio.sleep(self.poll)

    def _try_os_lock(self) -> bool:
        if fcntl is not None or msvcrt is not None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                else:  # pragma: no cover - Windows
                    msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            except OSError:
                os.close(fd)
                return False
            self._fd = fd
            return True
        # Neither: an exclusively created marker file; one left by a crashed process expires.
        marker = self.path.with_suffix(".lock-held")
        try:
            fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            with contextlib.suppress(OSError):
                if time.time() - marker.stat().st_mtime > self.timeout:
                    marker.unlink()
            return False
        os.close(fd)
        self._fd = -1
        return True

    def _release_os_lock(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if fd == -1:
            with contextlib.suppress(OSError):
                self.path.with_suffix(".lock-held").unlink()
            return
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
            elif msvcrt is not None:  # pragma: no cover - Windows
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        finally:
            os.close(fd)


# --- where the secrets go ---------------------------------------------------------------------------


def keyring_backend() -> Any | None:
    """The `keyring` module when it is installed and has a real (non-failing) backend, else None."""
    try:
        import keyring  # optional dependency
        import keyring.errors  # noqa: F401
    except ImportError:
        return None
    try:
        backend = keyring.get_keyring()
    except Exception:  # a broken keyring configuration is treated as "no keychain"
        return None
    module = type(backend).__module__
    if module.endswith((".fail", ".null")) or getattr(backend, "priority", 1) <= 0:
        return None
    return keyring


class CredentialStore:
    """Records per server name; secrets in the OS keychain or in the 0600 file (see the module docstring)."""

    def __init__(self, directory: Path | None = None, *, backend: str | None = None, lock_timeout: float = 600.0):
        self.directory = directory or config_dir()
        self.path = self.directory / "credentials.json"
        choice = (backend or os.environ.get(STORE_ENV) or "auto").lower()
        if choice not in ("auto", "keyring", "file"):
            raise StoreError(f"unknown credential store {choice!r}: use auto, keyring or file")
        self._keyring = keyring_backend() if choice in ("auto", "keyring") else None
        if choice == "keyring" and self._keyring is None:
            raise StoreError("no usable OS keychain: install the `keyring` package, or use --store file")
        self.lock = FileLock(self.directory / "credentials.lock", timeout=lock_timeout)

    @property
    def backend(self) -> str:
        return "keyring" if self._keyring is not None else "file"

    def describe(self) -> str:
        return f"{self.path}" + (" (secrets in the OS keychain)" if self._keyring is not None else "")

    # -- reading ---------------------------------------------------------------------------------------

    def _read_file(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {"format": FORMAT, "servers": {}}
        except OSError as exc:
            raise StoreError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        try:
            data = json.loads(text)
        except ValueError:
            raise StoreError(f"{self.path} is not valid JSON; move it away to start over") from None
        if not isinstance(data, dict) or not isinstance(data.get("servers"), dict):
            raise StoreError(f"{self.path} is not a mcp-lambda-proxy credential file")
        return data

    async def read(self, name: str) -> dict[str, Any]:
        """The record for `name` with its secrets under "secrets" ({} when there is none)."""
        record = dict(self._read_file()["servers"].get(name) or {})
        secrets = dict(record.get("secrets") or {})
        if record.get("secrets_in") == "keyring":
            if self._keyring is not None:
                secrets = await anyio.to_thread.run_sync(self._keyring_get, name)
            else:
                log.warning("secrets for %s were stored in an OS keychain that is not available now", name)
                secrets = {}
        record["secrets"] = secrets
        record.pop("secrets_in", None)
        return record

    def _keyring_get(self, name: str) -> dict[str, Any]:
        assert self._keyring is not None
        try:
            raw = self._keyring.get_password(KEYRING_SERVICE, name)
        except Exception as exc:
            log.warning("cannot read the OS keychain (%s); signing in again if needed", type(exc).__name__)
            return {}
        try:
            value = json.loads(raw) if raw else {}
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    # -- writing ---------------------------------------------------------------------------------------

    async def write(self, name: str, record: dict[str, Any]) -> None:
        """Replace the record for `name` (under the lock, which the caller may already hold)."""
        async with self.lock:
            record = dict(record)
            secrets = {k: v for k, v in (record.pop("secrets", None) or {}).items() if k in SECRET_KEYS and v}
            data = self._read_file()
            if self._keyring is not None and await anyio.to_thread.run_sync(self._keyring_set, name, secrets):
                record["secrets_in"] = "keyring"
            elif secrets:
                record["secrets"] = secrets
            record["updated_at"] = time.time()
            data["format"] = FORMAT
            data["servers"][name] = record
            self._write_file(data)

    async def delete(self, name: str) -> bool:
        async with self.lock:
            data = self._read_file()
            existed = data["servers"].pop(name, None) is not None
            if existed:
                self._write_file(data)
            if self._keyring is not None:
                await anyio.to_thread.run_sync(self._keyring_delete, name)
            return existed

    def _keyring_set(self, name: str, secrets: dict[str, Any]) -> bool:
        assert self._keyring is not None
        try:
            if secrets:
                self._keyring.set_password(KEYRING_SERVICE, name, json.dumps(secrets))
            else:
                self._keyring_delete(name)
            return True
        except Exception as exc:  # e.g. a size limit: keep the secrets in the 0600 file instead
            log.warning("cannot write the OS keychain (%s); keeping secrets in %s", type(exc).__name__, self.path)
            return False

    def _keyring_delete(self, name: str) -> None:
        assert self._keyring is not None
        with contextlib.suppress(Exception):
            self._keyring.delete_password(KEYRING_SERVICE, name)

    def _write_file(self, data: dict[str, Any]) -> None:
        ensure_private_directory(self.directory)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        with contextlib.suppress(OSError):
            os.chmod(self.path, 0o600)


    @contextlib.asynccontextmanager
    async def locked(self) -> AsyncIterator[None]:
        async with self.lock:
            yield
